//! The security hardening, over real HTTP on the backend `REGSTACK_E2E_BACKEND` names: the
//! lockout admits at most `login_lockout_threshold` password evaluations however many arrive at
//! once; reset and email-change links die with a password change; a login or a rehash racing a
//! reset never brings the old password back; a session of the same millisecond as a password
//! change dies with it (MongoDB included); wrong `current_password`s count in the login lockout;
//! a full hashing queue answers 503 and counts nothing.
//!
//! Races are made deterministic where it matters with repositories the test replaces
//! ([`TestApp::start_with_stores`]): wrappers that delegate to the backend's and stop one call
//! until the test lets it go.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use regstack_core::password::{HashParams, PasswordHasher};
use regstack_core::store::{Admission, LoginAttemptStore, StoreResult, UserCounts, UserStore};
use regstack_core::{NewUser, RegStackConfig, User, UserGuard, UserPatch};
use regstack_e2e::{PASSWORD, Resp, TestApp, token_from_text};
use serde_json::{Value, json};
use tokio::sync::oneshot;

const EMAIL: &str = "alice@example.com";
const WRONG: &str = "wrong password";
const NEW_PASSWORD: &str = "a brand new secret";

const RESET_DEAD: &str = "Reset link is invalid or has expired. Request a new one.";
const EMAIL_CHANGE_DEAD: &str = "Email-change link is invalid or has expired. Request a new one.";
const INVALIDATED: &str = "Session was invalidated; please sign in again.";
const WRONG_CURRENT: &str = "Current password is incorrect.";
const RESET_SUBJECT: &str = "Reset your RegStack password";
const EMAIL_CHANGE_SUBJECT: &str = "Confirm your new RegStack email address";

/// The 429 of a locked account, `seconds` before it unlocks.
fn locked(seconds: u64) -> String {
    format!("Too many failed attempts. Try again in {seconds} seconds.")
}

/// The 401 of a wrong password with `remaining` attempts left.
fn invalid(remaining: u64) -> String {
    if remaining == 0 {
        "Invalid email or password.".to_owned()
    } else {
        format!("Invalid email or password. {remaining} attempt(s) remaining.")
    }
}

/// Argon2 at a cost that takes real time (8 MiB, one pass), so that a burst queues behind the
/// hashing threads as an attack's does.
fn real_cost(c: &mut RegStackConfig) {
    c.password_hash_memory_kib = 8192;
    c.password_hash_iterations = 1;
}

/// Assert a 429 of the lockout, `seconds` before it lifts, with the same `Retry-After`.
#[track_caller]
fn assert_locked(r: &Resp, seconds: u64) {
    r.assert_detail(429, &locked(seconds));
    assert_eq!(
        r.header("retry-after"),
        Some(seconds.to_string()),
        "{}",
        r.text
    );
}

/// A request with a bearer token and a JSON body.
async fn authed(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> Resp {
    app.send(
        app.client
            .request(method, app.url(path))
            .bearer_auth(token)
            .json(&body),
    )
    .await
}

/// The access token of a 200 login answer.
#[track_caller]
fn access_token(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The link token of the newest captured mail to `to` with this subject.
#[track_caller]
fn newest_link(app: &TestApp, to: &str, subject: &str) -> String {
    let msg = app
        .mailer
        .messages()
        .into_iter()
        .rev()
        .find(|m| m.to == to && m.subject == subject)
        .unwrap_or_else(|| panic!("no {subject:?} mail to {to}"));
    token_from_text(&msg.text).unwrap_or_else(|| panic!("no link in {:?}", msg.text))
}

/// `POST /forgot-password`, wait for the background mail, return the newest reset link.
async fn reset_link(app: &TestApp, email: &str) -> String {
    let r = app
        .post("/forgot-password", &json!({ "email": email }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.settle().await;
    newest_link(app, email, RESET_SUBJECT)
}

/// `POST /reset-password`.
async fn reset(app: &TestApp, link: &str, new_password: &str) -> Resp {
    app.post(
        "/reset-password",
        &json!({ "token": link, "new_password": new_password }),
    )
    .await
}

/// `POST /change-email` for `new_email`, wait for the background mail, return the link.
async fn email_change_link(app: &TestApp, session: &str, new_email: &str) -> String {
    let r = authed(
        app,
        reqwest::Method::POST,
        "/change-email",
        session,
        json!({ "new_email": new_email, "current_password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    app.settle().await;
    newest_link(app, new_email, EMAIL_CHANGE_SUBJECT)
}

// ------------------------------------------------------------------ pausable repositories

type StoreFut<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

/// A point where one store call stops until the test lets it go: armed by the test, taken by
/// the first call that passes it while armed (later calls pass straight through).
#[derive(Debug, Default)]
struct Pause(Mutex<Option<Armed>>);

#[derive(Debug)]
struct Armed {
    reached: oneshot::Sender<()>,
    go: oneshot::Receiver<()>,
}

/// The test's side of an armed [`Pause`]. Dropping it lets the stopped call go.
#[derive(Debug)]
struct Held {
    reached: Option<oneshot::Receiver<()>>,
    go: oneshot::Sender<()>,
}

impl Pause {
    fn arm(&self) -> Held {
        let (reached_tx, reached_rx) = oneshot::channel();
        let (go_tx, go_rx) = oneshot::channel();
        *self.0.lock().unwrap() = Some(Armed {
            reached: reached_tx,
            go: go_rx,
        });
        Held {
            reached: Some(reached_rx),
            go: go_tx,
        }
    }

    /// Whether a call took the pause since it was armed.
    fn taken(&self) -> bool {
        self.0.lock().unwrap().is_none()
    }

    async fn pass(&self) {
        let armed = self.0.lock().unwrap().take();
        if let Some(Armed { reached, go }) = armed {
            let _ = reached.send(());
            let _ = go.await;
        }
    }
}

impl Held {
    /// Wait (bounded) until a call stopped here.
    async fn reached(&mut self) {
        let reached = self.reached.take().expect("waited once");
        tokio::time::timeout(std::time::Duration::from_secs(60), reached)
            .await
            .expect("no call reached the pause")
            .expect("the pause was dropped");
    }

    /// Let the stopped call go on.
    fn release(self) {
        let _ = self.go.send(());
    }
}

/// The backend's `users` repository, with two pauses: after `get_by_email` has read its row
/// (where a login has the hash it is about to verify), and before a write of the password hash
/// alone, guarded or not (the background rehash).
#[derive(Debug)]
struct PausingUsers {
    inner: Arc<dyn UserStore>,
    after_read_by_email: Pause,
    before_rehash_write: Pause,
}

impl PausingUsers {
    fn new(inner: Arc<dyn UserStore>) -> Self {
        Self {
            inner,
            after_read_by_email: Pause::default(),
            before_rehash_write: Pause::default(),
        }
    }
}

/// Whether `patch` writes the password hash alone, as the background rehash does (a password
/// change or reset also moves the cutoff).
fn rehash(patch: &UserPatch) -> bool {
    patch.hashed_password.is_some() && patch.tokens_invalidated_after.is_none()
}

/// The trait as `#[async_trait]` declares it (this crate does not depend on `async-trait`).
impl UserStore for PausingUsers {
    fn create<'s, 'f>(&'s self, user: NewUser) -> StoreFut<'f, User>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.create(user)
    }

    fn get_by_id<'s, 'a, 'f>(&'s self, id: &'a str) -> StoreFut<'f, Option<User>>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        self.inner.get_by_id(id)
    }

    fn get_by_email<'s, 'a, 'f>(&'s self, email: &'a str) -> StoreFut<'f, Option<User>>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            let found = self.inner.get_by_email(email).await;
            self.after_read_by_email.pass().await;
            found
        })
    }

    fn update<'s, 'a, 'b, 'f>(
        &'s self,
        id: &'a str,
        patch: &'b UserPatch,
        now: DateTime<Utc>,
    ) -> StoreFut<'f, Option<User>>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            if rehash(patch) {
                self.before_rehash_write.pass().await;
            }
            self.inner.update(id, patch, now).await
        })
    }

    fn update_guarded<'s, 'a, 'b, 'c, 'f>(
        &'s self,
        id: &'a str,
        guard: &'b UserGuard,
        patch: &'c UserPatch,
        now: DateTime<Utc>,
    ) -> StoreFut<'f, Option<User>>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        'c: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            if rehash(patch) {
                self.before_rehash_write.pass().await;
            }
            self.inner.update_guarded(id, guard, patch, now).await
        })
    }

    fn delete<'s, 'a, 'f>(&'s self, id: &'a str) -> StoreFut<'f, bool>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        self.inner.delete(id)
    }

    fn count<'s, 'f>(&'s self) -> StoreFut<'f, u64>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.count()
    }

    fn list<'s, 'f>(&'s self, offset: u64, limit: u64) -> StoreFut<'f, Vec<User>>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.list(offset, limit)
    }

    fn count_by_flags<'s, 'f>(&'s self) -> StoreFut<'f, UserCounts>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.count_by_flags()
    }
}

/// A server whose `users` repository is a [`PausingUsers`] over the backend's.
async fn start_with_pausing_users() -> (TestApp, Arc<PausingUsers>) {
    let mut users = None;
    let app = TestApp::start_with_stores(
        |_| {},
        |stores| {
            let wrapper = Arc::new(PausingUsers::new(stores.users.clone()));
            stores.users = wrapper.clone();
            users = Some(wrapper);
        },
    )
    .await;
    (app, users.expect("replaced"))
}

/// The user [`EMAIL`] with [`PASSWORD`] hashed with other Argon2 parameters than the configured
/// ones (m = 2048 against 1024), so that signing in starts the background rehash; returns the
/// stored hash.
async fn user_with_outdated_hash(app: &TestApp) -> String {
    let other = HashParams {
        memory_kib: 2048,
        iterations: 1,
        parallelism: 1,
    };
    let old_hash = PasswordHasher::new(other, 1)
        .expect("hasher")
        .hash(PASSWORD)
        .await
        .expect("hash");
    app.create_user(EMAIL, None, |u| u.hashed_password = Some(old_hash.clone()))
        .await;
    old_hash
}

/// The backend's `login_attempts` repository, whose `clear` (what a successful login does)
/// can be held back.
#[derive(Debug)]
struct PausingAttempts {
    inner: Arc<dyn LoginAttemptStore>,
    before_clear: Pause,
}

impl LoginAttemptStore for PausingAttempts {
    fn record<'s, 'a, 'b, 'f>(
        &'s self,
        email: &'a str,
        when: DateTime<Utc>,
        ip: Option<&'b str>,
    ) -> StoreFut<'f, ()>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.inner.record(email, when, ip)
    }

    fn admit<'s, 'a, 'b, 'f>(
        &'s self,
        email: &'a str,
        when: DateTime<Utc>,
        since: DateTime<Utc>,
        limit: u64,
        ip: Option<&'b str>,
    ) -> StoreFut<'f, Admission>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.inner.admit(email, when, since, limit, ip)
    }

    fn release<'s, 'a, 'b, 'f>(&'s self, email: &'a str, ticket: &'b str) -> StoreFut<'f, bool>
    where
        's: 'f,
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        self.inner.release(email, ticket)
    }

    fn failures_since<'s, 'a, 'f>(
        &'s self,
        email: &'a str,
        since: DateTime<Utc>,
    ) -> StoreFut<'f, Vec<DateTime<Utc>>>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        self.inner.failures_since(email, since)
    }

    fn clear<'s, 'a, 'f>(&'s self, email: &'a str) -> StoreFut<'f, u64>
    where
        's: 'f,
        'a: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            self.before_clear.pass().await;
            self.inner.clear(email).await
        })
    }

    fn purge_before<'s, 'f>(&'s self, before: DateTime<Utc>) -> StoreFut<'f, u64>
    where
        's: 'f,
        Self: 'f,
    {
        self.inner.purge_before(before)
    }
}

// ------------------------------------------------------------------ 1. parallel guesses

/// 40 wrong passwords at once get `threshold` evaluations (401) and 429s for the rest: the
/// lockout's check and count are one step, so the burst cannot slip in while the first guesses
/// are still being hashed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parallel_burst_of_guesses_gets_threshold_evaluations() {
    let app = TestApp::start(real_cost).await;
    app.register_verified(EMAIL, PASSWORD).await;
    let threshold = app.rs.config().login_lockout_threshold as usize;
    let before = app.verifications();
    let answers = join_all((0..40).map(|_| app.login(EMAIL, WRONG))).await;

    let evaluated: Vec<&Resp> = answers.iter().filter(|r| r.status == 401).collect();
    assert_eq!(evaluated.len(), threshold, "401 answers of the burst");
    for r in &evaluated {
        let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
        assert!(
            (0..threshold as u64).any(|n| detail == invalid(n)),
            "{}",
            r.text
        );
    }
    for r in answers.iter().filter(|r| r.status != 401) {
        // One frozen instant: every failure is 0 s old, the lock lasts the whole window.
        assert_locked(r, 900);
    }
    assert_eq!(
        app.verifications() - before,
        threshold as u64,
        "a refused attempt costs no Argon2"
    );
    assert_eq!(app.failures(EMAIL).await, threshold);
}

/// After `threshold` failures, the right password sent inside a burst of wrong ones is refused
/// like them (429), never signed in; once the window has passed it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_inside_a_burst_after_the_limit_is_refused() {
    let app = TestApp::start(real_cost).await;
    app.register_verified(EMAIL, PASSWORD).await;
    let threshold = app.rs.config().login_lockout_threshold as usize;
    let first = join_all((0..threshold).map(|_| app.login(EMAIL, WRONG))).await;
    assert!(first.iter().all(|r| r.status == 401));

    app.advance(Duration::seconds(1));
    let answers = join_all((0..21).map(|i| {
        let password = if i == 10 { PASSWORD } else { WRONG };
        app.login(EMAIL, password)
    }))
    .await;
    for r in &answers {
        assert_locked(r, 899);
    }
    assert_eq!(app.failures(EMAIL).await, threshold);

    app.advance(Duration::seconds(900));
    let token = app.login_token(EMAIL, PASSWORD).await;
    assert_eq!(app.me(&token).await.status, 200);
}

/// The right password fired at the same moment as 39 wrong ones, first of the 40 and last:
/// exactly `threshold` passwords are evaluated (the right one among them or not), the rest
/// answer 429. A successful login clears the failures (0.9.3's rule), which would admit a fresh
/// set of guesses arriving after it; the clear is held back until the wrong ones have answered,
/// so that the count is of one burst.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_raced_by_wrong_ones_shares_the_threshold() {
    let mut attempts = None;
    let app = TestApp::start_with_stores(real_cost, |stores| {
        let wrapper = Arc::new(PausingAttempts {
            inner: stores.login_attempts.clone(),
            before_clear: Pause::default(),
        });
        stores.login_attempts = wrapper.clone();
        attempts = Some(wrapper);
    })
    .await;
    let attempts = attempts.expect("replaced");
    let mut seen = Vec::new();
    for (email, right_at) in [("first@example.com", 0), ("last@example.com", 39)] {
        app.register_verified(email, PASSWORD).await;
        seen.push(right_among_wrong(&app, &attempts.before_clear, email, right_at).await);
    }
    eprintln!("the right password, first and last of the burst, answered {seen:?}");
}

/// 40 logins to `email` at once, the one at `right_at` with the right password; returns its
/// status after checking the burst.
async fn right_among_wrong(app: &TestApp, clears: &Pause, email: &str, right_at: usize) -> u16 {
    let threshold = app.rs.config().login_lockout_threshold as usize;
    let held = Mutex::new(Some(clears.arm()));
    let wrong_left = AtomicUsize::new(39);
    let answers = join_all((0..40).map(|i| {
        let (held, wrong_left) = (&held, &wrong_left);
        async move {
            if i == right_at {
                return (true, app.login(email, PASSWORD).await);
            }
            let r = app.login(email, WRONG).await;
            if wrong_left.fetch_sub(1, Ordering::SeqCst) == 1 {
                held.lock().unwrap().take().expect("armed").release();
            }
            (false, r)
        }
    }))
    .await;

    let right = &answers.iter().find(|(right, _)| *right).expect("right").1;
    let n200 = match right.status {
        200 => 1,
        429 => {
            assert_locked(right, 900);
            0
        }
        s => panic!("the right password answered {s} {}", right.text),
    };
    let wrong: Vec<&Resp> = answers
        .iter()
        .filter(|(right, _)| !*right)
        .map(|(_, r)| r)
        .collect();
    let n401 = wrong.iter().filter(|r| r.status == 401).count();
    assert_eq!(n401 + n200, threshold, "passwords evaluated in one burst");
    for r in wrong.iter().filter(|r| r.status != 401) {
        assert_locked(r, 900);
    }
    // A success cleared the failures; otherwise all of them stand.
    let expect = if n200 == 1 { 0 } else { threshold };
    assert_eq!(app.failures(email).await, expect);
    right.status
}

// ------------------------------------------------------------------ 2. links and a password change

/// Two reset links; the newer one is used: the older is dead (it was issued before that
/// password change), and the same the other way round.
#[tokio::test]
async fn a_reset_kills_every_reset_link_issued_before_it() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified(EMAIL, PASSWORD).await;
    let older = reset_link(&app, EMAIL).await;
    // One reset mail per address per `email.cooldown_seconds` (60 s).
    app.advance(Duration::seconds(61));
    let newer = reset_link(&app, EMAIL).await;
    assert_ne!(older, newer);
    app.advance(Duration::seconds(1));
    assert_eq!(reset(&app, &newer, NEW_PASSWORD).await.status, 200);
    app.advance(Duration::seconds(1));
    reset(&app, &older, "yet another password")
        .await
        .assert_detail(400, RESET_DEAD);
    app.login_token(EMAIL, NEW_PASSWORD).await;

    // The older one used first kills the newer as well.
    app.advance(Duration::seconds(61));
    let older = reset_link(&app, EMAIL).await;
    app.advance(Duration::seconds(61));
    let newer = reset_link(&app, EMAIL).await;
    app.advance(Duration::seconds(1));
    assert_eq!(reset(&app, &older, "third password!").await.status, 200);
    app.advance(Duration::seconds(1));
    reset(&app, &newer, "fourth password!")
        .await
        .assert_detail(400, RESET_DEAD);
    app.login_token(EMAIL, "third password!").await;
}

/// An email-change link issued before a password change is dead afterwards: the address stays.
#[tokio::test]
async fn a_password_change_kills_a_pending_email_change_link() {
    let app = TestApp::start(|_| {}).await;
    let session = app.signup_and_login(EMAIL, PASSWORD).await;
    let link = email_change_link(&app, &session, "moved@example.com").await;
    app.advance(Duration::seconds(1));
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-password",
        &session,
        json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.advance(Duration::seconds(1));
    app.post("/confirm-email-change", &json!({ "token": link }))
        .await
        .assert_detail(400, EMAIL_CHANGE_DEAD);
    assert!(app.user_by_email(EMAIL).await.is_some());
    assert!(app.user_by_email("moved@example.com").await.is_none());
}

/// The same with a password reset in between.
#[tokio::test]
async fn a_reset_kills_a_pending_email_change_link() {
    let app = TestApp::start(|_| {}).await;
    let session = app.signup_and_login(EMAIL, PASSWORD).await;
    let link = email_change_link(&app, &session, "moved@example.com").await;
    app.advance(Duration::seconds(1));
    let reset_token = reset_link(&app, EMAIL).await;
    app.advance(Duration::seconds(1));
    assert_eq!(reset(&app, &reset_token, NEW_PASSWORD).await.status, 200);
    app.advance(Duration::seconds(1));
    app.post("/confirm-email-change", &json!({ "token": link }))
        .await
        .assert_detail(400, EMAIL_CHANGE_DEAD);
    assert!(app.user_by_email(EMAIL).await.is_some());
    assert!(app.user_by_email("moved@example.com").await.is_none());
}

// ------------------------------------------------------------------ 3. a login racing a reset

/// A login that has read the old hash when a reset commits: it verifies the old password
/// against that hash, but gets no session (the clock moves on meanwhile, so a token it were
/// given would be newer than the reset's cutoff).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_in_flight_while_a_reset_commits_gets_no_session() {
    let (app, users) = start_with_pausing_users().await;
    app.register_verified(EMAIL, PASSWORD).await;
    app.advance(Duration::seconds(1));
    let link = reset_link(&app, EMAIL).await;
    app.advance(Duration::seconds(1));

    let mut held = users.after_read_by_email.arm();
    let login = app.login(EMAIL, PASSWORD);
    let reset_meanwhile = async {
        held.reached().await;
        app.advance(Duration::seconds(1));
        let r = reset(&app, &link, NEW_PASSWORD).await;
        app.advance(Duration::seconds(1));
        held.release();
        r
    };
    let (login, reset_answer) = tokio::join!(login, reset_meanwhile);
    assert_eq!(reset_answer.status, 200, "{}", reset_answer.text);
    if login.status == 200 {
        let me = app.me(&access_token(&login)).await;
        panic!(
            "a login racing the reset got a session; /me answers {} {}",
            me.status, me.text
        );
    }
    assert_eq!(login.status, 401, "{}", login.text);
    assert!(
        login.json()["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("Invalid email or password.")),
        "{}",
        login.text
    );

    app.advance(Duration::seconds(1));
    assert_eq!(app.login(EMAIL, PASSWORD).await.status, 401);
    let token = app.login_token(EMAIL, NEW_PASSWORD).await;
    assert_eq!(app.me(&token).await.status, 200);
}

/// 20 rounds of a login with the current password racing a reset to a new one, real Argon2
/// cost, the clock moving while they run: whatever the interleaving, a session the login got
/// is refused once the reset is through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_racing_resets_never_keep_a_session() {
    let app = TestApp::start(|c| {
        // 32 MiB: the hash of the new password takes long enough for a login to start meanwhile.
        c.password_hash_memory_kib = 32_768;
        c.password_hash_iterations = 1;
        // Logins refused by a race count as failures; they are not what this test is about.
        c.login_lockout_threshold = 100;
    })
    .await;
    app.register_verified(EMAIL, PASSWORD).await;
    let mut current = PASSWORD.to_owned();
    let (mut refused, mut signed_in_then_dead) = (0, 0);
    for round in 0..20 {
        app.advance(Duration::seconds(61));
        let link = reset_link(&app, EMAIL).await;
        app.advance(Duration::seconds(1));
        let next = format!("password of round {round}");
        // Who starts first, and by how much, varies from round to round. Most rounds send the
        // login a little after the reset, so that it reads the old hash while the new one is
        // being computed: the interleaving the guard on the login's write is for.
        let jitter: u64 = regstack_core::token::numeric_code(1)
            .parse()
            .expect("digit");
        let (login_delay, reset_delay) = match jitter {
            0..=5 => (1 + jitter % 3, 0),
            6..=8 => (0, 0),
            _ => (0, 2),
        };
        let done = AtomicBool::new(false);
        let race = async {
            let login = async {
                tokio::time::sleep(std::time::Duration::from_millis(login_delay)).await;
                app.login(EMAIL, &current).await
            };
            let reset_now = async {
                tokio::time::sleep(std::time::Duration::from_millis(reset_delay)).await;
                reset(&app, &link, &next).await
            };
            let answers = tokio::join!(login, reset_now);
            done.store(true, Ordering::SeqCst);
            answers
        };
        // The clock moves while they run, as a real one would.
        let ticker = async {
            while !done.load(Ordering::SeqCst) {
                app.advance(Duration::milliseconds(1));
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
        };
        let ((login, reset_answer), ()) = tokio::join!(race, ticker);
        assert_eq!(
            reset_answer.status, 200,
            "round {round}: {}",
            reset_answer.text
        );
        match login.status {
            200 => {
                app.me(&access_token(&login))
                    .await
                    .assert_detail(401, INVALIDATED);
                signed_in_then_dead += 1;
            }
            401 => refused += 1,
            s => panic!("round {round}: login answered {s} {}", login.text),
        }
        app.settle().await;
        current = next;
    }
    app.advance(Duration::seconds(1));
    let token = app.login_token(EMAIL, &current).await;
    assert_eq!(app.me(&token).await.status, 200);
    eprintln!(
        "20 rounds: {signed_in_then_dead} sessions refused after the reset, {refused} logins refused"
    );
}

// ------------------------------------------------------------------ 4. a rehash racing a reset

/// A login with a hash of other parameters starts the background rehash; a reset commits
/// before the rehash writes: the rehash is dropped, the old password stays dead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rehash_racing_a_reset_never_restores_the_old_password() {
    let (app, users) = start_with_pausing_users().await;
    let old_hash = user_with_outdated_hash(&app).await;
    let link = reset_link(&app, EMAIL).await;
    app.advance(Duration::seconds(1));

    let mut held = users.before_rehash_write.arm();
    let session = app.login_token(EMAIL, PASSWORD).await;
    held.reached().await;
    app.advance(Duration::seconds(1));
    assert_eq!(reset(&app, &link, NEW_PASSWORD).await.status, 200);
    held.release();
    app.settle().await;

    let stored = app.user_by_email(EMAIL).await.expect("user");
    let hash = stored.hashed_password.expect("a hash");
    assert_ne!(hash, old_hash);
    app.advance(Duration::seconds(1));
    app.login(EMAIL, PASSWORD)
        .await
        .assert_detail(401, &invalid(4));
    let token = app.login_token(EMAIL, NEW_PASSWORD).await;
    assert_eq!(app.me(&token).await.status, 200);
    app.me(&session).await.assert_detail(401, INVALIDATED);
}

/// Control for the test above: left alone, the rehash does replace the hash (with the
/// configured parameters), through the same wrapper.
#[tokio::test]
async fn a_rehash_left_alone_replaces_the_hash() {
    let (app, users) = start_with_pausing_users().await;
    user_with_outdated_hash(&app).await;
    let held = users.before_rehash_write.arm();
    app.login_token(EMAIL, PASSWORD).await;
    held.release();
    app.settle().await;
    assert!(users.before_rehash_write.taken(), "the rehash wrote");
    let hash = app
        .user_by_email(EMAIL)
        .await
        .expect("user")
        .hashed_password
        .expect("a hash");
    assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{hash}");
    app.login_token(EMAIL, PASSWORD).await;
}

// ------------------------------------------------------------------ 5. the same millisecond

/// Sessions issued in the same millisecond as a password change (the frozen instant has
/// microseconds below the millisecond) are refused afterwards on every backend: MongoDB keeps
/// milliseconds and rounds the cutoff up, never down past a token's `iat`.
#[tokio::test]
async fn sessions_of_the_same_millisecond_as_a_password_change_die_with_it() {
    let app = TestApp::start(|_| {}).await;
    app.register_verified(EMAIL, PASSWORD).await;
    app.advance(Duration::seconds(10));
    let instant = app.now();
    assert_ne!(instant.timestamp_subsec_micros() % 1000, 0, "{instant}");
    let earlier = app.login_token(EMAIL, PASSWORD).await;
    // 300 µs later, still the same millisecond.
    app.advance(Duration::microseconds(300));
    assert_eq!(
        app.now().timestamp_millis(),
        instant.timestamp_millis(),
        "one millisecond"
    );
    let same_instant = app.login_token(EMAIL, PASSWORD).await;
    for t in [&earlier, &same_instant] {
        assert_eq!(app.me(t).await.status, 200);
    }
    let r = authed(
        &app,
        reqwest::Method::POST,
        "/change-password",
        &same_instant,
        json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for t in [&earlier, &same_instant] {
        app.me(t).await.assert_detail(401, INVALIDATED);
    }
    // A session of the next millisecond lives.
    app.advance(Duration::milliseconds(1));
    let later = app.login_token(EMAIL, NEW_PASSWORD).await;
    assert_eq!(app.me(&later).await.status, 200);
}

// ------------------------------------------------------------------ 6. current_password

#[derive(Debug, Clone, Copy)]
enum Confirming {
    ChangePassword,
    ChangeEmail,
    DeleteAccount,
}

impl Confirming {
    const ALL: [Confirming; 3] = [
        Confirming::ChangePassword,
        Confirming::ChangeEmail,
        Confirming::DeleteAccount,
    ];

    async fn send(self, app: &TestApp, session: &str, current_password: &str) -> Resp {
        match self {
            Confirming::ChangePassword => {
                authed(
                    app,
                    reqwest::Method::POST,
                    "/change-password",
                    session,
                    json!({ "current_password": current_password, "new_password": NEW_PASSWORD }),
                )
                .await
            }
            Confirming::ChangeEmail => authed(
                app,
                reqwest::Method::POST,
                "/change-email",
                session,
                json!({ "new_email": "moved@example.com", "current_password": current_password }),
            )
            .await,
            Confirming::DeleteAccount => {
                authed(
                    app,
                    reqwest::Method::DELETE,
                    "/account",
                    session,
                    json!({ "current_password": current_password }),
                )
                .await
            }
        }
    }

    fn success(self) -> u16 {
        match self {
            Confirming::ChangeEmail => 202,
            Confirming::ChangePassword | Confirming::DeleteAccount => 200,
        }
    }
}

/// `threshold` wrong current passwords answer 400, the next 429 with `Retry-After`; then even
/// the right one is refused, on this route and at /login, until the window has passed.
async fn wrong_current_passwords_lock(route: Confirming) {
    let app = TestApp::start(|_| {}).await;
    let session = app.signup_and_login(EMAIL, PASSWORD).await;
    let threshold = app.rs.config().login_lockout_threshold;
    for _ in 0..threshold {
        route
            .send(&app, &session, WRONG)
            .await
            .assert_detail(400, WRONG_CURRENT);
    }
    assert_locked(&route.send(&app, &session, WRONG).await, 900);
    app.advance(Duration::seconds(100));
    assert_locked(&route.send(&app, &session, PASSWORD).await, 800);
    // The same lockout as /login's.
    assert_locked(&app.login(EMAIL, PASSWORD).await, 800);
    assert_eq!(app.failures(EMAIL).await, threshold as usize);

    app.advance(Duration::seconds(801));
    let r = route.send(&app, &session, PASSWORD).await;
    assert_eq!(r.status, route.success(), "{route:?}: {}", r.text);
}

#[tokio::test]
async fn wrong_current_passwords_lock_change_password() {
    wrong_current_passwords_lock(Confirming::ChangePassword).await;
}

#[tokio::test]
async fn wrong_current_passwords_lock_change_email() {
    wrong_current_passwords_lock(Confirming::ChangeEmail).await;
}

#[tokio::test]
async fn wrong_current_passwords_lock_delete_account() {
    wrong_current_passwords_lock(Confirming::DeleteAccount).await;
}

/// One count for all: failed logins lock the routes that ask for the current password, and
/// failures on those routes and at /login add up.
#[tokio::test]
async fn failed_logins_and_wrong_current_passwords_share_one_lockout() {
    let app = TestApp::start(|_| {}).await;
    let session = app.signup_and_login(EMAIL, PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(app.login(EMAIL, WRONG).await.status, 401);
    }
    for route in Confirming::ALL {
        assert_locked(&route.send(&app, &session, PASSWORD).await, 900);
    }
    assert!(app.user_by_email(EMAIL).await.is_some());

    app.advance(Duration::seconds(901));
    app.login(EMAIL, WRONG)
        .await
        .assert_detail(401, &invalid(4));
    app.login(EMAIL, WRONG)
        .await
        .assert_detail(401, &invalid(3));
    for _ in 0..3 {
        Confirming::ChangeEmail
            .send(&app, &session, WRONG)
            .await
            .assert_detail(400, WRONG_CURRENT);
    }
    assert_locked(&app.login(EMAIL, PASSWORD).await, 900);
}

// ------------------------------------------------------------------ 7. a full hashing queue

/// One hashing thread, a 50 ms wait budget and a real Argon2 cost: of ten logins at once, those
/// that found no free thread in time answer 503 with `Retry-After`, and count nothing in the
/// lockout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hashing_queue_answers_503_and_counts_nothing() {
    let threshold = 20;
    let app = TestApp::start(|c| {
        c.password_hash_concurrency = Some(1);
        c.password_hash_max_wait_ms = 50;
        c.password_hash_memory_kib = 65_536;
        c.password_hash_iterations = 3;
        // Every attempt of the burst is admitted, so a 503 that counted would show.
        c.login_lockout_threshold = threshold;
    })
    .await;
    // The hash made outside the app's queue (its own 50 ms budget is for the burst).
    let hasher = PasswordHasher::new(
        HashParams {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 1,
        },
        1,
    )
    .expect("hasher");
    let hash = hasher.hash(PASSWORD).await.expect("hash");
    app.create_user(EMAIL, None, |u| u.hashed_password = Some(hash))
        .await;

    let answers = join_all((0..10).map(|_| app.login(EMAIL, WRONG))).await;
    let mut n401 = 0;
    let mut n503 = 0;
    for r in &answers {
        match r.status {
            401 => n401 += 1,
            503 => {
                r.assert_detail(503, "Server is busy. Try again in 1 seconds.");
                assert_eq!(r.header("retry-after").as_deref(), Some("1"));
                n503 += 1;
            }
            s => panic!("login answered {s} {}", r.text),
        }
    }
    assert!(n503 > 0, "no 503 among {n401} 401s");
    assert_eq!(
        app.failures(EMAIL).await,
        n401,
        "only the evaluated attempts count"
    );

    // The next wrong password (retried while the queue is still busy: a 503 counts nothing)
    // has the attempts of the 401s alone behind it.
    let mut next = app.login(EMAIL, WRONG).await;
    for _ in 0..20 {
        if next.status != 503 {
            break;
        }
        next = app.login(EMAIL, WRONG).await;
    }
    next.assert_detail(401, &invalid(threshold as u64 - n401 as u64 - 1));
    assert_eq!(app.failures(EMAIL).await, n401 + 1);
    eprintln!("hashing queue: {n503} answers 503, {n401} evaluated");
}
