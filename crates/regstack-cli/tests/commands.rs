//! `init`, `create-admin`, `promote` and `doctor`, run as the built binary in temporary
//! working directories.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use regstack::config::{LoadOptions, RegStackConfig};
use regstack::core::flows::{LoginOutcome, RegisterInput, Registered};
use regstack::core::password::{HashParams, PasswordHasher};
use regstack::{Backend as _, User};

const BIN: &str = env!("CARGO_BIN_EXE_regstack");

/// Fast Argon2 parameters for every run.
const FAST: &[(&str, &str)] = &[
    ("REGSTACK_PASSWORD_HASH_MEMORY_KIB", "1024"),
    ("REGSTACK_PASSWORD_HASH_ITERATIONS", "1"),
    ("REGSTACK_PASSWORD_HASH_PARALLELISM", "1"),
];

const SECRET_40: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCD";

#[derive(Debug)]
struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

/// Run `regstack args…` in `dir` with `input` on stdin, no inherited `REGSTACK_*` variables and
/// fast hashing.
fn run_with(dir: &Path, args: &[&str], input: &str, envs: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.to_ascii_uppercase().starts_with("REGSTACK_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in FAST.iter().chain(envs) {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn regstack");
    let mut stdin = child.stdin.take().unwrap();
    // The command may exit before reading everything: ignore a broken pipe.
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(dir: &Path, args: &[&str]) -> Run {
    run_with(dir, args, "", &[])
}

/// A working directory whose `regstack.toml` names `./app.sqlite`.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("regstack.toml"),
        "database_url = \"sqlite+aiosqlite:///./app.sqlite\"\n",
    )
    .unwrap();
    dir
}

fn db_url(dir: &Path) -> String {
    format!("sqlite+aiosqlite:///{}", dir.join("app.sqlite").display())
}

async fn user(dir: &Path, email: &str) -> Option<User> {
    let backend = regstack::sqlite::SqliteBackend::connect(&db_url(dir))
        .await
        .unwrap();
    let user = backend.stores().users.get_by_email(email).await.unwrap();
    backend.close().await;
    user
}

async fn password_matches(password: &str, hash: &str) -> bool {
    let hasher = PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .unwrap();
    hasher.verify(password, hash).await.is_valid()
}

/// An in-process instance on the project's database (fast hashing, a JWT secret, verification
/// required).
async fn instance(dir: &Path) -> regstack::RegStack {
    let mut env: Vec<(String, String)> = FAST
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    env.push(("REGSTACK_DATABASE_URL".into(), db_url(dir)));
    env.push(("REGSTACK_JWT_SECRET".into(), SECRET_40.into()));
    let cfg = RegStackConfig::load_with(LoadOptions {
        toml_path: Some(dir.join("absent.toml")),
        secrets_path: Some(dir.join("absent.env")),
        env: Some(env),
        ..LoadOptions::default()
    })
    .unwrap();
    assert!(cfg.require_verification);
    let rs = regstack::from_config(cfg).await.unwrap();
    rs.install_schema().await.unwrap();
    rs
}

/// A pending registration written by an in-process instance on the project's database.
async fn register_pending(dir: &Path, email: &str, password: &str) {
    let rs = instance(dir).await;
    let outcome = rs
        .register(RegisterInput {
            email: email.try_into().unwrap(),
            password: password.try_into().unwrap(),
            full_name: Some("Carol".to_owned()),
        })
        .await
        .unwrap();
    assert!(matches!(outcome, Registered::Pending { .. }), "{outcome:?}");
    rs.close().await;
}

/// Whether `POST /login`'s flow signs `email` in with `password` (and no second factor).
async fn logs_in(dir: &Path, email: &str, password: &str) -> bool {
    let rs = instance(dir).await;
    let outcome = rs.login(&email.try_into().unwrap(), password).await;
    rs.close().await;
    matches!(outcome, Ok(LoginOutcome::Token(_)))
}

fn id_in(text: &str) -> String {
    let start = text.find("(id=").expect("an id") + 4;
    text[start..].split(')').next().unwrap().to_owned()
}

#[test]
fn version_is_printed_like_0_9_3() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["--version"]);
    assert_eq!(r.code, 0);
    assert_eq!(
        r.out,
        format!("regstack, version {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test]
async fn create_admin_creates_then_promotes_without_touching_the_password() {
    let dir = project();
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "Root@Example.COM",
            "--password",
            "first password",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.err.starts_with("Admin Root@example.com created (id="),
        "{}",
        r.all()
    );
    let id = id_in(&r.err);
    // No JWT secret was configured: none was written either.
    assert!(!dir.path().join("regstack.secrets.env").exists());
    let admin = user(dir.path(), "Root@example.com").await.unwrap();
    assert_eq!(admin.id, id);
    assert!(admin.is_superuser && admin.is_verified && admin.is_active);
    let hash = admin.hashed_password.clone().unwrap();
    assert!(password_matches("first password", &hash).await);

    // Again, without --promote-existing: refused, nothing changed.
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "Root@example.com",
            "--password",
            "second password",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(
        r.err,
        format!(
            "A user with email Root@example.com already exists and is already an administrator \
             (id={id}); nothing was changed.\nTo make that existing account an administrator, \
             re-run with --promote-existing: it keeps its own password (the password given here \
             is not applied).\n"
        )
    );
    assert_eq!(user(dir.path(), "Root@example.com").await.unwrap(), admin);

    // With it: accepted, and the second password is not applied.
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "Root@example.com",
            "--password",
            "second password",
            "--promote-existing",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.err,
        format!(
            "User Root@example.com promoted to admin (id={id}).\n\
             Its existing password was kept; the password given to create-admin was NOT \
             applied. Whoever knows that account's password can now sign in as an \
             administrator.\n"
        )
    );
    let again = user(dir.path(), "Root@example.com").await.unwrap();
    assert_eq!(again.hashed_password.as_deref(), Some(hash.as_str()));
    assert!(again.is_superuser);
    assert!(logs_in(dir.path(), "Root@example.com", "first password").await);
}

/// Someone registered the address first: `create-admin` must not hand that account (and its
/// password) administrator rights unless asked to.
#[tokio::test]
async fn create_admin_refuses_an_existing_account_without_promote_existing() {
    let dir = project();
    register_pending(dir.path(), "admin@example.com", "squatter password").await;
    let r = run(dir.path(), &["promote", "--email", "admin@example.com"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let before = user(dir.path(), "admin@example.com").await.unwrap();
    assert!(!before.is_superuser);
    let hash = before.hashed_password.clone().unwrap();

    // The password typed twice on stdin, then refused.
    let r = run_with(
        dir.path(),
        &["create-admin", "--email", "admin@example.com"],
        "operator password\noperator password\n",
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.err.contains(&format!(
            "A user with email admin@example.com already exists (id={}); nothing was changed.\n",
            before.id
        )),
        "{}",
        r.all()
    );
    assert!(
        r.err.contains("re-run with --promote-existing"),
        "{}",
        r.all()
    );
    assert!(!r.err.contains("promoted"), "{}", r.all());
    let after = user(dir.path(), "admin@example.com").await.unwrap();
    assert_eq!(after, before, "the row is unchanged");
    assert!(!after.is_superuser);
    assert!(!password_matches("operator password", &hash).await);
    assert!(logs_in(dir.path(), "admin@example.com", "squatter password").await);

    // --promote-existing promotes it; the operator's password is still not applied.
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "admin@example.com",
            "--password",
            "operator password",
            "--promote-existing",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.err.starts_with(&format!(
            "User admin@example.com promoted to admin (id={}).\n\
             Its existing password was kept; the password given to create-admin was NOT applied.",
            before.id
        )),
        "{}",
        r.all()
    );
    let promoted = user(dir.path(), "admin@example.com").await.unwrap();
    assert!(promoted.is_superuser && promoted.is_verified && promoted.is_active);
    assert_eq!(promoted.hashed_password.as_deref(), Some(hash.as_str()));
    assert!(logs_in(dir.path(), "admin@example.com", "squatter password").await);
    assert!(!password_matches("operator password", &hash).await);

    // The flag changes nothing for a new address: created with the given password.
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "fresh@example.com",
            "--password",
            "fresh password",
            "--promote-existing",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.err,
        format!("Admin fresh@example.com created (id={}).\n", id_in(&r.err))
    );
    assert!(logs_in(dir.path(), "fresh@example.com", "fresh password").await);
}

#[tokio::test]
async fn create_admin_reads_the_password_from_stdin_twice() {
    let dir = project();
    let r = run_with(
        dir.path(),
        &["create-admin", "--email", "piped@example.com"],
        "from stdin 123\nfrom stdin 123\n",
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.err.contains("Password: "), "{}", r.all());
    assert!(r.err.contains("Repeat password: "), "{}", r.all());
    assert!(
        r.err.contains("Admin piped@example.com created"),
        "{}",
        r.all()
    );
    let admin = user(dir.path(), "piped@example.com").await.unwrap();
    assert!(password_matches("from stdin 123", admin.hashed_password.as_deref().unwrap()).await);

    // Two different answers, then the input ends.
    let r = run_with(
        dir.path(),
        &["create-admin", "--email", "other@example.com"],
        "one password\nanother one\n",
        &[],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.err.contains("do not match"), "{}", r.all());
    assert!(r.err.contains("Aborted!"), "{}", r.all());

    // Too short, typed twice.
    let r = run_with(
        dir.path(),
        &["create-admin", "--email", "other@example.com"],
        "short\nshort\n",
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(user(dir.path(), "other@example.com").await.is_none());
}

#[test]
fn create_admin_usage_errors_exit_2() {
    let dir = project();
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "a@example.com",
            "--password",
            "1234567",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.err.contains("at least 8 characters"), "{}", r.all());
    assert!(
        r.err.contains("Usage: regstack create-admin"),
        "{}",
        r.all()
    );

    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "not-an-email",
            "--password",
            "12345678",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.err.contains("must have an @-sign"), "{}", r.all());

    let r = run(dir.path(), &["create-admin", "--password", "12345678"]);
    assert_eq!(r.code, 2, "{}", r.all());

    // Nothing was written: the checks come before the database.
    assert!(!dir.path().join("app.sqlite").exists());

    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "a@example.com",
            "--password",
            "12345678",
            "--config",
            "missing.toml",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.err.contains("does not exist"), "{}", r.all());
}

#[tokio::test]
async fn promote_verifies_a_pending_registration_once() {
    let dir = project();
    register_pending(dir.path(), "carol@example.com", "carol's password").await;
    assert!(user(dir.path(), "carol@example.com").await.is_none());

    let r = run(dir.path(), &["promote", "--email", "carol@example.com"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.err.starts_with("User carol@example.com verified (id="),
        "{}",
        r.all()
    );
    let carol = user(dir.path(), "carol@example.com").await.unwrap();
    assert_eq!(carol.id, id_in(&r.err));
    assert!(carol.is_verified && carol.is_active && !carol.is_superuser);
    assert_eq!(carol.full_name.as_deref(), Some("Carol"));
    let hash = carol.hashed_password.clone().unwrap();
    assert!(password_matches("carol's password", &hash).await);

    let r = run(dir.path(), &["promote", "--email", "carol@example.com"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(
        r.err,
        "A user with email carol@example.com already exists.\n"
    );

    let r = run(dir.path(), &["promote", "--email", "nobody@example.com"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert_eq!(r.err, "No pending registration for nobody@example.com.\n");

    let r = run(dir.path(), &["promote", "--email", "nobody"]);
    assert_eq!(r.code, 2, "{}", r.all());

    // An existing user is not made an administrator without --promote-existing.
    let r = run(
        dir.path(),
        &[
            "create-admin",
            "--email",
            "carol@example.com",
            "--password",
            "ignored password",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.err.contains("--promote-existing"), "{}", r.all());
    assert_eq!(user(dir.path(), "carol@example.com").await.unwrap(), carol);
}

/// A migrated project with a JWT secret in the secrets file.
fn healthy_project() -> tempfile::TempDir {
    let dir = project();
    std::fs::write(
        dir.path().join("regstack.secrets.env"),
        format!("REGSTACK_JWT_SECRET={SECRET_40}\n"),
    )
    .unwrap();
    let r = run(dir.path(), &["migrate"]);
    assert_eq!(r.code, 0, "{}", r.all());
    dir
}

#[test]
fn doctor_passes_a_healthy_set_up_and_sends_a_probe() {
    let dir = healthy_project();
    let r = run(dir.path(), &["doctor"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert_eq!(
        r.out,
        "✔ jwt secret: present (40 chars)\n\
         ✔ backend: sqlite reachable\n\
         ✔ schema: at head (0003)\n\
         ✔ email backend: console → ConsoleMailer\n\
         ✔ sms backend: null → NullSms\n"
    );
    assert_eq!(r.err, "");

    let r = run(
        dir.path(),
        &[
            "doctor",
            "--send-test-email",
            "ops@example.com",
            "--check-dns",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.out
            .contains("⚠ dns: dns checks need network access: skipped\n"),
        "{}",
        r.all()
    );
    assert!(
        r.out
            .ends_with("✔ email send: probe sent to ops@example.com through the console backend\n"),
        "{}",
        r.all()
    );
    assert!(
        r.err.contains("[RegStack] regstack doctor probe"),
        "{}",
        r.all()
    );
    assert!(r.err.ends_with("1 advisory warning(s).\n"), "{}", r.all());

    let r = run(dir.path(), &["doctor", "--send-test-email", "nope"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.out
            .contains("✘ email send: send failed: invalid address 'nope'")
    );
}

#[test]
fn doctor_names_a_missing_or_short_jwt_secret() {
    let dir = healthy_project();
    std::fs::remove_file(dir.path().join("regstack.secrets.env")).unwrap();
    let r = run(dir.path(), &["doctor"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.out
            .starts_with("✘ jwt secret: missing — run `regstack init`\n✔ backend"),
        "{}",
        r.all()
    );
    assert_eq!(r.err, "1 check(s) failed.\n");

    let r = run_with(
        dir.path(),
        &["doctor"],
        "",
        &[("REGSTACK_JWT_SECRET", "short")],
    );
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.out
            .contains("✘ jwt secret: too short (5 chars; need ≥32)\n"),
        "{}",
        r.all()
    );
}

#[test]
fn doctor_reports_an_unmigrated_database_without_creating_it() {
    let dir = project();
    let env = [("REGSTACK_JWT_SECRET", SECRET_40)];
    let r = run_with(dir.path(), &["doctor"], "", &env);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.out.contains(
            "✘ schema: alembic_version table missing (run `regstack migrate`); bundled head is 0003\n"
        ),
        "{}",
        r.all()
    );
    assert!(
        !dir.path().join("app.sqlite").exists(),
        "doctor wrote nothing"
    );

    // An existing but empty database file.
    std::fs::write(dir.path().join("app.sqlite"), "").unwrap();
    let r = run_with(dir.path(), &["doctor"], "", &env);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.out.contains("✔ backend: sqlite reachable\n"),
        "{}",
        r.all()
    );
    assert!(
        r.out.contains("✘ schema: alembic_version table missing"),
        "{}",
        r.all()
    );
}

#[test]
fn doctor_counts_an_unreachable_database_and_a_missing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("regstack.toml");
    std::fs::write(
        &toml,
        "database_url = \"sqlite+aiosqlite:///./no/such/dir/app.sqlite\"\n",
    )
    .unwrap();
    let r = run(dir.path(), &["doctor"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.out.contains("✘ backend: sqlite unreachable: "),
        "{}",
        r.all()
    );
    assert!(
        r.out.contains("⚠ schema: skipped (backend unreachable)\n"),
        "{}",
        r.all()
    );
    assert!(
        r.err
            .contains("1 advisory warning(s).\n2 check(s) failed.\n"),
        "{}",
        r.all()
    );

    std::fs::write(&toml, "database_url = \"mysql://db.invalid/app\"\n").unwrap();
    let r = run(dir.path(), &["doctor", "--config", toml.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.out.contains("✘ backend: mysql unreachable: "),
        "{}",
        r.all()
    );

    std::fs::write(&toml, "[email]\nbackend = \"ses\"\n").unwrap();
    let r = run(
        dir.path(),
        &["doctor", "--send-test-email", "ops@example.com"],
    );
    assert!(
        r.out
            .contains("✘ email backend: backend 'ses' failed to instantiate: "),
        "{}",
        r.all()
    );
    assert!(
        r.out
            .contains("⚠ email send: skipped (email backend unavailable)"),
        "{}",
        r.all()
    );

    std::fs::write(&toml, "jwt_ttl_seconds = 5\n").unwrap();
    let r = run(dir.path(), &["doctor"]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.out.starts_with("✘ config: "), "{}", r.all());
    assert!(r.out.contains("jwt_ttl_seconds"), "{}", r.all());
}

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("regstack.toml"), dir.join("regstack.secrets.env"))
}

#[test]
fn init_writes_files_that_load_migrate_and_pass_doctor() {
    let dir = tempfile::tempdir().unwrap();
    // App name, then the defaults for everything else (empty lines, then end of input).
    let r = run_with(dir.path(), &["init"], "Test App\n\n\n\n", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (toml, secrets) = files(dir.path());
    assert!(
        r.out
            .starts_with("Wrote ./regstack.toml\nWrote ./regstack.secrets.env\n"),
        "{}",
        r.all()
    );
    assert!(r.err.contains("App name [MyApp]: "), "{}", r.all());

    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(
        text.starts_with(
            "# regstack.toml — generated by `regstack init`. Re-run to regenerate.\n\
             app_name = \"Test App\"\nbase_url = \"http://localhost:8000\"\nbehind_proxy = false\n\n\
             jwt_ttl_seconds = 7200\n\nrequire_verification = false\n"
        ),
        "{text}"
    );
    let env = std::fs::read_to_string(&secrets).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    assert_eq!(
        lines[0],
        "# regstack.secrets.env — keep out of version control."
    );
    let secret = lines[1].strip_prefix("REGSTACK_JWT_SECRET=").unwrap();
    assert_eq!(secret.len(), 86);
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_eq!(
        lines[2],
        "REGSTACK_DATABASE_URL=sqlite+aiosqlite:///./test_app.sqlite"
    );
    assert_eq!(lines.len(), 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let cfg = RegStackConfig::load_with(LoadOptions {
        toml_path: Some(toml.clone()),
        secrets_path: Some(secrets.clone()),
        env: Some(Vec::new()),
        ..LoadOptions::default()
    })
    .unwrap();
    assert_eq!(cfg.app_name, "Test App");
    assert_eq!(cfg.jwt_secret.expose(), secret);
    assert!(!cfg.require_verification && cfg.allow_registration);
    cfg.check_startup().unwrap();

    let r = run(dir.path(), &["migrate"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(dir.path().join("test_app.sqlite").exists());
    let r = run(dir.path(), &["doctor"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(
        r.out.contains("✔ jwt secret: present (86 chars)"),
        "{}",
        r.all()
    );
    assert!(!r.out.contains('✘'), "{}", r.all());
}

#[test]
fn init_respects_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["init", "--force", "--if-missing"]);
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(!files(dir.path()).0.exists());

    let r = run(dir.path(), &["init"]);
    assert_eq!(r.code, 0, "{}", r.all());
    let (toml, secrets) = files(dir.path());
    let before = (
        std::fs::read_to_string(&toml).unwrap(),
        std::fs::read_to_string(&secrets).unwrap(),
    );
    let read = || {
        (
            std::fs::read_to_string(&toml).unwrap(),
            std::fs::read_to_string(&secrets).unwrap(),
        )
    };

    let r = run(dir.path(), &["init", "--if-missing"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.err.contains("--if-missing"), "{}", r.all());
    assert_eq!(read(), before);

    // Without a flag: asked first; declining (or no answer) aborts.
    let r = run_with(dir.path(), &["init"], "n\n", &[]);
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.err.contains("Overwrite? [y/N]"), "{}", r.all());
    assert!(r.err.contains("Aborted!"), "{}", r.all());
    assert_eq!(read(), before);

    let r = run_with(dir.path(), &["init"], "y\nAgreed\n", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(read().0.contains("app_name = \"Agreed\""));

    // --force overwrites without asking (the first answer is the app name).
    let r = run_with(dir.path(), &["init", "--force"], "Forced\n", &[]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(!r.err.contains("Overwrite?"), "{}", r.all());
    let after = read();
    assert!(after.0.contains("app_name = \"Forced\""));
    assert_ne!(after.1, before.1, "a fresh secret");
}

#[test]
fn init_writes_where_config_or_target_points() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["init", "--config", "conf/app.toml"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(dir.path().join("conf/regstack.toml").exists());
    assert!(dir.path().join("conf/regstack.secrets.env").exists());
    assert!(r.out.contains("cd conf"), "{}", r.all());

    let r = run(dir.path(), &["init", "--target", "old"]);
    assert_eq!(r.code, 0, "{}", r.all());
    assert!(r.err.contains("--target is deprecated"), "{}", r.all());
    assert!(!r.err.contains('\u{1b}'), "no colour codes");
    assert!(dir.path().join("old/regstack.toml").exists());

    let r = run(dir.path(), &["init", "--target", "a", "--config", "b"]);
    assert_eq!(r.code, 2, "{}", r.all());
}
