//! The SMTP transport against a real SMTP server on loopback: plaintext, STARTTLS and implicit
//! TLS with a certificate from a throw-away CA, AUTH, timeouts, and what must be refused.

#![cfg(feature = "smtp")]

mod support;

use std::time::{Duration, Instant};

use regstack_core::config::{EmailConfig, SmtpTls};
use regstack_core::mail::{EmailKind, MailError, compose};
use regstack_core::{EmailMessage, Mailer, RegStackConfig};
use regstack_mail::{AskamaComposer, SmtpMailer};
use support::mime::Entity;
use support::pki::TestPki;
use support::smtp_server::{Options, SmtpServer};

const WAIT: Duration = Duration::from_secs(10);
const URL: &str = "http://localhost:8000/verify?token=Jx3-abc_DEF.ghi";

fn email_config(port: u16, tls: SmtpTls) -> EmailConfig {
    EmailConfig {
        smtp_host: Some("127.0.0.1".into()),
        smtp_port: port,
        smtp_tls: Some(tls),
        smtp_timeout_seconds: 10,
        ..EmailConfig::default()
    }
}

/// The error and its sources, for asserting on the cause.
fn chain(e: &MailError) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn message(app_name: &str) -> EmailMessage {
    let cfg = RegStackConfig {
        app_name: app_name.into(),
        ..RegStackConfig::default()
    };
    compose(
        &AskamaComposer::default(),
        &cfg,
        EmailKind::Verification,
        "alice@example.com",
        Some("Alice"),
        URL,
    )
}

#[tokio::test]
async fn plaintext_relay_receives_a_well_formed_multipart_message() {
    let server = SmtpServer::start(Options::default()).await;
    let mailer = SmtpMailer::from_config(&email_config(server.port, SmtpTls::None)).unwrap();
    let sent = message("MyApp");
    mailer.send(&sent).await.unwrap();

    let got = server.received();
    assert_eq!(got.len(), 1, "delivered inline, one connection");
    let r = &got[0];
    assert_eq!(r.mail_from, "noreply@example.com");
    assert_eq!(r.rcpt_to, ["alice@example.com"]);
    assert!(!r.tls);

    let mail = Entity::parse(&r.data);
    assert_eq!(mail.header("from").unwrap(), "MyApp <noreply@example.com>");
    assert_eq!(mail.header("to").unwrap(), "alice@example.com");
    assert_eq!(
        mail.header("subject").unwrap(),
        "Confirm your MyApp account"
    );
    assert!(mail.header("date").is_some());
    assert!(mail.header_all("bcc").is_empty());
    assert_eq!(mail.content_type(), "multipart/alternative");
    let parts = mail.parts();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0].content_type(), "text/plain");
    assert_eq!(parts[0].param("charset").unwrap().to_lowercase(), "utf-8");
    assert_eq!(parts[1].content_type(), "text/html");
    let text = parts[0].text();
    assert_eq!(text, sent.text.trim_end_matches('\n'));
    assert!(text.contains(&format!("\n\n  {URL}\n\n")), "{text}");
    assert_eq!(parts[1].text(), sent.html.trim_end_matches('\n'));
}

#[tokio::test]
async fn starttls_with_a_private_ca_and_auth() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(Options {
        tls: Some(pki.server.clone()),
        auth: Some(("mailer".into(), "s3cret pass".into())),
        ..Options::default()
    })
    .await;
    let mut cfg = email_config(server.port, SmtpTls::Starttls);
    cfg.smtp_ca_file = Some(pki.write_ca(dir.path()));
    cfg.smtp_username = Some("mailer".into());
    cfg.smtp_password = Some("s3cret pass".into());
    let mailer = SmtpMailer::from_config(&cfg).unwrap();
    assert!(!format!("{mailer:?}").contains("s3cret"));
    mailer.send(&message("MyApp")).await.unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls, "the message went over the upgraded connection");
    assert_eq!(got[0].user.as_deref(), Some("mailer"));

    cfg.smtp_password = Some("wrong".into());
    let wrong = SmtpMailer::from_config(&cfg).unwrap();
    let err = wrong.send(&message("MyApp")).await.unwrap_err();
    assert!(chain(&err).contains("535"), "{}", chain(&err));
    assert!(!chain(&err).contains("wrong"), "no password in errors");
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn implicit_tls() {
    let pki = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer::start(Options {
        tls: Some(pki.server.clone()),
        implicit_tls: true,
        ..Options::default()
    })
    .await;
    let mut cfg = email_config(server.port, SmtpTls::Tls);
    cfg.smtp_ca_file = Some(pki.write_ca(dir.path()));
    SmtpMailer::from_config(&cfg)
        .unwrap()
        .send(&message("MyApp"))
        .await
        .unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls);
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let pki = TestPki::new();
    let server = SmtpServer::start(Options {
        tls: Some(pki.server.clone()),
        ..Options::default()
    })
    .await;
    let mailer = SmtpMailer::from_config(&email_config(server.port, SmtpTls::Starttls)).unwrap();
    let err = mailer.send(&message("MyApp")).await.unwrap_err();
    assert!(
        chain(&err).contains("invalid peer certificate"),
        "{}",
        chain(&err)
    );

    let other = TestPki::new();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = email_config(server.port, SmtpTls::Starttls);
    cfg.smtp_ca_file = Some(other.write_ca(dir.path()));
    let err = SmtpMailer::from_config(&cfg)
        .unwrap()
        .send(&message("MyApp"))
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("invalid peer certificate"),
        "{}",
        chain(&err)
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn starttls_is_required_never_skipped() {
    let server = SmtpServer::start(Options::default()).await;
    let mailer = SmtpMailer::from_config(&email_config(server.port, SmtpTls::Starttls)).unwrap();
    let err = mailer.send(&message("MyApp")).await.unwrap_err();
    assert!(chain(&err).contains("STARTTLS"), "{}", chain(&err));
    assert!(server.received().is_empty(), "no plaintext fallback");
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let server = SmtpServer::start(Options {
        silent: true,
        ..Options::default()
    })
    .await;
    let mut cfg = email_config(server.port, SmtpTls::None);
    cfg.smtp_timeout_seconds = 1;
    let mailer = SmtpMailer::from_config(&cfg).unwrap();
    let started = Instant::now();
    let err = mailer.send(&message("MyApp")).await.unwrap_err();
    assert!(chain(&err).contains("timed out"), "{}", chain(&err));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn header_injection_is_refused_before_anything_is_sent() {
    let server = SmtpServer::start(Options::default()).await;
    let mailer = SmtpMailer::from_config(&email_config(server.port, SmtpTls::None)).unwrap();
    let mut m = message("MyApp");
    m.subject = "Hello\r\nBcc: victim@example.com".into();
    assert!(matches!(
        mailer.send(&m).await,
        Err(MailError::InvalidHeader("subject"))
    ));
    let mut m = message("MyApp");
    m.to = "alice@example.com\nBcc: victim@example.com".into();
    assert!(matches!(
        mailer.send(&m).await,
        Err(MailError::InvalidHeader("to"))
    ));
    let mut m = message("MyApp");
    m.to = "not an address".into();
    assert!(matches!(
        mailer.send(&m).await,
        Err(MailError::InvalidAddress("to"))
    ));
    let _ = server.wait_for(1, Duration::from_millis(200)).await;
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn non_ascii_names_and_subjects_are_encoded() {
    let server = SmtpServer::start(Options::default()).await;
    let mailer = SmtpMailer::from_config(&email_config(server.port, SmtpTls::None)).unwrap();
    mailer.send(&message("Café Ünïcode")).await.unwrap();
    let got = server.wait_for(1, WAIT).await;
    assert!(got[0].data.is_ascii(), "headers are RFC 2047 encoded");
    let mail = Entity::parse(&got[0].data);
    assert_eq!(
        mail.header("subject").unwrap(),
        "Confirm your Café Ünïcode account"
    );
    assert!(mail.header("from").unwrap().contains("Café Ünïcode"));
    assert!(mail.parts()[0].text().contains("Café Ünïcode"));
}

#[test]
fn settings_that_cannot_work_fail_at_start_up() {
    let mut cfg = email_config(25, SmtpTls::Starttls);
    cfg.smtp_host = Some("  ".into());
    let err = SmtpMailer::from_config(&cfg).unwrap_err();
    assert_eq!(err.field(), "email.smtp_host");

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = email_config(25, SmtpTls::Starttls);
    cfg.smtp_ca_file = Some(dir.path().join("missing.pem"));
    let err = SmtpMailer::from_config(&cfg).unwrap_err();
    assert_eq!(err.field(), "email.smtp_ca_file");
    assert!(
        err.to_string().contains("(REGSTACK_EMAIL__SMTP_CA_FILE)"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    cfg.smtp_ca_file = Some(garbage);
    assert_eq!(
        SmtpMailer::from_config(&cfg).unwrap_err().field(),
        "email.smtp_ca_file"
    );
}
