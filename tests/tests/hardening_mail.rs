//! The hardening of mail and account input, over the real HTTP surface: change-email answers
//! alike (status, body and time) whether the address is taken and whatever the transport does;
//! the per-recipient cooldown, the bounded queue and its drops; the notices of ASVS 2.2.3;
//! `full_name` without control or bidirectional characters; the security events and
//! `Cache-Control: no-store` on token answers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use futures::future::{BoxFuture, join_all};
use regstack_core::mail::MailError;
use regstack_core::{EmailKind, EmailMessage, Event, Mailer, UserPatch};
use regstack_e2e::{PASSWORD, Resp, TestApp, token_from_text};
use regstack_mail::CapturingMailer;
use serde_json::{Value, json};
use tokio::sync::{RwLock, watch};

/// The timing test takes this for writing, every other test for reading: no other test of this
/// file loads the machine while latencies are measured.
static MACHINE: RwLock<()> = RwLock::const_new(());

const FORGOT_MSG: &str =
    "If the address matches an active account, a reset link has been sent. Check your email.";
const RESEND_MSG: &str = "If a pending registration exists, a new email has been sent.";
const CHANGE_EMAIL_MSG: &str =
    "If the address is available, a confirmation link has been sent. Check your email.";

async fn authed(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Resp {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    app.send(req).await
}

/// Captured messages of `kind` sent to `to`.
fn mails(app: &TestApp, kind: EmailKind, to: &str) -> Vec<EmailMessage> {
    app.mailer
        .messages()
        .into_iter()
        .filter(|m| m.kind == kind && m.to == to)
        .collect()
}

/// A transport that takes `delay` per message, then hands it to a capture.
#[derive(Debug)]
struct SlowMailer {
    delay: StdDuration,
    inner: Arc<CapturingMailer>,
}

impl Mailer for SlowMailer {
    fn send<'life0, 'life1, 'async_trait>(
        &'life0 self,
        message: &'life1 EmailMessage,
    ) -> BoxFuture<'async_trait, Result<(), MailError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            self.inner.send(message).await
        })
    }
}

/// A transport that holds every message until [`GatedMailer::release`], then hands it to a
/// capture.
#[derive(Debug)]
struct GatedMailer {
    open: watch::Sender<bool>,
    entered: AtomicUsize,
    inner: Arc<CapturingMailer>,
}

impl GatedMailer {
    fn new(inner: Arc<CapturingMailer>) -> Self {
        Self {
            open: watch::Sender::new(false),
            entered: AtomicUsize::new(0),
            inner,
        }
    }

    fn release(&self) {
        self.open.send_replace(true);
    }

    /// Wait (bounded) until `n` messages are inside the transport.
    async fn wait_entered(&self, n: usize) -> usize {
        for _ in 0..1000 {
            if self.entered.load(Ordering::SeqCst) >= n {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
        }
        self.entered.load(Ordering::SeqCst)
    }
}

impl Mailer for GatedMailer {
    fn send<'life0, 'life1, 'async_trait>(
        &'life0 self,
        message: &'life1 EmailMessage,
    ) -> BoxFuture<'async_trait, Result<(), MailError>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move {
            self.entered.fetch_add(1, Ordering::SeqCst);
            let mut open = self.open.subscribe();
            let _ = open.wait_for(|o| *o).await;
            self.inner.send(message).await
        })
    }
}

fn median(samples: &[StdDuration]) -> StdDuration {
    let mut s = samples.to_vec();
    s.sort();
    s[s.len() / 2]
}

/// What one run of the change-email timing measured.
struct Timing {
    taken: StdDuration,
    free: StdDuration,
    /// Samples per case.
    n: usize,
    /// One answer of each case (all others are identical to it).
    taken_answer: (u16, String),
    free_answer: (u16, String),
}

/// Requests per sample: a sample is the fastest of this many back-to-back requests of one case
/// (other processes on the machine only ever add time, in bursts).
const PER_SAMPLE: usize = 3;
/// Samples per case in one round of the timing test.
const ROUND: usize = 21;
/// Rounds at most: a round more is taken while the medians so far are not clearly alike
/// (ratio outside 0.95..=1.05), so a loaded machine costs time, not a false failure.
const MAX_ROUNDS: usize = 5;

/// The change-email address of request `k` of sample `id` of a case.
fn address(taken: bool, id: usize, k: usize) -> String {
    let case = if taken { "taken" } else { "free" };
    format!("{case}{id}.{k}@example.com")
}

/// One sample of a case: the fastest of [`PER_SAMPLE`] change-email requests, each to an
/// address of its own (so the cooldown never short-cuts one).
async fn change_email_sample(
    app: &TestApp,
    token: &str,
    taken: bool,
    id: usize,
    answers: &mut Vec<(bool, Resp)>,
) -> StdDuration {
    let mut fastest = StdDuration::MAX;
    for k in 0..PER_SAMPLE {
        let body = json!({"new_email": address(taken, id, k), "current_password": PASSWORD});
        let started = Instant::now();
        let r = authed(
            app,
            reqwest::Method::POST,
            "/change-email",
            token,
            Some(body),
        )
        .await;
        fastest = fastest.min(started.elapsed());
        answers.push((taken, r));
    }
    fastest
}

/// Samples of change-email to taken and to free addresses, the cases alternating (ABBA) in one
/// run, in rounds of [`ROUND`] per case. With `slow`, each message takes 300 ms in the
/// transport; otherwise the transport fails.
async fn change_email_timing(slow: bool) -> Timing {
    const WARM_UP: usize = 2;
    let app = TestApp::start(|c| {
        // Real Argon2 of modest cost (OWASP's minimum for Argon2id), at normal priority: the
        // one verification of the current password dominates the answer's time.
        c.password_hash_memory_kib = 19_456;
        c.password_hash_iterations = 2;
        c.password_hash_parallelism = 1;
        c.password_hash_nice = 0;
    })
    .await;
    let token = app.signup_and_login("owner@example.com", PASSWORD).await;
    let capture = Arc::new(CapturingMailer::new());
    if slow {
        app.rs.set_mailer(Arc::new(SlowMailer {
            delay: StdDuration::from_millis(300),
            inner: capture.clone(),
        }));
    } else {
        app.mailer.set_failing(true);
    }
    let before = app.rs.mail_stats();

    let mut taken = Vec::new();
    let mut free = Vec::new();
    let mut answers: Vec<(bool, Resp)> = Vec::new();
    let mut next_id = 0;
    for round in 0..MAX_ROUNDS {
        let count = if round == 0 { WARM_UP + ROUND } else { ROUND };
        let ids = next_id..next_id + count;
        next_id += count;
        for id in ids.clone() {
            for k in 0..PER_SAMPLE {
                app.create_user(&address(true, id, k), None, |_| {}).await;
            }
        }
        for id in ids {
            let order = if id % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for is_taken in order {
                let took = change_email_sample(&app, &token, is_taken, id, &mut answers).await;
                if id >= WARM_UP {
                    if is_taken {
                        taken.push(took);
                    } else {
                        free.push(took);
                    }
                }
            }
        }
        let ratio = median(&taken).as_secs_f64() / median(&free).as_secs_f64();
        if (0.95..=1.05).contains(&ratio) {
            break;
        }
    }
    let first = &answers[0].1;
    for (is_taken, r) in &answers {
        assert_eq!(r.status, 202, "taken={is_taken}: {}", r.text);
        assert_eq!(r.json(), json!({"message": CHANGE_EMAIL_MSG}));
        assert_eq!(r.text, first.text, "taken={is_taken}");
        assert_eq!(
            r.header("content-length"),
            first.header("content-length"),
            "taken={is_taken}"
        );
    }

    // The look-ups and sends did happen, after the answers.
    app.settle().await;
    let stats = app.rs.mail_stats();
    let per_case = (next_id * PER_SAMPLE) as u64;
    assert_eq!(stats.queued - before.queued, 2 * per_case);
    assert_eq!(stats.suppressed, before.suppressed);
    if slow {
        let sent = capture.messages();
        assert_eq!(sent.len() as u64, per_case, "one link per free address");
        assert!(sent.iter().all(|m| m.to.starts_with("free")), "{sent:?}");
        assert_eq!(stats.sent - before.sent, per_case);
    } else {
        assert_eq!(
            stats.failed - before.failed,
            per_case,
            "every free address's link failed after its retries"
        );
    }
    let pick = |t: bool| {
        let r = &answers
            .iter()
            .find(|(is_taken, _)| *is_taken == t)
            .unwrap()
            .1;
        (r.status, r.text.clone())
    };
    Timing {
        taken: median(&taken),
        free: median(&free),
        n: taken.len(),
        taken_answer: pick(true),
        free_answer: pick(false),
    }
}

#[tokio::test]
async fn change_email_answers_alike_for_taken_and_free_addresses_whatever_the_transport() {
    let _machine = MACHINE.write().await;
    let slow = change_email_timing(true).await;
    let failing = change_email_timing(false).await;
    let mut answers = Vec::new();
    for (name, t) in [("slow transport", &slow), ("failing transport", &failing)] {
        let ratio = t.taken.as_secs_f64() / t.free.as_secs_f64();
        eprintln!(
            "change-email, {name}: median taken {:?}, median free {:?}, ratio {ratio:.3} \
             (n = {} samples per case, each the fastest of {PER_SAMPLE})",
            t.taken, t.free, t.n
        );
        assert!(
            (0.9..=1.1).contains(&ratio),
            "{name}: taken {:?} vs free {:?} (ratio {ratio:.3}, n = {})",
            t.taken,
            t.free,
            t.n
        );
        answers.push(t.taken_answer.clone());
        answers.push(t.free_answer.clone());
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "the four cases answer alike: {answers:?}"
    );
}

#[tokio::test]
async fn a_flood_of_forgot_password_requests_sends_one_mail_per_cooldown() {
    let _machine = MACHINE.read().await;
    let app = TestApp::start(|_| {}).await;
    app.register_verified("alice@example.com", PASSWORD).await;
    let before = app.rs.mail_stats();
    let forgot = {
        let app = &app;
        move || async move {
            app.post("/forgot-password", &json!({"email": "alice@example.com"}))
                .await
        }
    };

    let answers = join_all((0..300).map(|_| forgot())).await;
    for r in &answers {
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json(), json!({"message": FORGOT_MSG}));
    }
    app.settle().await;
    let resets = mails(&app, EmailKind::PasswordReset, "alice@example.com");
    assert_eq!(resets.len(), 1, "one mail within the cooldown");
    let stats = app.rs.mail_stats();
    assert_eq!(stats.suppressed - before.suppressed, 299);
    assert_eq!(stats.queued - before.queued, 1);
    assert_eq!(stats.sent - before.sent, 1);
    assert_eq!(stats.dropped, before.dropped);

    // Still within the cooldown (60 s by default): nothing more.
    app.advance(Duration::seconds(59));
    assert_eq!(forgot().await.status, 202);
    app.settle().await;
    assert_eq!(
        mails(&app, EmailKind::PasswordReset, "alice@example.com").len(),
        1
    );
    assert_eq!(app.rs.mail_stats().suppressed - before.suppressed, 300);

    // Once it has passed, one more mail.
    app.advance(Duration::seconds(1) + Duration::milliseconds(1));
    assert_eq!(forgot().await.status, 202);
    app.settle().await;
    let resets = mails(&app, EmailKind::PasswordReset, "alice@example.com");
    assert_eq!(resets.len(), 2);
    // The newest link works.
    let token = token_from_text(&resets[1].text).unwrap();
    app.advance(Duration::seconds(1));
    let r = app
        .post(
            "/reset-password",
            &json!({"token": token, "new_password": "a brand new secret"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_flood_of_resend_verification_requests_sends_one_mail_and_keeps_its_link() {
    let _machine = MACHINE.read().await;
    let app = TestApp::start(|_| {}).await;
    let email = "pat@example.com";
    assert_eq!(app.register(email, PASSWORD).await.status, 201);
    let registration_link = app.last_token_for(email);
    // The registration's own mail started the cooldown; the flood comes after it.
    app.advance(Duration::seconds(61));
    let before = app.rs.mail_stats();
    let resend = {
        let app = &app;
        move || async move {
            app.post("/resend-verification", &json!({"email": email}))
                .await
        }
    };
    let pending_hash = || async {
        app.rs
            .stores()
            .pending
            .find_by_email(email)
            .await
            .unwrap()
            .expect("pending row")
            .token_hash
    };

    let answers = join_all((0..300).map(|_| resend())).await;
    for r in &answers {
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json(), json!({"message": RESEND_MSG}));
    }
    app.settle().await;
    let sent = mails(&app, EmailKind::Verification, email);
    assert_eq!(sent.len(), 2, "the registration's mail and one resend");
    let stats = app.rs.mail_stats();
    assert_eq!(stats.suppressed - before.suppressed, 299);
    assert_eq!(stats.queued - before.queued, 1);
    let mailed = token_from_text(&sent[1].text).unwrap();
    // The suppressed requests rotated nothing: the stored token is the one mailed.
    assert_eq!(
        pending_hash().await,
        regstack_core::token::sha256_hex(&mailed)
    );
    // The one resend replaced the registration's link.
    assert_ne!(mailed, registration_link);

    app.advance(Duration::seconds(59));
    assert_eq!(resend().await.status, 202);
    app.settle().await;
    assert_eq!(mails(&app, EmailKind::Verification, email).len(), 2);
    assert_eq!(
        pending_hash().await,
        regstack_core::token::sha256_hex(&mailed),
        "within the cooldown the mailed link stays the valid one"
    );

    app.advance(Duration::seconds(1) + Duration::milliseconds(1));
    assert_eq!(resend().await.status, 202);
    app.settle().await;
    let sent = mails(&app, EmailKind::Verification, email);
    assert_eq!(sent.len(), 3, "one more once the cooldown has passed");
    let newest = token_from_text(&sent[2].text).unwrap();
    for old in [&registration_link, &mailed] {
        app.verify(old).await.assert_detail(
            400,
            "Verification link is invalid or has expired. Request a new one.",
        );
    }
    let v = app.verify(&newest).await;
    assert_eq!(v.status, 200, "{}", v.text);
}

#[tokio::test]
async fn a_full_queue_drops_answers_alike_and_delivers_what_it_queued() {
    let _machine = MACHINE.read().await;
    let app = TestApp::start(|c| c.email.queue_capacity = 3).await;
    let emails: Vec<String> = (0..20).map(|i| format!("q{i}@example.com")).collect();
    for e in &emails {
        app.create_user(e, None, |_| {}).await;
    }
    let capture = Arc::new(CapturingMailer::new());
    let gate = Arc::new(GatedMailer::new(capture.clone()));
    app.rs.set_mailer(gate.clone());
    let before = app.rs.mail_stats();

    let answers = {
        let app = &app;
        join_all(
            emails
                .iter()
                .map(|e| async move { app.post("/forgot-password", &json!({"email": e})).await }),
        )
        .await
    };
    for r in &answers {
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json(), json!({"message": FORGOT_MSG}));
    }
    assert!(answers.iter().all(|r| r.text == answers[0].text));
    let stats = app.rs.mail_stats();
    assert_eq!(stats.queued - before.queued, 3, "the queue holds three");
    assert_eq!(stats.dropped - before.dropped, 17, "the rest is dropped");
    assert_eq!(gate.wait_entered(3).await, 3);
    // The server is still serving while the transport is stuck.
    let health = app
        .send(app.client.get(format!("{}/healthz", app.base)))
        .await;
    assert_eq!(health.status, 200, "{}", health.text);

    gate.release();
    app.settle().await;
    let delivered = capture.messages();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert!(
        delivered
            .iter()
            .all(|m| m.kind == EmailKind::PasswordReset && emails.contains(&m.to))
    );
    let stats = app.rs.mail_stats();
    assert_eq!(stats.sent - before.sent, 3);
    assert_eq!(stats.failed, before.failed);

    // A dropped request did not start its recipient's cooldown: asking again sends.
    let dropped = emails
        .iter()
        .find(|e| delivered.iter().all(|m| &m.to != *e))
        .unwrap();
    assert_eq!(
        app.post("/forgot-password", &json!({"email": dropped}))
            .await
            .status,
        202
    );
    // A delivered one did.
    let served = delivered[0].to.clone();
    assert_eq!(
        app.post("/forgot-password", &json!({"email": served}))
            .await
            .status,
        202
    );
    app.settle().await;
    let delivered = capture.messages();
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    assert_eq!(&delivered[3].to, dropped);
    assert_eq!(
        app.rs.mail_stats().suppressed - before.suppressed,
        1,
        "the delivered recipient is within its cooldown"
    );
}

/// A notice carries no link and no credential.
#[track_caller]
fn assert_notice(m: &EmailMessage, subject: &str) {
    assert_eq!(m.subject, subject);
    for body in [&m.text, &m.html] {
        for needle in ["token", "http://", "https://", "eyJ"] {
            assert!(!body.contains(needle), "{needle:?} in {body}");
        }
    }
    assert!(!m.html.contains("<a "), "{}", m.html);
}

#[tokio::test]
async fn the_account_address_is_told_of_password_and_email_changes() {
    let _machine = MACHINE.read().await;
    let app = TestApp::start(|_| {}).await;
    let email = "alice@example.com";
    let t = app.signup_and_login(email, PASSWORD).await;

    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-password",
        &t,
        Some(json!({"current_password": PASSWORD, "new_password": "second password"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.settle().await;
    let notices = mails(&app, EmailKind::PasswordChanged, email);
    assert_eq!(notices.len(), 1);
    assert_notice(&notices[0], "Your RegStack password was changed");

    // A reset tells the address too.
    app.advance(Duration::seconds(1));
    app.post("/forgot-password", &json!({"email": email})).await;
    app.settle().await;
    let reset = app.last_token_for(email);
    app.advance(Duration::seconds(1));
    let r = app
        .post(
            "/reset-password",
            &json!({"token": reset, "new_password": "third password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.settle().await;
    let notices = mails(&app, EmailKind::PasswordChanged, email);
    assert_eq!(notices.len(), 2);
    assert_notice(&notices[1], "Your RegStack password was changed");

    // An email change tells the former address, not the new one.
    app.advance(Duration::seconds(1));
    let t = app.login_token(email, "third password").await;
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-email",
        &t,
        Some(json!({"new_email": "alice.new@example.com", "current_password": "third password"})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.settle().await;
    assert!(mails(&app, EmailKind::EmailChanged, email).is_empty());
    let link = app.last_token_for("alice.new@example.com");
    app.advance(Duration::seconds(1));
    let r = app
        .post("/confirm-email-change", &json!({"token": link}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.settle().await;
    let notices = mails(&app, EmailKind::EmailChanged, email);
    assert_eq!(notices.len(), 1);
    assert_notice(&notices[0], "Your RegStack email address was changed");
    assert!(
        !notices[0].text.contains("alice.new"),
        "the notice does not name the new address"
    );
    assert!(
        mails(&app, EmailKind::EmailChanged, "alice.new@example.com").is_empty(),
        "only the former address is told"
    );
}

const BAD_NAMES: [&str; 8] = [
    "Eve\u{202E}gpj",
    "a\nb",
    "a\rb",
    "tab\there",
    "esc\u{1b}[31m",
    "line\u{2028}sep",
    "\u{2066}x\u{2069}",
    "\u{200F}rtl",
];

const GOOD_NAMES: [&str; 4] = [
    "👩\u{200D}💻 Dev",
    "محمد",
    "山田 太郎",
    "Zoë O'Brien-Łukasz",
];

#[track_caller]
fn assert_full_name_refused(r: &Resp, name: &str) {
    let items = r.validation_items();
    assert_eq!(items.len(), 1, "{name:?}: {items:?}");
    let item = &items[0];
    assert_eq!(item["type"], "value_error", "{name:?}: {item}");
    assert_eq!(item["loc"], json!(["body", "full_name"]), "{name:?}");
    assert_eq!(item["input"], name, "{name:?}");
    assert!(
        item["msg"].as_str().unwrap().starts_with("Value error, "),
        "{item}"
    );
}

async fn patch_admin(app: &TestApp, admin: &str, id: &str, body: Value) -> Resp {
    authed(
        app,
        reqwest::Method::PATCH,
        &format!("/admin/users/{id}"),
        admin,
        Some(body),
    )
    .await
}

#[tokio::test]
async fn full_names_with_control_or_bidi_characters_are_refused_everywhere() {
    let _machine = MACHINE.read().await;
    let app = TestApp::start(|c| c.enable_admin_router = true).await;
    app.rs
        .bootstrap_admin(
            &"root@example.com".try_into().unwrap(),
            &PASSWORD.try_into().unwrap(),
        )
        .await
        .unwrap();
    let admin = app.login_token("root@example.com", PASSWORD).await;
    let token = app.signup_and_login("alice@example.com", PASSWORD).await;
    let alice = app.user_by_email("alice@example.com").await.unwrap();
    let r = app
        .patch_me(Some(&token), Some(r#"{"full_name": "Original"}"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let users = app.user_count().await;
    let mails_before = app.mailer.messages().len();

    for (i, name) in BAD_NAMES.into_iter().enumerate() {
        let email = format!("bad{i}@example.com");
        let r = app
            .post(
                "/register",
                &json!({"email": email, "password": PASSWORD, "full_name": name}),
            )
            .await;
        assert_full_name_refused(&r, name);
        assert!(!app.has_pending(&email).await, "{name:?}");

        let r = app
            .patch_me(Some(&token), Some(&json!({"full_name": name}).to_string()))
            .await;
        assert_full_name_refused(&r, name);

        let r = patch_admin(&app, &admin, &alice.id, json!({"full_name": name})).await;
        assert_full_name_refused(&r, name);
        // Even with another valid field, nothing of the request is applied.
        let r = patch_admin(
            &app,
            &admin,
            &alice.id,
            json!({"full_name": name, "is_superuser": true}),
        )
        .await;
        assert_full_name_refused(&r, name);
    }
    let stored = app.user_by_email("alice@example.com").await.unwrap();
    assert_eq!(stored.full_name.as_deref(), Some("Original"));
    assert!(!stored.is_superuser);
    assert_eq!(app.user_count().await, users);
    assert_eq!(app.pending_count().await, 0);
    assert_eq!(
        app.mailer.messages().len(),
        mails_before,
        "nothing was sent"
    );

    for (i, name) in GOOD_NAMES.into_iter().enumerate() {
        let email = format!("good{i}@example.com");
        let r = app
            .post(
                "/register",
                &json!({"email": email, "password": PASSWORD, "full_name": name}),
            )
            .await;
        assert_eq!(r.status, 201, "{name:?}: {}", r.text);
        let pending = app
            .rs
            .stores()
            .pending
            .find_by_email(&email)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(pending.full_name.as_deref(), Some(name));
        // The mail quotes an acceptable name.
        let mail = mails(&app, EmailKind::Verification, &email);
        assert!(
            mail[0].text.starts_with(&format!("Hi {name},\n")),
            "{:?}",
            mail[0].text
        );

        let r = app
            .patch_me(Some(&token), Some(&json!({"full_name": name}).to_string()))
            .await;
        assert_eq!(r.status, 200, "{name:?}: {}", r.text);
        assert_eq!(r.json()["full_name"], name);

        let r = patch_admin(&app, &admin, &alice.id, json!({"full_name": name})).await;
        assert_eq!(r.status, 200, "{name:?}: {}", r.text);
        assert_eq!(r.json()["full_name"], name);
        assert_eq!(
            app.user_by_email("alice@example.com")
                .await
                .unwrap()
                .full_name
                .as_deref(),
            Some(name)
        );
    }
}

/// One line per observed event: name, user email (or `-`) and the details that matter.
fn record(app: &TestApp, names: &[&str]) -> Arc<Mutex<Vec<String>>> {
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    for name in names {
        let l = log.clone();
        app.rs.hooks().on(*name, move |e: &Event| {
            let who = e.user().map(|u| u.email.clone()).unwrap_or("-".into());
            let line = match e {
                Event::LoginFailed { email, reason, .. } => {
                    format!("login_failed {email} user={who} reason={reason}")
                }
                Event::LoginLockedOut { email, retry_after } => {
                    format!("login_locked_out {email} retry_after={retry_after}")
                }
                Event::AdminUserUpdated {
                    is_active,
                    is_superuser,
                    full_name_changed,
                    ..
                } => format!(
                    "admin_user_updated {who} is_active={is_active:?} is_superuser={is_superuser:?} full_name_changed={full_name_changed}"
                ),
                other => format!("{} {who}", other.name()),
            };
            l.lock().unwrap().push(line);
            Ok(())
        });
    }
    log
}

#[track_caller]
fn assert_no_store(r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.header("pragma").as_deref(), Some("no-cache"));
}

#[tokio::test]
async fn security_events_fire_with_their_user_and_token_answers_are_not_stored() {
    let _machine = MACHINE.read().await;
    let app = TestApp::start(|c| {
        c.enable_admin_router = true;
        c.login_lockout_threshold = 3;
    })
    .await;
    app.rs
        .bootstrap_admin(
            &"root@example.com".try_into().unwrap(),
            &PASSWORD.try_into().unwrap(),
        )
        .await
        .unwrap();
    let admin = app.login_token("root@example.com", PASSWORD).await;
    let alice = app.signup_and_login("alice@example.com", PASSWORD).await;
    app.register_verified("bob@example.com", PASSWORD).await;
    app.register_verified("carol@example.com", PASSWORD).await;
    app.create_user("off@example.com", Some(PASSWORD), |u| u.is_active = false)
        .await;
    let log = record(
        &app,
        &[
            "login_failed",
            "login_locked_out",
            "admin_user_updated",
            "admin_user_deleted",
            "user_deleted",
        ],
    );

    assert_eq!(
        app.login("alice@example.com", "wrong password")
            .await
            .status,
        401
    );
    assert_eq!(app.login("ghost@example.com", PASSWORD).await.status, 401);
    assert_eq!(app.login("off@example.com", PASSWORD).await.status, 403);
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-password",
        &alice,
        Some(json!({"current_password": "not my password", "new_password": "another secret"})),
    )
    .await;
    r.assert_detail(400, "Current password is incorrect.");
    for _ in 0..3 {
        assert_eq!(
            app.login("bob@example.com", "wrong password").await.status,
            401
        );
    }
    let locked = app.login("bob@example.com", PASSWORD).await;
    assert_eq!(locked.status, 429, "{}", locked.text);
    let retry_after = locked.header("retry-after").unwrap();

    let carol = app.user_by_email("carol@example.com").await.unwrap();
    let r = patch_admin(&app, &admin, &carol.id, json!({"is_active": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = authed(
        &app,
        reqwest::Method::DELETE,
        &format!("/admin/users/{}", carol.id),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    assert_eq!(
        *log.lock().unwrap(),
        [
            "login_failed alice@example.com user=alice@example.com reason=invalid_credentials"
                .to_owned(),
            "login_failed ghost@example.com user=- reason=invalid_credentials".to_owned(),
            "login_failed off@example.com user=off@example.com reason=account_disabled".to_owned(),
            "login_failed alice@example.com user=alice@example.com reason=current_password"
                .to_owned(),
            "login_failed bob@example.com user=bob@example.com reason=invalid_credentials"
                .to_owned(),
            "login_failed bob@example.com user=bob@example.com reason=invalid_credentials"
                .to_owned(),
            "login_failed bob@example.com user=bob@example.com reason=invalid_credentials"
                .to_owned(),
            format!("login_locked_out bob@example.com retry_after={retry_after}"),
            "admin_user_updated carol@example.com is_active=Some(false) is_superuser=None full_name_changed=false"
                .to_owned(),
            "user_deleted carol@example.com".to_owned(),
            "admin_user_deleted carol@example.com".to_owned(),
        ]
    );

    // Token answers are never cached: a password login, an MFA step and its confirmation.
    app.advance(Duration::seconds(1));
    assert_no_store(&app.login("alice@example.com", PASSWORD).await);
    let dave = app.register_verified("dave@example.com", PASSWORD).await;
    app.update_user(
        dave["id"].as_str().unwrap(),
        UserPatch {
            is_mfa_enabled: Some(true),
            phone_number: Some(Some("+14155552671".into())),
            ..UserPatch::default()
        },
    )
    .await;
    let r = app.login("dave@example.com", PASSWORD).await;
    assert_no_store(&r);
    assert_eq!(r.json()["status"], "mfa_required");
    let pending = r.json()["mfa_pending_token"].as_str().unwrap().to_owned();
    let sms = app.sms.messages().last().expect("an sms").body.clone();
    let code = sms["RegStack sign-in code: ".len()..][..6].to_owned();
    let r = app
        .post(
            "/login/mfa-confirm",
            &json!({"mfa_pending_token": pending, "code": code}),
        )
        .await;
    assert_no_store(&r);
    assert!(r.json()["access_token"].is_string());
}
