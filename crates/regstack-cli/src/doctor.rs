//! `regstack doctor`: read-only checks of a configuration (regstack 0.9.3's CLI and pages B.4).
//!
//! Each check prints `✔ name: detail` (pass), `✘ name: detail` (fail) or `⚠ name: detail`
//! (advisory) on stdout; the footer goes to stderr. The exit status is the number of failed
//! checks, capped at 255 (0.9.3 exits 1 for any number).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use regstack::config::{MIN_JWT_SECRET_CHARS, RegStackConfig};
use regstack::core::mail::{DefaultComposer, EmailKind, compose};
use regstack::{Backend, BackendKind, Mailer};

use crate::{describe, load_config};

/// How long connecting to or pinging the database may take.
const DB_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Advisory,
}

#[derive(Debug, Default)]
struct Report {
    failed: u32,
    advisories: u32,
}

impl Report {
    fn line(&mut self, status: Status, name: &str, detail: impl AsRef<str>) {
        let symbol = match status {
            Status::Pass => '✔',
            Status::Fail => {
                self.failed += 1;
                '✘'
            }
            Status::Advisory => {
                self.advisories += 1;
                '⚠'
            }
        };
        println!("{symbol} {name}: {}", detail.as_ref());
    }

    fn pass(&mut self, name: &str, detail: impl AsRef<str>) {
        self.line(Status::Pass, name, detail);
    }

    fn fail(&mut self, name: &str, detail: impl AsRef<str>) {
        self.line(Status::Fail, name, detail);
    }

    fn advise(&mut self, name: &str, detail: impl AsRef<str>) {
        self.line(Status::Advisory, name, detail);
    }

    /// Print the footer and turn the failure count into the exit status.
    fn finish(self) -> ExitCode {
        if self.advisories > 0 {
            eprintln!("{} advisory warning(s).", self.advisories);
        }
        if self.failed > 0 {
            eprintln!("{} check(s) failed.", self.failed);
        }
        ExitCode::from(u8::try_from(self.failed).unwrap_or(u8::MAX))
    }
}

/// Logs (the console mail transport's output) go to stderr; `RUST_LOG` filters them.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,regstack.email.console=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// The type name of a transport, from its `Debug` output (`ConsoleMailer { .. }` → `ConsoleMailer`).
fn type_name(value: &dyn std::fmt::Debug) -> String {
    let text = format!("{value:?}");
    text.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn kind_label(kind: BackendKind) -> &'static str {
    match kind {
        BackendKind::Sqlite => "sqlite",
        BackendKind::Postgres => "postgres",
        BackendKind::Mongo => "mongo",
    }
}

/// What to call the backend of a URL whose scheme is not recognised.
fn scheme_label(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => scheme.to_ascii_lowercase(),
        _ => "database".to_owned(),
    }
}

fn check_jwt_secret(report: &mut Report, cfg: &RegStackConfig) {
    let n = cfg.jwt_secret.expose().chars().count();
    if n == 0 {
        report.fail("jwt secret", "missing — run `regstack init`");
    } else if n < MIN_JWT_SECRET_CHARS {
        report.fail(
            "jwt secret",
            format!("too short ({n} chars; need ≥{MIN_JWT_SECRET_CHARS})"),
        );
    } else {
        report.pass("jwt secret", format!("present ({n} chars)"));
    }
}

/// What the `backend` check found.
#[derive(Debug)]
enum Database {
    /// Connected and answering.
    Open(Arc<dyn Backend>),
    /// A SQLite file that does not exist yet (its directory does): not created by a check.
    NotCreated,
    /// Not reachable (already reported).
    Unreachable,
}

/// A SQLite database file that does not exist, and whether its directory does.
fn missing_sqlite_file(url: &str) -> Option<(PathBuf, bool)> {
    let Ok(regstack::sqlite::Location::File(path)) = regstack::sqlite::parse_url(url) else {
        return None;
    };
    if path.exists() {
        return None;
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir_exists = dir.is_dir();
    Some((path, dir_exists))
}

/// Connect and ping (a missing SQLite file is inspected, never created: doctor writes nothing).
async fn check_backend(report: &mut Report, cfg: &RegStackConfig) -> Database {
    let url = cfg.database_url.expose();
    let kind = match regstack::backend_kind(url) {
        Ok(kind) => kind,
        Err(e) => {
            report.fail(
                "backend",
                format!("{} unreachable: {}", scheme_label(url), describe(&e)),
            );
            return Database::Unreachable;
        }
    };
    let label = kind_label(kind);
    if kind == BackendKind::Sqlite
        && let Some((path, dir_exists)) = missing_sqlite_file(url)
    {
        if dir_exists {
            report.pass(
                "backend",
                format!(
                    "{label} reachable ({} does not exist yet; it is created on first use)",
                    path.display()
                ),
            );
            return Database::NotCreated;
        }
        report.fail(
            "backend",
            format!(
                "{label} unreachable: cannot create {}: its directory does not exist",
                path.display()
            ),
        );
        return Database::Unreachable;
    }
    let backend = match tokio::time::timeout(DB_TIMEOUT, regstack::connect(cfg)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            report.fail("backend", format!("{label} unreachable: {}", describe(&e)));
            return Database::Unreachable;
        }
        Err(_) => {
            report.fail(
                "backend",
                format!("{label} unreachable: no answer within {DB_TIMEOUT:?}"),
            );
            return Database::Unreachable;
        }
    };
    let ping = match tokio::time::timeout(DB_TIMEOUT, backend.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err(format!("no answer within {DB_TIMEOUT:?}")),
    };
    match ping {
        Ok(()) => {
            report.pass("backend", format!("{label} reachable"));
            Database::Open(backend)
        }
        Err(e) => {
            report.fail("backend", format!("{label} unreachable: {e}"));
            backend.close().await;
            Database::Unreachable
        }
    }
}

fn schema_missing(head: &str) -> String {
    format!("alembic_version table missing (run `regstack migrate`); bundled head is {head}")
}

async fn check_schema(report: &mut Report, db: &Database) {
    let backend = match db {
        Database::Open(b) => b,
        Database::NotCreated => {
            report.fail("schema", schema_missing(regstack::sqlite::HEAD_REVISION));
            return;
        }
        Database::Unreachable => {
            report.advise("schema", "skipped (backend unreachable)");
            return;
        }
    };
    match backend.schema_status().await {
        Err(e) => report.fail("schema", format!("check failed: {}", describe(&e))),
        Ok(status) if status.is_at_head() => {
            report.pass("schema", format!("at head ({})", status.head));
        }
        Ok(status) => match status.current {
            None => report.fail("schema", schema_missing(&status.head)),
            Some(current) => report.fail(
                "schema",
                format!(
                    "deployed revision {current} ≠ bundled head {} (run `regstack migrate`)",
                    status.head
                ),
            ),
        },
    }
}

fn check_email_backend(report: &mut Report, cfg: &RegStackConfig) -> Option<Arc<dyn Mailer>> {
    let name = cfg.email.backend.as_str();
    match regstack::mailer_from_config(cfg) {
        Ok(mailer) => {
            report.pass("email backend", format!("{name} → {}", type_name(&*mailer)));
            Some(mailer)
        }
        Err(e) => {
            report.fail(
                "email backend",
                format!("backend '{name}' failed to instantiate: {}", describe(&e)),
            );
            None
        }
    }
}

fn check_sms_backend(report: &mut Report, cfg: &RegStackConfig) {
    let name = cfg.sms.backend.as_str();
    match regstack::sms_from_config(cfg) {
        Ok(sms) => report.pass("sms backend", format!("{name} → {}", type_name(&*sms))),
        Err(e) => report.fail(
            "sms backend",
            format!("backend '{name}' failed to instantiate: {}", describe(&e)),
        ),
    }
}

async fn check_send(
    report: &mut Report,
    cfg: &RegStackConfig,
    mailer: Option<&Arc<dyn Mailer>>,
    to: &str,
) {
    let Some(mailer) = mailer else {
        report.advise("email send", "skipped (email backend unavailable)");
        return;
    };
    let to = match regstack::core::email_address::normalize(to) {
        Ok(addr) => addr,
        Err(e) => {
            report.fail(
                "email send",
                format!("send failed: invalid address '{to}': {e}"),
            );
            return;
        }
    };
    let msg = compose(&DefaultComposer, cfg, EmailKind::Probe, &to, None, "");
    let sent = match msg.check_headers() {
        Ok(()) => mailer.send(&msg).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(()) => report.pass(
            "email send",
            format!(
                "probe sent to {to} through the {} backend",
                cfg.email.backend.as_str()
            ),
        ),
        Err(e) => report.fail("email send", format!("send failed: {}", describe(&e))),
    }
}

pub(crate) async fn doctor(
    config: Option<PathBuf>,
    check_dns: bool,
    send_test_email: Option<String>,
) -> ExitCode {
    init_logging();
    let mut report = Report::default();
    let cfg = match load_config(config) {
        Ok(cfg) => cfg,
        Err(e) => {
            let e = e.strip_prefix("configuration error: ").unwrap_or(&e);
            report.fail("config", e);
            return report.finish();
        }
    };
    check_jwt_secret(&mut report, &cfg);
    let db = check_backend(&mut report, &cfg).await;
    check_schema(&mut report, &db).await;
    if let Database::Open(b) = db {
        b.close().await;
    }
    let mailer = check_email_backend(&mut report, &cfg);
    check_sms_backend(&mut report, &cfg);
    if check_dns {
        report.advise("dns", "dns checks need network access: skipped");
    }
    if let Some(to) = send_test_email {
        check_send(&mut report, &cfg, mailer.as_ref(), &to).await;
    }
    report.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names_come_from_debug() {
        let m = regstack::mail::ConsoleMailer::new(false);
        assert_eq!(type_name(&m), "ConsoleMailer");
    }

    #[test]
    fn unknown_schemes_are_named() {
        assert_eq!(scheme_label("MySQL://h/x"), "mysql");
        assert_eq!(scheme_label("nonsense"), "database");
    }

    #[test]
    fn the_exit_status_counts_failures() {
        let mut r = Report::default();
        r.fail("a", "x");
        r.advise("b", "y");
        r.pass("c", "z");
        assert_eq!((r.failed, r.advisories), (1, 1));
        let r = Report {
            failed: 300,
            advisories: 0,
        };
        assert_eq!(r.finish(), ExitCode::from(255));
    }
}
