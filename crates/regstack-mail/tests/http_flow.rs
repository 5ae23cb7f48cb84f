//! The mail path end to end through the real HTTP router: a real SMTP server on loopback
//! receives the verification mail whose link completes the registration; a host-supplied
//! mailer and a host template override are each used by the HTTP flow.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use askama::Template;
use async_trait::async_trait;
use regstack_core::mail::{EmailKind, MailContext, MailError, Rendered};
use regstack_core::{EmailMessage, MailComposer, Mailer, RegStack, RegStackConfig};
use regstack_mail::{AskamaComposer, CapturingMailer, MailTheme, token_from_text};
use regstack_store_sqlite::SqliteBackend;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

const PASSWORD: &str = "correct horse battery";
const WAIT: Duration = Duration::from_secs(15);

struct App {
    api: String,
    client: reqwest::Client,
    rs: RegStack,
    server: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn config() -> RegStackConfig {
    RegStackConfig {
        app_name: "MyApp".into(),
        jwt_secret: "http-flow-test-jwt-secret-0123456789-abcdefgh".into(),
        password_hash_memory_kib: 1024,
        password_hash_iterations: 1,
        password_hash_parallelism: 1,
        ..RegStackConfig::default()
    }
}

impl App {
    async fn start(
        mut cfg: RegStackConfig,
        mailer: Arc<dyn Mailer>,
        composer: Arc<dyn MailComposer>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:///{}", dir.path().join("t.db").display());
        cfg.database_url = url.clone().into();
        let rs = RegStack::builder(cfg)
            .backend(Arc::new(SqliteBackend::connect(&url).await.unwrap()))
            .mailer(mailer)
            .sms(Arc::new(regstack_core_sms()))
            .composer(composer)
            .build()
            .unwrap();
        rs.install_schema().await.unwrap();
        let (api, client, server) = support::serve_app(&rs).await;
        Self {
            api,
            client,
            rs,
            server,
            _dir: dir,
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}{path}", self.api))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn register(&self, email: &str) -> u16 {
        self.post(
            "/register",
            &json!({ "email": email, "password": PASSWORD, "full_name": "Alice" }),
        )
        .await
        .0
    }

    async fn login_status(&self, email: &str, password: &str) -> u16 {
        self.post("/login", &json!({ "email": email, "password": password }))
            .await
            .0
    }
}

/// The SMS side is irrelevant here: a sender that accepts everything.
fn regstack_core_sms() -> impl regstack_core::SmsSender {
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
    NoSms
}

#[cfg(feature = "smtp")]
#[tokio::test]
async fn a_real_smtp_server_receives_the_link_that_completes_registration() {
    use regstack_mail::SmtpMailer;
    use support::mime::Entity;
    use support::pki::TestPki;
    use support::smtp_server::{Options, SmtpServer};

    let pki = TestPki::new();
    let server = SmtpServer::start(Options {
        tls: Some(pki.server.clone()),
        auth: Some(("mailer".into(), "smtp-pass".into())),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.email.backend = regstack_core::config::EmailBackend::Smtp;
    cfg.email.from_name = Some("MyApp Accounts".into());
    cfg.email.smtp_host = Some("127.0.0.1".into());
    cfg.email.smtp_port = server.port;
    cfg.email.smtp_ca_file = Some(pki.write_ca(dir.path()));
    cfg.email.smtp_username = Some("mailer".into());
    cfg.email.smtp_password = Some("smtp-pass".into());
    assert_eq!(
        cfg.email.smtp_tls_mode(),
        regstack_core::config::SmtpTls::Starttls,
        "0.9.3's smtp_starttls default"
    );
    let mailer = Arc::new(SmtpMailer::from_config(&cfg.email).unwrap());
    let composer = Arc::new(AskamaComposer::from_config(&cfg));
    let app = App::start(cfg, mailer, composer).await;

    assert_eq!(app.register("alice@example.com").await, 201);
    let got = server.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1, "sent inline before the answer");
    assert!(got[0].tls);
    assert_eq!(got[0].rcpt_to, ["alice@example.com"]);

    let mail = Entity::parse(&got[0].data);
    assert_eq!(
        mail.header("from").unwrap(),
        "\"MyApp Accounts\" <noreply@example.com>",
        "from_name as the display name (quoted: it holds a space)"
    );
    assert_eq!(mail.header("to").unwrap(), "alice@example.com");
    assert_eq!(
        mail.header("subject").unwrap(),
        "Confirm your MyApp account"
    );
    assert_eq!(mail.content_type(), "multipart/alternative");
    let parts = mail.parts();
    let text = parts[0].text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Hi Alice,");
    let link = lines[4].strip_prefix("  ").expect("indented link line");
    assert!(
        link.starts_with("http://localhost:8000/verify?token="),
        "{link}"
    );
    assert!(parts[1].text().contains(&format!("href=\"{link}\"")));
    let token = token_from_text(&text).unwrap();
    assert_eq!(token.len(), 43);

    assert_eq!(app.login_status("alice@example.com", PASSWORD).await, 401);
    let (status, body) = app.post("/verify", &json!({ "token": token })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.login_status("alice@example.com", PASSWORD).await, 200);
    assert_eq!(app.post("/verify", &json!({ "token": token })).await.0, 400);
}

#[cfg(feature = "smtp")]
#[tokio::test]
async fn a_dead_smtp_server_fails_register_but_not_forgot_password() {
    use regstack_mail::SmtpMailer;

    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = config();
    cfg.email.smtp_host = Some("127.0.0.1".into());
    cfg.email.smtp_port = port;
    cfg.email.smtp_starttls = false;
    cfg.email.smtp_timeout_seconds = 2;
    let mailer = Arc::new(SmtpMailer::from_config(&cfg.email).unwrap());
    let mut open = cfg.clone();
    open.require_verification = false;
    let app = App::start(open, mailer, Arc::new(AskamaComposer::default())).await;

    // No mail on this path: the account exists at once.
    assert_eq!(app.register("bob@example.com").await, 201);
    let known = app
        .post("/forgot-password", &json!({ "email": "bob@example.com" }))
        .await;
    let unknown = app
        .post(
            "/forgot-password",
            &json!({ "email": "nobody@example.com" }),
        )
        .await;
    assert_eq!(known.0, 202);
    assert_eq!(known, unknown, "the transport failure does not show");
    assert!(app.rs.wait_background(WAIT).await, "retries are bounded");

    // On register the spec's answer applies: the send is inline and its failure is a 500.
    let strict = App::start(
        cfg.clone(),
        Arc::new(SmtpMailer::from_config(&cfg.email).unwrap()),
        Arc::new(AskamaComposer::default()),
    )
    .await;
    assert_eq!(strict.register("carol@example.com").await, 500);
}

/// A host's own transport: keeps the messages in memory.
#[derive(Debug, Default)]
struct HostOutbox {
    sent: Mutex<Vec<EmailMessage>>,
}

#[async_trait]
impl Mailer for HostOutbox {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        message.check_headers()?;
        self.sent.lock().unwrap().push(message.clone());
        Ok(())
    }
}

#[tokio::test]
async fn a_host_supplied_mailer_carries_the_http_flows() {
    let outbox = Arc::new(HostOutbox::default());
    let app = App::start(
        config(),
        outbox.clone(),
        Arc::new(AskamaComposer::default()),
    )
    .await;

    assert_eq!(app.register("alice@example.com").await, 201);
    let verification = outbox.sent.lock().unwrap()[0].clone();
    assert_eq!(verification.kind, EmailKind::Verification);
    let token = token_from_text(&verification.text).unwrap();
    assert_eq!(app.post("/verify", &json!({ "token": token })).await.0, 200);

    let (status, _) = app
        .post("/forgot-password", &json!({ "email": "alice@example.com" }))
        .await;
    assert_eq!(status, 202);
    assert!(app.rs.wait_background(WAIT).await);
    let reset = outbox.sent.lock().unwrap()[1].clone();
    assert_eq!(reset.kind, EmailKind::PasswordReset);
    assert_eq!(reset.subject, "Reset your MyApp password");
    let token = token_from_text(&reset.text).unwrap();
    let (status, body) = app
        .post(
            "/reset-password",
            &json!({ "token": token, "new_password": "a brand new password" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.login_status("alice@example.com", "a brand new password")
            .await,
        200
    );
}

/// A host's verification mail, written as an askama template of its own.
#[derive(Template)]
#[template(
    source = "Welcome aboard, {{ name }}!\n\nFinish signing up at {{ app }}:\n{{ url }}\n",
    ext = "txt"
)]
struct WelcomeText<'a> {
    name: &'a str,
    app: &'a str,
    url: &'a str,
}

#[derive(Template)]
#[template(
    source = "<p style=\"color: {{ accent }}\">Welcome aboard, {{ name }}! <a href=\"{{ url }}\">Finish signing up</a></p>",
    ext = "html"
)]
struct WelcomeHtml<'a> {
    name: &'a str,
    url: &'a str,
    accent: &'a str,
}

#[tokio::test]
async fn a_host_template_override_is_used_end_to_end() {
    let captured = Arc::new(CapturingMailer::new());
    let composer = AskamaComposer::builder()
        .theme(MailTheme {
            accent: "#0f766e".into(),
            ..MailTheme::default()
        })
        .renderer(
            EmailKind::Verification,
            |ctx: &MailContext<'_>, theme: &MailTheme| {
                let name = if ctx.full_name.is_empty() {
                    "friend"
                } else {
                    ctx.full_name
                };
                Rendered {
                    subject: format!("Welcome to {}!", ctx.app_name),
                    text: WelcomeText {
                        name,
                        app: ctx.app_name,
                        url: ctx.url,
                    }
                    .render()
                    .unwrap(),
                    html: WelcomeHtml {
                        name,
                        url: ctx.url,
                        accent: &theme.accent,
                    }
                    .render()
                    .unwrap(),
                }
            },
        )
        .subject(EmailKind::PasswordReset, |ctx| {
            format!("{} password help", ctx.app_name)
        })
        .build();
    let app = App::start(config(), captured.clone(), Arc::new(composer)).await;

    assert_eq!(app.register("alice@example.com").await, 201);
    let m = captured.wait_for(1, WAIT).await[0].clone();
    assert_eq!(m.subject, "Welcome to MyApp!");
    assert!(m.text.starts_with("Welcome aboard, Alice!\n\nFinish signing up at MyApp:\nhttp://localhost:8000/verify?token="), "{}", m.text);
    assert!(
        m.html
            .starts_with("<p style=\"color: #0f766e\">Welcome aboard, Alice!")
    );
    let token = token_from_text(&m.text).unwrap();
    assert_eq!(app.post("/verify", &json!({ "token": token })).await.0, 200);

    app.post("/forgot-password", &json!({ "email": "alice@example.com" }))
        .await;
    let reset = captured.wait_for(2, WAIT).await[1].clone();
    assert_eq!(reset.subject, "MyApp password help");
    assert!(
        reset.text.starts_with("Hi Alice,\n\nWe received a request"),
        "the bundled body stays: {}",
        reset.text
    );
}
