//! The null transport's log line: the scraping contract of regstack 0.9.3's mail and SMS texts

mod common;

use common::LogBuffer;
use regstack_core::config::SmsConfig;
use regstack_core::sms::{SmsKind, default_text};
use regstack_core::{SmsMessage, SmsSender};
use regstack_sms::NullSms;

/// What `sign-in code:\s*(?P<code>\d{4,10})` (or the `verification code:` one) captures.
fn scrape<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let rest = line[line.find(marker)? + marker.len()..].trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let code = &rest[..end.min(10)];
    (code.len() >= 4).then_some(code)
}

async fn log_of(log_bodies: bool, message: &SmsMessage) -> Vec<String> {
    let logs = LogBuffer::default();
    let guard = logs.capture();
    let sms = NullSms::from_config(&SmsConfig {
        log_bodies,
        ..SmsConfig::default()
    });
    sms.send(message).await.unwrap();
    drop(guard);
    logs.text().lines().map(|l| l.trim().to_owned()).collect()
}

fn message(kind: SmsKind, code: &str, from: Option<&str>) -> SmsMessage {
    SmsMessage {
        kind,
        to: "+14155552671".into(),
        from: from.map(str::to_owned),
        body: default_text(kind, "RegStack", code, 5),
    }
}

#[tokio::test]
async fn with_log_bodies_the_codes_can_be_scraped() {
    let lines = log_of(true, &message(SmsKind::LoginMfa, "0042917", None)).await;
    assert_eq!(
        lines,
        [
            "INFO regstack.sms.null: [regstack/null-sms] To: +14155552671 | From: (unset) | Body: \
          RegStack sign-in code: 0042917. Expires in 5 minutes. If you didn't try to sign in, \
          ignore this message."
        ]
    );
    assert_eq!(scrape(&lines[0], "sign-in code:"), Some("0042917"));

    let lines = log_of(
        true,
        &message(SmsKind::PhoneSetup, "5551234", Some("+15550001")),
    )
    .await;
    assert_eq!(
        lines,
        [
            "INFO regstack.sms.null: [regstack/null-sms] To: +14155552671 | From: +15550001 | Body: \
          RegStack verification code: 5551234. Expires in 5 minutes."
        ]
    );
    assert_eq!(scrape(&lines[0], "verification code:"), Some("5551234"));
}

#[tokio::test]
async fn without_log_bodies_the_body_is_suppressed() {
    let lines = log_of(
        false,
        &message(SmsKind::LoginMfa, "0042917", Some("+15550001")),
    )
    .await;
    assert_eq!(
        lines,
        [
            "INFO regstack.sms.null: [regstack/null-sms] To: +14155552671 | From: +15550001 | (body suppressed)"
        ]
    );
    assert!(!lines[0].contains("0042917"));
    assert_eq!(scrape(&lines[0], "sign-in code:"), None);
}
