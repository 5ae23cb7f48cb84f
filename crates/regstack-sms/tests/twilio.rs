//! The Twilio transport against a loopback stand-in for the Messages API.

mod common;

use std::error::Error as _;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use base64::Engine as _;
use common::{FakeServer, LogBuffer, Reply};
use regstack_core::config::{SmsBackend, SmsConfig};
use regstack_core::sms::{SmsError, SmsKind, default_text};
use regstack_core::{SmsMessage, SmsSender};
use regstack_sms::{Error, TwilioSms};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token-do-not-log";

fn created() -> Reply {
    Reply {
        status: StatusCode::CREATED,
        content_type: "application/json",
        body: r#"{"sid": "SM00000000000000000000000000000001", "status": "queued"}"#.into(),
        delay: Duration::ZERO,
    }
}

fn config(base_url: &str) -> SmsConfig {
    SmsConfig {
        backend: SmsBackend::Twilio,
        from_number: Some("+15550001111".into()),
        twilio_account_sid: Some(SID.into()),
        twilio_auth_token: Some(TOKEN.into()),
        twilio_base_url: base_url.into(),
        timeout_seconds: 1,
        ..SmsConfig::default()
    }
}

fn message(from: Option<&str>) -> SmsMessage {
    SmsMessage {
        kind: SmsKind::LoginMfa,
        to: "+447700900123".into(),
        from: from.map(str::to_owned),
        body: default_text(SmsKind::LoginMfa, "Café & Co", "482913", 5),
    }
}

/// The transport error behind a failed send.
fn transport_error(err: SmsError) -> Error {
    match err {
        SmsError::Transport(source) => *source.downcast::<Error>().expect("a regstack_sms::Error"),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// Every message of an error and its sources.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(" / ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn posts_the_messages_api_form_with_basic_auth() {
    let server = FakeServer::start(created()).await;
    let twilio = TwilioSms::from_config(&config(&server.url)).unwrap();
    let logs = LogBuffer::default();
    let guard = logs.capture();
    twilio.send(&message(Some("+15550001111"))).await.unwrap();
    drop(guard);

    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, Method::POST);
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(req.query, None);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(req.header("authorization"), format!("Basic {basic}"));
    assert_eq!(
        req.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        req.form(),
        vec![
            ("To".to_owned(), "+447700900123".to_owned()),
            ("From".to_owned(), "+15550001111".to_owned()),
            (
                "Body".to_owned(),
                "Café & Co sign-in code: 482913. Expires in 5 minutes. If you didn't try to \
                 sign in, ignore this message."
                    .to_owned()
            ),
        ]
    );

    // Nothing secret in any log line, at any level, from any crate.
    let text = logs.text();
    assert!(text.contains("sms accepted by twilio"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!text.contains(&basic), "{text}");
    assert!(!text.contains("482913"), "{text}");
}

#[tokio::test]
async fn from_falls_back_to_the_configured_number_and_base_paths_are_kept() {
    let server = FakeServer::start(created()).await;
    let mut cfg = config(&format!("{}/proxy/twilio/", server.url));
    cfg.from_number = Some("+15559998888".into());
    let twilio = TwilioSms::from_config(&cfg).unwrap();

    twilio.send(&message(None)).await.unwrap();
    twilio.send(&message(Some("+15550002222"))).await.unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].path,
        format!("/proxy/twilio/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(seen[0].field("From").as_deref(), Some("+15559998888"));
    assert_eq!(
        seen[1].field("From").as_deref(),
        Some("+15550002222"),
        "the message's own sender wins"
    );
}

#[tokio::test]
async fn a_refusal_carries_status_and_twilio_error_but_never_the_token() {
    let server = FakeServer::start(Reply {
        status: StatusCode::UNAUTHORIZED,
        content_type: "application/json",
        body: r#"{"code": 20003, "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#.into(),
        delay: Duration::ZERO,
    })
    .await;
    let twilio = TwilioSms::from_config(&config(&server.url)).unwrap();
    let err = twilio.send(&message(None)).await.unwrap_err();
    assert!(chain(&err).starts_with("sms transport failed / twilio answered HTTP 401"));
    let err = transport_error(err);
    assert!(
        matches!(&err, Error::Rejected { provider: "twilio", status: 401, detail } if detail == "error 20003: Authenticate"),
        "{err:?}"
    );
    assert!(!format!("{err:?} {err}").contains(TOKEN));

    server.set_reply(Reply {
        status: StatusCode::BAD_GATEWAY,
        content_type: "text/html",
        body: "<html>upstream down</html>".into(),
        delay: Duration::ZERO,
    });
    let err = transport_error(twilio.send(&message(None)).await.unwrap_err());
    assert_eq!(err.to_string(), "twilio answered HTTP 502: Bad Gateway");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let server = FakeServer::start(Reply {
        delay: Duration::from_secs(5),
        ..created()
    })
    .await;
    let twilio = TwilioSms::from_config(&config(&server.url)).unwrap();
    let started = std::time::Instant::now();
    let err = transport_error(twilio.send(&message(None)).await.unwrap_err());
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        matches!(
            err,
            Error::Request {
                provider: "twilio",
                ..
            }
        ),
        "{err:?}"
    );
    let source = err.source().unwrap();
    assert!(
        source
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout),
        "{source:?}"
    );
}

#[tokio::test]
async fn an_unreachable_api_is_a_request_error() {
    // Bind then drop: nothing listens on the port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let twilio = TwilioSms::from_config(&config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let err = transport_error(twilio.send(&message(None)).await.unwrap_err());
    assert!(
        matches!(
            err,
            Error::Request {
                provider: "twilio",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!chain(&err).contains(TOKEN));
}

#[tokio::test]
async fn non_e164_recipients_are_refused_before_any_request() {
    let server = FakeServer::start(created()).await;
    let twilio = TwilioSms::from_config(&config(&server.url)).unwrap();
    for to in ["07700900123", "+0123", "+44 7700 900123", ""] {
        let msg = SmsMessage {
            to: to.into(),
            ..message(None)
        };
        assert!(matches!(
            twilio.send(&msg).await,
            Err(SmsError::InvalidNumber)
        ));
    }
    assert!(server.requests().is_empty());
}

#[test]
fn settings_are_checked_and_the_token_is_not_printed() {
    let full = config("https://api.twilio.com");
    let twilio = TwilioSms::from_config(&full).unwrap();
    let debug = format!("{twilio:?}");
    assert!(debug.starts_with("TwilioSms"), "{debug}");
    assert!(debug.contains(&format!(
        "https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
    )));
    assert!(!debug.contains(TOKEN), "{debug}");

    let missing = |f: fn(&mut SmsConfig)| {
        let mut c = full.clone();
        f(&mut c);
        TwilioSms::from_config(&c).unwrap_err().to_string()
    };
    assert_eq!(
        missing(|c| c.twilio_account_sid = None),
        "`sms.twilio_account_sid` is required for the twilio sms backend"
    );
    assert_eq!(
        missing(|c| c.twilio_auth_token = Some("".into())),
        "`sms.twilio_auth_token` is required for the twilio sms backend"
    );
    assert_eq!(
        missing(|c| c.from_number = Some(" ".into())),
        "`sms.from_number` is required for the twilio sms backend"
    );
    assert!(
        missing(|c| c.twilio_base_url = "not a url".into()).starts_with("`sms.twilio_base_url`")
    );
    assert!(missing(|c| c.twilio_base_url = "ftp://x".into()).starts_with("`sms.twilio_base_url`"));
}
