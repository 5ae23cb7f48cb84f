//! Many simultaneous registrations on one SQLite file: no 5xx, no "database is locked", and
//! the upsert-by-email keeps exactly one pending row per address.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use regstack_core::token::sha256_hex;
use regstack_e2e::{PASSWORD, Resp, TestApp, token_from_text};
use serde_json::json;

/// Every WARN-or-worse log line of this test binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        // The capture itself works (otherwise the checks below would prove nothing).
        tracing::warn!(target: "regstack.e2e", "log capture probe");
        assert!(String::from_utf8_lossy(&buf.lock().unwrap()).contains("log capture probe"));
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[track_caller]
fn assert_clean(answers: &[Resp], logs: &Arc<Mutex<Vec<u8>>>) {
    for r in answers {
        assert!(r.status < 500, "{} {}", r.status, r.text);
        assert!(!r.text.contains("locked"), "{}", r.text);
    }
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(!text.contains("database is locked"), "{text}");
    assert!(!text.contains("request failed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_email_registered_100_times_at_once() {
    let logs = captured_logs();
    let app = TestApp::start(|_| {}).await;
    let app = &app;
    let answers = futures::future::join_all((0..100).map(|i| async move {
        let body = json!({"email": "same@example.com", "password": PASSWORD, "full_name": format!("n{i}")});
        app.post("/register", &body).await
    }))
    .await;
    assert_clean(&answers, &logs);
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json()["email"], "same@example.com");
    }
    assert_eq!(app.pending_count().await, 1);
    assert_eq!(app.user_count().await, 0);

    // Registrations inside the mail cooldown that find the row keep its mailed link and send
    // nothing; the others (still racing the first insert) mail their own. Of the links sent,
    // exactly the one whose row won works.
    let mails = app.mailer.messages();
    assert!((1..=100).contains(&mails.len()), "{}", mails.len());
    let row = app
        .rs
        .stores()
        .pending
        .find_by_email("same@example.com")
        .await
        .unwrap()
        .unwrap();
    let tokens: Vec<String> = mails
        .iter()
        .map(|m| token_from_text(&m.text).unwrap())
        .collect();
    let winners: Vec<&String> = tokens
        .iter()
        .filter(|t| sha256_hex(t) == row.token_hash)
        .collect();
    assert_eq!(winners.len(), 1);
    for loser in tokens.iter().filter(|t| *t != winners[0]).take(3) {
        app.verify(loser).await.assert_detail(
            400,
            "Verification link is invalid or has expired. Request a new one.",
        );
    }
    let r = app.verify(winners[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["full_name"], row.full_name.unwrap());
    assert_eq!(app.user_count().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distinct_emails_registered_100_at_once() {
    let logs = captured_logs();
    let app = TestApp::start(|_| {}).await;
    let app = &app;
    let answers = futures::future::join_all((0..100).map(|i| async move {
        app.register(&format!("user{i}@example.com"), PASSWORD)
            .await
    }))
    .await;
    assert_clean(&answers, &logs);
    for r in &answers {
        assert_eq!(r.status, 201, "{}", r.text);
    }
    assert_eq!(app.pending_count().await, 100);
    assert_eq!(app.mailer.messages().len(), 100);

    // And the same again while verifying and logging in concurrently.
    let tokens: Vec<String> = (0..100)
        .map(|i| app.last_token_for(&format!("user{i}@example.com")))
        .collect();
    let verified = futures::future::join_all(tokens.iter().map(|t| app.verify(t))).await;
    assert_clean(&verified, &logs);
    assert!(verified.iter().all(|r| r.status == 200));
    assert_eq!(app.user_count().await, 100);
    assert_eq!(app.pending_count().await, 0);
    let logins = futures::future::join_all((0..100).map(|i| async move {
        let password = if i % 2 == 0 {
            PASSWORD
        } else {
            "wrong password"
        };
        app.login(&format!("user{i}@example.com"), password).await
    }))
    .await;
    assert_clean(&logins, &logs);
    for (i, r) in logins.iter().enumerate() {
        assert_eq!(r.status, if i % 2 == 0 { 200 } else { 401 }, "{}", r.text);
    }
}
