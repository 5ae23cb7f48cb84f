//! Mail floods against a real SMTP server on loopback, through the real HTTP router: a burst
//! of forgot-password requests for one address sends one message per cooldown, and a burst
//! for many accounts never opens more SMTP sessions at once than `email.max_concurrent_sends`
//! while every message is still delivered.

#![cfg(feature = "smtp")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use regstack_core::{FrozenClock, NewUser, RegStack, RegStackConfig};
use regstack_mail::{AskamaComposer, SmtpMailer};
use regstack_store_sqlite::SqliteBackend;
use serde_json::json;
use support::smtp_server::{Options, SmtpServer};
use tokio::task::{JoinHandle, JoinSet};

const WAIT: Duration = Duration::from_secs(60);
const FORGOT_MSG: &str =
    "If the address matches an active account, a reset link has been sent. Check your email.";

/// A regstack server on loopback whose mail goes to `smtp` (plain SMTP), on a fresh SQLite
/// file and a frozen clock.
struct App {
    api: String,
    client: reqwest::Client,
    rs: RegStack,
    clock: Arc<FrozenClock>,
    server: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Debug)]
struct NoSms;

#[async_trait]
impl regstack_core::SmsSender for NoSms {
    async fn send(
        &self,
        _: &regstack_core::SmsMessage,
    ) -> Result<(), regstack_core::sms::SmsError> {
        Ok(())
    }
}

impl App {
    async fn start(smtp: &SmtpServer, configure: impl FnOnce(&mut RegStackConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:///{}", dir.path().join("t.db").display());
        let mut cfg = RegStackConfig {
            app_name: "MyApp".into(),
            jwt_secret: "flood-smtp-test-jwt-secret-0123456789-abcdefgh".into(),
            database_url: url.clone().into(),
            password_hash_memory_kib: 1024,
            password_hash_iterations: 1,
            password_hash_parallelism: 1,
            ..RegStackConfig::default()
        };
        cfg.email.backend = regstack_core::config::EmailBackend::Smtp;
        cfg.email.smtp_host = Some("127.0.0.1".into());
        cfg.email.smtp_port = smtp.port;
        cfg.email.smtp_starttls = false;
        configure(&mut cfg);
        let clock = Arc::new(FrozenClock::new(
            "2026-05-01T10:20:30Z".parse().expect("an instant"),
        ));
        let rs = RegStack::builder(cfg.clone())
            .backend(Arc::new(SqliteBackend::connect(&url).await.unwrap()))
            .mailer(Arc::new(SmtpMailer::from_config(&cfg.email).unwrap()))
            .sms(Arc::new(NoSms))
            .composer(Arc::new(AskamaComposer::from_config(&cfg)))
            .clock(clock.clone())
            .build()
            .unwrap();
        rs.install_schema().await.unwrap();
        let (api, client, server) = support::serve_app(&rs).await;
        Self {
            api,
            client,
            rs,
            clock,
            server,
            _dir: dir,
        }
    }

    /// An active account without a password (enough for a reset link).
    async fn account(&self, email: &str) {
        let now = regstack_core::Clock::now(&*self.clock);
        self.rs
            .stores()
            .users
            .create(NewUser::new(email, None, now))
            .await
            .unwrap();
    }

    /// `POST /forgot-password` for every address at once; returns the answers.
    async fn forgot_all(&self, emails: Vec<String>) -> Vec<(u16, String)> {
        let mut set = JoinSet::new();
        for email in emails {
            let client = self.client.clone();
            let url = format!("{}/forgot-password", self.api);
            set.spawn(async move {
                let r = client
                    .post(url)
                    .json(&json!({ "email": email }))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            });
        }
        set.join_all().await
    }

    async fn settle(&self) {
        assert!(self.rs.wait_background(WAIT).await, "background mail stuck");
    }
}

#[track_caller]
fn assert_all_accepted(answers: &[(u16, String)]) {
    for (status, text) in answers {
        assert_eq!(*status, 202, "{text}");
        let body: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(body, json!({ "message": FORGOT_MSG }));
    }
}

#[tokio::test]
async fn a_flood_for_one_address_sends_one_message_per_cooldown() {
    let smtp = SmtpServer::start(Options::default()).await;
    let app = App::start(&smtp, |_| {}).await;
    app.account("alice@example.com").await;

    let answers = app
        .forgot_all(vec!["alice@example.com".to_owned(); 300])
        .await;
    assert_eq!(answers.len(), 300);
    assert_all_accepted(&answers);
    app.settle().await;
    let got = smtp.received();
    assert_eq!(got.len(), 1, "one message within the cooldown");
    assert_eq!(got[0].rcpt_to, ["alice@example.com"]);
    assert!(got[0].data.contains("Subject: Reset your MyApp password"));
    assert_eq!(smtp.total_sessions(), 1, "one SMTP session in all");
    let stats = app.rs.mail_stats();
    assert_eq!((stats.sent, stats.suppressed), (1, 299));

    // Still inside the cooldown (60 s): nothing reaches the server.
    app.clock
        .set("2026-05-01T10:21:29Z".parse().expect("an instant"));
    assert_all_accepted(&app.forgot_all(vec!["alice@example.com".to_owned()]).await);
    app.settle().await;
    assert_eq!(smtp.received().len(), 1);

    // Past it: one more.
    app.clock
        .set("2026-05-01T10:21:31Z".parse().expect("an instant"));
    assert_all_accepted(
        &app.forgot_all(vec!["alice@example.com".to_owned(); 50])
            .await,
    );
    app.settle().await;
    assert_eq!(smtp.wait_for(2, WAIT).await.len(), 2);
    assert_eq!(smtp.received().len(), 2, "one per cooldown");
}

#[tokio::test]
async fn many_accounts_never_open_more_sessions_than_max_concurrent_sends() {
    const ACCOUNTS: usize = 12;
    let smtp = SmtpServer::start(Options {
        hold: Some(Duration::from_millis(150)),
        ..Options::default()
    })
    .await;
    let app = App::start(&smtp, |c| c.email.max_concurrent_sends = 2).await;
    let emails: Vec<String> = (0..ACCOUNTS).map(|i| format!("u{i}@example.com")).collect();
    for e in &emails {
        app.account(e).await;
    }

    assert_all_accepted(&app.forgot_all(emails.clone()).await);
    let got = smtp.wait_for(ACCOUNTS, WAIT).await;
    app.settle().await;
    let mut to: Vec<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    to.sort();
    let mut want = emails.clone();
    want.sort();
    assert_eq!(to, want, "every account got its message, once");
    assert_eq!(
        smtp.peak_sessions(),
        2,
        "sessions open at once never exceed email.max_concurrent_sends (and reach it)"
    );
    assert_eq!(smtp.open_sessions(), 0);
    let stats = app.rs.mail_stats();
    assert_eq!(
        (stats.sent, stats.failed, stats.dropped),
        (ACCOUNTS as u64, 0, 0)
    );
}
