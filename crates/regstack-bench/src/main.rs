//! `regstack-bench`: the load test behind `cargo xtask bench` (see `docs/benchmarks.md`).
//!
//! It starts the given server binary (`regstack-bench-server --port N`, what `regstack serve` runs plus `GET /bench/noop`) on a loopback port over a
//! fresh SQLite database, and over a fresh PostgreSQL database when `--postgres` names a
//! reachable server, seeds users, drives each scenario on a fixed number of keep-alive
//! connections, measures the raw Argon2id verification rate in-process at the same parameters
//! and permit count, prints one table and checks the bars. Exit status: 0 when every bar
//! holds, 1 when one fails (each failure is printed), 2 on a usage or set-up error.
//!
//! ```text
//! regstack-bench --server target/bench-server/regstack-bench-server [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
//!                [--quick] [--only sqlite|postgres] [--filter <scenario name part>] [--permits N]
//!                [--nice N]
//! ```

mod load;
mod server;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;
use regstack_core::password::{HashParams, PasswordHasher};

use crate::load::{Load, MakeRequest, Stats};
use crate::server::{Database, PASSWORD, Server, StartError};

const MIB: f64 = 1024.0;

/// Connection counts every scenario runs at.
const CONNS: [usize; 2] = [16, 64];
/// Connections of the login flood whose peak memory is checked.
const FLOOD_CONNS: usize = 500;
/// Total request rate of the `GET /me` probe that runs during a login flood.
const PROBE_RATE: f64 = 200.0;
/// Extra starts on fresh SQLite files before the measured one (start time is their median).
const EXTRA_STARTS: usize = 4;
/// Seeded users (logins and `/me` rotate over them).
const USERS: usize = 4;

#[derive(Debug)]
struct Args {
    server: PathBuf,
    postgres: Option<String>,
    quick: bool,
    only: Option<String>,
    /// Development aid: run only the scenarios whose name contains this.
    filter: Option<String>,
    /// Argon2 permits of the server and of the in-process measurement (default: regstack's,
    /// one fewer than the cores, at least one).
    permits: Option<usize>,
    /// Nice value of the hashing threads, server and in-process (default: regstack's).
    nice: Option<u8>,
}

impl Args {
    fn wants(&self, scenario: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| f.split('|').any(|f| scenario.contains(f)))
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        server: PathBuf::new(),
        postgres: None,
        quick: false,
        only: None,
        filter: None,
        permits: None,
        nice: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--server" => args.server = it.next().ok_or("--server needs a path")?.into(),
            "--postgres" => args.postgres = Some(it.next().ok_or("--postgres needs a URL")?),
            "--quick" => args.quick = true,
            "--only" => args.only = Some(it.next().ok_or("--only needs sqlite|postgres")?),
            "--filter" => args.filter = Some(it.next().ok_or("--filter needs a text")?),
            "--permits" => {
                let n = it.next().ok_or("--permits needs a number")?;
                args.permits = Some(n.parse().map_err(|_| format!("--permits {n}"))?);
            }
            "--nice" => {
                let n = it.next().ok_or("--nice needs a number")?;
                args.nice = Some(n.parse().map_err(|_| format!("--nice {n}"))?);
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if args.server.as_os_str().is_empty() {
        return Err("--server <path to the regstack binary> is required".into());
    }
    args.server = std::fs::canonicalize(&args.server)
        .map_err(|e| format!("{}: {e}", args.server.display()))?;
    Ok(args)
}

/// How the server (and the in-process measurement) hashes: `permits` threads at `nice`.
#[derive(Debug, Clone, Copy)]
struct Hashing {
    permits: usize,
    nice: u8,
}

/// How long each kind of scenario runs.
#[derive(Debug, Clone, Copy)]
struct Timing {
    fast_warmup: Duration,
    fast_window: Duration,
    hash_window: Duration,
    probe_warmup: Duration,
    probe_window: Duration,
    flood_window: Duration,
    raw_window: Duration,
}

impl Timing {
    fn new(quick: bool) -> Self {
        let s = |secs: f64| Duration::from_secs_f64(if quick { secs / 3.0 } else { secs });
        Timing {
            fast_warmup: s(0.5),
            fast_window: s(3.0),
            hash_window: s(4.0),
            probe_warmup: s(1.0),
            probe_window: s(5.0),
            flood_window: s(4.0),
            raw_window: s(4.0),
        }
    }
}

/// One line of the table.
#[derive(Debug)]
struct Row {
    scenario: &'static str,
    conns: usize,
    stats: Stats,
}

/// Everything measured on one backend.
#[derive(Debug, Default)]
struct BackendRun {
    name: &'static str,
    rows: Vec<Row>,
    /// Start to first 200 of every start, in order (the last one is the server measured).
    starts_ms: Vec<f64>,
    idle_rss_kib: u64,
    peak_rss_kib: u64,
    after_rss_kib: u64,
    crashed: bool,
}

impl BackendRun {
    /// The median start to first 200, in milliseconds.
    fn start_ms(&self) -> f64 {
        let mut v = self.starts_ms.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }

    fn row(&self, scenario: &str, conns: usize) -> Option<&Stats> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.conns == conns)
            .map(|r| &r.stats)
    }
}

const NOOP: &str = "GET /bench/noop (trivial)";
const ME: &str = "GET /me";
const LOGIN: &str = "POST /login (right password)";
const LOGIN_UNKNOWN: &str = "POST /login (unknown email)";
const REGISTER: &str = "POST /register (fresh email)";
const ME_PROBE: &str = "GET /me during login flood";
const FLOOD: &str = "  the login flood itself";
const RSS_FLOOD: &str = "POST /login, 500-conn flood";
const RAW_ARGON2: &str = "Argon2id verify, in-process";
const RAW_ARGON2_AFTER: &str = "Argon2id verify, in-process, after the logins";

fn login_body(email: &str, password: &str) -> String {
    serde_json::json!({ "email": email, "password": password }).to_string()
}

/// Log every seeded user in once; their access tokens.
async fn tokens(srv: &Server, emails: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for email in emails {
        let mut s = load::connect(srv.addr).await?;
        let req = load::request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(login_body(email, PASSWORD)),
        );
        let (status, body) = load::send(&mut s, req).await?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("login answer: {e}"))?;
        match (status, v["access_token"].as_str()) {
            (200, Some(t)) => out.push(t.to_owned()),
            _ => return Err(format!("login of {email}: {status} {v}")),
        }
    }
    Ok(out)
}

/// Argon2id verifications at these parameters and permits, in this process, with `concurrency`
/// verifications outstanding at all times: the count inside the window (`ok`, `elapsed`).
async fn raw_argon2(hashing: Hashing, concurrency: usize, t: Timing) -> Result<Stats, String> {
    let hasher = Arc::new(
        PasswordHasher::new(
            HashParams {
                memory_kib: server::MEMORY_KIB,
                iterations: server::ITERATIONS,
                parallelism: server::PARALLELISM,
            },
            hashing.permits,
        )
        .map_err(|e| e.to_string())?
        .with_nice(hashing.nice),
    );
    let phc = Arc::new(hasher.hash(PASSWORD).await.map_err(|e| e.to_string())?);
    let start = Instant::now();
    let from = start + Duration::from_millis(300);
    let until = from + t.raw_window;
    let done = Arc::new(std::sync::Mutex::new(Stats {
        elapsed: t.raw_window,
        ..Stats::default()
    }));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (hasher, phc, done) = (hasher.clone(), phc.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let v = hasher.verify(PASSWORD, &phc).await;
                let now = Instant::now();
                if now > until {
                    return;
                }
                if now >= from
                    && v.is_valid()
                    && let Ok(mut stats) = done.lock()
                {
                    stats.answered(now);
                }
            }
        }));
    }
    tokio::time::sleep_until(until.into()).await;
    for t in tasks {
        t.abort();
    }
    let stats = std::mem::take(&mut *done.lock().map_err(|e| e.to_string())?);
    Ok(stats)
}

fn base_load(srv: &Server, conns: usize, expect: &'static [u16], make: MakeRequest) -> Load {
    Load {
        addr: srv.addr,
        conns,
        warmup: Duration::ZERO,
        window: Duration::ZERO,
        max_requests: u64::MAX,
        timeout: Duration::from_secs(60),
        pace: None,
        expect,
        make,
    }
}

fn me_request(tokens: Arc<Vec<String>>) -> MakeRequest {
    Arc::new(move |n| {
        let t = &tokens[n as usize % tokens.len()];
        load::request(Method::GET, "/api/auth/me", Some(t), None)
    })
}

fn login_request(emails: Arc<Vec<String>>) -> MakeRequest {
    Arc::new(move |n| {
        let e = &emails[n as usize % emails.len()];
        load::request(
            Method::POST,
            "/api/auth/login",
            None,
            Some(login_body(e, PASSWORD)),
        )
    })
}

async fn run_backend(
    args: &Args,
    name: &'static str,
    db: &Database,
    hashing: Hashing,
    t: Timing,
    log: &mut String,
) -> Result<BackendRun, StartError> {
    let nonce = format!("{}-{}", std::process::id(), name);
    let dir = std::env::temp_dir().join(format!("regstack-bench-{nonce}"));
    let _ = std::fs::remove_dir_all(&dir);
    let mut run = BackendRun {
        name,
        ..BackendRun::default()
    };
    // A start is one sample of disk and scheduler luck (13 fsyncs bring a fresh SQLite file to
    // head): time a few, each on a fresh database file, and keep the median.
    if matches!(db, Database::Sqlite) {
        for i in 0..EXTRA_STARTS {
            let d = dir.join(format!("start-{i}"));
            let s = Server::start(&args.server, &d, db, hashing).await?;
            run.starts_ms
                .push(s.start_to_first_200.as_secs_f64() * 1000.0);
            s.stop();
        }
    }
    let mut srv = Server::start(&args.server, &dir, db, hashing).await?;
    run.starts_ms
        .push(srv.start_to_first_200.as_secs_f64() * 1000.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    run.idle_rss_kib = srv.memory_kib().0;
    let other = StartError::Other;
    let emails = srv.seed(USERS).map_err(other)?;
    let tokens = Arc::new(tokens(&srv, &emails).await.map_err(other)?);
    let emails = Arc::new(emails);
    let _ = writeln!(
        log,
        "{name}: server pid {} on {}, start to first 200 {:.1} ms (median of {} ms), idle RSS {:.1} MiB",
        srv.pid(),
        srv.addr,
        run.start_ms(),
        run.starts_ms
            .iter()
            .map(|v| format!("{v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        run.idle_rss_kib as f64 / MIB
    );
    eprint!("{log}");
    log.clear();

    for conns in CONNS {
        let fast = |make: MakeRequest, expect: &'static [u16]| Load {
            warmup: t.fast_warmup,
            window: t.fast_window,
            max_requests: 2_000_000,
            timeout: Duration::from_secs(5),
            ..base_load(&srv, conns, expect, make)
        };
        let mut record = |scenario: &'static str, stats: Stats| {
            eprintln!(
                "{name}: {scenario:<30} c={conns:<3} {:>9.1}/s p50 {} ms p99 {} ms errors {}",
                stats.rate(),
                fmt_ms(stats.quantile_ms(0.5)),
                fmt_ms(stats.quantile_ms(0.99)),
                stats.errors
            );
            run.rows.push(Row {
                scenario,
                conns,
                stats,
            });
        };

        // The trivial route and `GET /me` in two windows each, in the order noop, me, me,
        // noop: the ratio of their rates (a bar) is then unmoved by a steady drift of the
        // machine's speed, which moved the trivial route by ±20 % from one minute to the next.
        let noop: MakeRequest = Arc::new(|_| load::request(Method::GET, "/bench/noop", None, None));
        let me = me_request(tokens.clone());
        let half = |make: &MakeRequest, wanted: bool| {
            let load = Load {
                window: t.fast_window / 2,
                ..fast(make.clone(), &[200])
            };
            async move {
                if wanted {
                    Some(load::run(load).await)
                } else {
                    None
                }
            }
        };
        let noop_a = half(&noop, args.wants(NOOP)).await;
        let me_a = half(&me, args.wants(ME)).await;
        let me_b = half(&me, args.wants(ME)).await;
        let noop_b = half(&noop, args.wants(NOOP)).await;
        if let (Some(a), Some(b)) = (noop_a, noop_b) {
            record(NOOP, Stats::two_windows(a, b));
        }
        if let (Some(a), Some(b)) = (me_a, me_b) {
            record(ME, Stats::two_windows(a, b));
        }
        // The raw Argon2 rate, measured in this process right before the logins it bounds, and
        // again right after them: the login bar compares with the mean of the two, so a change
        // of the machine's speed during the minute (other virtual machines) weighs on both sides.
        let mut per_second = 5.0;
        if args.wants(RAW_ARGON2) {
            let raw = raw_argon2(hashing, conns, t)
                .await
                .map_err(StartError::Other)?;
            per_second = raw.rate().max(0.5);
            record(RAW_ARGON2, raw);
        }
        // Argon2-bound scenarios: warm up for about one queue length so that the latencies
        // counted are those of a full queue.
        let fill = Duration::from_secs_f64((conns as f64 / per_second).min(5.5) + 0.5)
            .min(t.hash_window * 2);
        let argon2_bound = |make: MakeRequest, expect: &'static [u16]| Load {
            warmup: fill,
            window: t.hash_window,
            max_requests: 100_000,
            ..base_load(&srv, conns, expect, make)
        };
        if args.wants(LOGIN) {
            let login = login_request(emails.clone());
            record(LOGIN, load::run(argon2_bound(login, &[200])).await);
            if args.wants(RAW_ARGON2) {
                let again = raw_argon2(hashing, conns, t)
                    .await
                    .map_err(StartError::Other)?;
                record(RAW_ARGON2_AFTER, again);
            }
        }
        if args.wants(LOGIN_UNKNOWN) {
            let unknown: MakeRequest = Arc::new(move |n| {
                let e = format!("nobody-{conns}-{n}@example.com");
                load::request(
                    Method::POST,
                    "/api/auth/login",
                    None,
                    Some(login_body(&e, PASSWORD)),
                )
            });
            record(
                LOGIN_UNKNOWN,
                load::run(argon2_bound(unknown, &[401])).await,
            );
        }
        if args.wants(REGISTER) {
            let reg_nonce = nonce.clone();
            let register: MakeRequest = Arc::new(move |n| {
                let e = format!("bench-reg-{reg_nonce}-{conns}-{n}@example.com");
                load::request(
                    Method::POST,
                    "/api/auth/register",
                    None,
                    Some(login_body(&e, PASSWORD)),
                )
            });
            record(REGISTER, load::run(argon2_bound(register, &[201])).await);
        }
        if args.wants(ME_PROBE) {
            // `GET /me` at a fixed total rate while `conns` connections keep every permit busy.
            let flood = Load {
                window: t.probe_warmup + t.probe_window,
                ..base_load(&srv, conns, &[200], login_request(emails.clone()))
            };
            let per_conn = Duration::from_secs_f64(conns as f64 / PROBE_RATE);
            let probe = Load {
                warmup: t.probe_warmup,
                window: t.probe_window,
                timeout: Duration::from_secs(5),
                pace: Some(per_conn),
                ..base_load(&srv, conns, &[200], me_request(tokens.clone()))
            };
            let (flood_stats, probe_stats) = tokio::join!(load::run(flood), load::run(probe));
            record(ME_PROBE, probe_stats);
            record(FLOOD, flood_stats);
        }
    }

    if args.wants(RSS_FLOOD) {
        // Peak memory: 500 connections each sending a login at once.
        let flood = Load {
            window: t.flood_window,
            ..base_load(&srv, FLOOD_CONNS, &[200], login_request(emails.clone()))
        };
        let stats = load::run(flood).await;
        eprintln!(
            "{name}: {RSS_FLOOD} {:.1}/s errors {}",
            stats.rate(),
            stats.errors
        );
        run.rows.push(Row {
            scenario: RSS_FLOOD,
            conns: FLOOD_CONNS,
            stats,
        });
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (rss, hwm) = srv.memory_kib();
    run.after_rss_kib = rss;
    run.peak_rss_kib = hwm;
    run.crashed = !srv.alive();
    srv.stop();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(run)
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

fn print_table(runs: &[BackendRun], permits: usize) {
    println!();
    println!(
        "| backend | scenario | conns | req/s | p50 ms | p99 ms | errors |\n|---|---|--:|--:|--:|--:|--:|"
    );
    for r in runs {
        for row in &r.rows {
            let scenario = if row.scenario == RAW_ARGON2 || row.scenario == RAW_ARGON2_AFTER {
                format!("{} (permits {permits})", row.scenario)
            } else {
                row.scenario.trim().to_owned()
            };
            println!(
                "| {} | {scenario} | {} | {:.1} | {} | {} | {} |",
                r.name,
                row.conns,
                row.stats.rate(),
                fmt_ms(row.stats.quantile_ms(0.5)),
                fmt_ms(row.stats.quantile_ms(0.99)),
                row.stats.errors
            );
        }
    }
    println!();
    println!(
        "| backend | start to first 200 (median) | all starts | idle RSS | peak RSS (VmHWM) | RSS after load |\n|---|--:|---|--:|--:|--:|"
    );
    for r in runs {
        let all: Vec<String> = r.starts_ms.iter().map(|v| format!("{v:.0}")).collect();
        println!(
            "| {} | {:.1} ms | {} ms | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            r.name,
            r.start_ms(),
            all.join(", "),
            r.idle_rss_kib as f64 / MIB,
            r.peak_rss_kib as f64 / MIB,
            r.after_rss_kib as f64 / MIB
        );
    }
    for r in runs {
        for row in &r.rows {
            for (kind, n) in &row.stats.error_kinds {
                println!(
                    "error: {} {} c={}: {n} x {kind}",
                    r.name,
                    row.scenario.trim(),
                    row.conns
                );
            }
        }
    }
}

/// Check the bars; the failures.
fn check_bars(runs: &[BackendRun], permits: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let mut bar = |ok: bool, text: String| {
        println!("{} {text}", if ok { "PASS" } else { "FAIL" });
        if !ok {
            failures.push(text);
        }
    };
    println!();
    for r in runs {
        let n = r.name;
        for c in CONNS {
            if let (Some(me), Some(noop)) = (r.row(ME, c), r.row(NOOP, c)) {
                let x = me.rate() / noop.rate().max(f64::MIN_POSITIVE);
                bar(
                    x >= 0.3,
                    format!(
                        "{n}: GET /me >= 0.3x trivial route at {c} conns: {x:.2}x ({:.0} vs {:.0} req/s)",
                        me.rate(),
                        noop.rate()
                    ),
                );
            }
            if let (Some(login), Some(raw)) = (r.row(LOGIN, c), r.row(RAW_ARGON2, c)) {
                let raw_rate = match r.row(RAW_ARGON2_AFTER, c) {
                    Some(after) => (raw.rate() + after.rate()) / 2.0,
                    None => raw.rate(),
                };
                let x = login.rate() / raw_rate.max(f64::MIN_POSITIVE);
                bar(
                    x >= 0.9,
                    format!(
                        "{n}: login >= 0.9x raw Argon2id rate (mean of before and after) at {c} conns: {x:.2}x ({:.1} vs {raw_rate:.1}/s)",
                        login.rate(),
                    ),
                );
            }
            if let Some(probe) = r.row(ME_PROBE, c) {
                let p99 = probe.quantile_ms(0.99);
                bar(
                    p99 <= 5.0,
                    format!(
                        "{n}: GET /me p99 during a {c}-conn login flood <= 5 ms: {}",
                        fmt_ms(p99)
                    ),
                );
            }
        }
        let limit = permits as f64 * 64.0 + 30.0;
        let peak = r.peak_rss_kib as f64 / MIB;
        bar(
            peak <= limit,
            format!(
                "{n}: peak RSS over the run (incl. {FLOOD_CONNS}-conn login flood) <= {permits} x 64 + 30 = {limit:.0} MiB: {peak:.1} MiB"
            ),
        );
        let idle = r.idle_rss_kib as f64 / MIB;
        bar(
            idle <= 15.0,
            format!("{n}: idle RSS <= 15 MiB: {idle:.1} MiB"),
        );
        if n == "sqlite" {
            bar(
                r.start_ms() <= 100.0,
                format!(
                    "{n}: start to first 200 <= 100 ms (median of {} starts): {:.1} ms",
                    r.starts_ms.len(),
                    r.start_ms()
                ),
            );
        }
        let errors: u64 = r.rows.iter().map(|row| row.stats.errors).sum();
        let bad: Vec<String> = r
            .rows
            .iter()
            .filter(|row| row.stats.errors > 0)
            .map(|row| format!("{} c={}", row.scenario.trim(), row.conns))
            .collect();
        bar(
            errors == 0 && !r.crashed,
            format!(
                "{n}: zero errors: {errors}{}{}",
                if bad.is_empty() {
                    String::new()
                } else {
                    format!(" (in {})", bad.join(", "))
                },
                if r.crashed { "; the server died" } else { "" }
            ),
        );
    }
    failures
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("regstack-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let t = Timing::new(args.quick);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let permits = args
        .permits
        .unwrap_or_else(regstack_core::password::default_permits);
    let hashing = Hashing {
        permits,
        nice: args.nice.unwrap_or(regstack_core::password::DEFAULT_NICE),
    };
    eprintln!(
        "regstack-bench: {cores} cores, Argon2id m={} KiB t={} p={}, {permits} permits, nice {}",
        server::MEMORY_KIB,
        server::ITERATIONS,
        server::PARALLELISM,
        hashing.nice
    );
    let mut runs = Vec::new();
    let mut notes = Vec::new();
    let mut setup_failed = false;
    let mut log = String::new();
    let wants = |b: &str| args.only.as_deref().is_none_or(|o| o == b);

    if wants("sqlite") {
        match run_backend(&args, "sqlite", &Database::Sqlite, hashing, t, &mut log).await {
            Ok(r) => runs.push(r),
            Err(StartError::BackendNotBuilt(e) | StartError::Other(e)) => {
                notes.push(format!("sqlite: failed: {e}"));
                setup_failed = true;
            }
        }
    }
    if wants("postgres") {
        match &args.postgres {
            None => notes.push("postgres: skipped (no server reachable on 127.0.0.1:5432)".into()),
            Some(admin_url) => {
                let name = format!("regstack_bench_{}", std::process::id());
                match server::create_pg_database(admin_url, &name) {
                    Err(e) => notes.push(format!("postgres: skipped ({e})")),
                    Ok(()) => {
                        let db = Database::Postgres {
                            admin_url: admin_url.clone(),
                            name: name.clone(),
                        };
                        match run_backend(&args, "postgres", &db, hashing, t, &mut log).await {
                            Ok(r) => runs.push(r),
                            Err(StartError::BackendNotBuilt(_)) => {
                                notes.push("postgres: skipped (backend not built)".into());
                            }
                            Err(StartError::Other(e)) => {
                                notes.push(format!("postgres: failed: {e}"));
                                setup_failed = true;
                            }
                        }
                        if let Err(e) = server::drop_pg_database(admin_url, &name) {
                            notes.push(format!("postgres: could not drop {name}: {e}"));
                        }
                    }
                }
            }
        }
    }

    print_table(&runs, permits);
    for n in &notes {
        println!("{n}");
    }
    let failures = check_bars(&runs, permits);
    println!(
        "\nregstack-bench: {:.0} s{}",
        started.elapsed().as_secs_f64(),
        if args.quick { " (--quick)" } else { "" }
    );
    if setup_failed {
        return ExitCode::from(2);
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("{} bar(s) failed:", failures.len());
        for f in &failures {
            println!("  {f}");
        }
        ExitCode::FAILURE
    }
}
