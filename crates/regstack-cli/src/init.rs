//! `regstack init`: ask a few questions, write `regstack.toml` and `regstack.secrets.env`
//! (regstack 0.9.3's CLI and pages B.1). It never provisions anything.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use regstack::RegStackConfig;

use crate::Failure;
use crate::prompt::{Aborted, Prompter};

/// The options of `regstack init`.
#[derive(Debug)]
pub(crate) struct InitOptions {
    pub(crate) config: Option<PathBuf>,
    pub(crate) target: Option<PathBuf>,
    pub(crate) force: bool,
    pub(crate) if_missing: bool,
}

const TOML_FILE: &str = "regstack.toml";

/// SMTP settings asked for the `smtp` email backend.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Smtp {
    host: String,
    port: i64,
    starttls: bool,
    username: Option<String>,
    password: Option<String>,
}

/// Everything the questions establish.
#[derive(Clone, PartialEq, Eq)]
struct Answers {
    app_name: String,
    base_url: String,
    behind_proxy: bool,
    /// The proxies whose `X-Forwarded-For` is believed (only with `behind_proxy`).
    trusted_proxies: Vec<String>,
    database_url: String,
    /// Only for MongoDB.
    mongodb_database: Option<String>,
    jwt_secret: String,
    jwt_ttl_seconds: i64,
    email_backend: &'static str,
    from_address: String,
    from_name: String,
    smtp: Option<Smtp>,
    ses_region: Option<String>,
    enable_sms_2fa: bool,
    /// `null` unless SMS 2FA is on.
    sms_backend: &'static str,
    enable_admin_router: bool,
    enable_ui_router: bool,
    allow_registration: bool,
    require_verification: bool,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("app_name", &self.app_name)
            .field("email_backend", &self.email_backend)
            .finish_non_exhaustive()
    }
}

/// The directory the files go to: `--target DIR` (deprecated), else `--config PATH` (an
/// existing file or a `*.toml` path means its directory), else the working directory.
fn target_dir(config: Option<PathBuf>, target: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = target {
        eprintln!("warning: --target is deprecated; use --config DIR instead.");
        return dir;
    }
    match config {
        None => PathBuf::from("."),
        Some(p) if p.is_file() || p.extension().is_some_and(|e| e == "toml") => match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        },
        Some(p) => p,
    }
}

/// Checks one setting with the configuration's own rules, so a written file always loads.
fn check_setting(set: impl FnOnce(&mut RegStackConfig)) -> Result<(), String> {
    let mut cfg = RegStackConfig::default();
    set(&mut cfg);
    cfg.validate().map_err(|e| e.to_string())
}

/// A comma-separated list of proxy addresses or CIDR blocks, each checked by the
/// configuration's own parser; at least one.
fn parse_proxies(answer: &str) -> Result<Vec<String>, String> {
    let list: Vec<String> = answer
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err("name at least one proxy address".into());
    }
    for entry in &list {
        entry
            .parse::<regstack::config::IpNetwork>()
            .map_err(|e| format!("`{entry}`: {e}"))?;
    }
    Ok(list)
}

/// The host part of an http(s) URL.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.starts_with('[') {
        return host_port.split_once(']').map_or(host_port, |(h, _)| h);
    }
    host_port.split(':').next().unwrap_or_default()
}

/// Line boundaries the secrets-file reader splits on (Python's `str.splitlines`).
fn has_line_break(s: &str) -> bool {
    s.contains([
        '\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
        '\u{2029}',
    ])
}

/// A value for the secrets file, quoted only when the reader would otherwise change it
/// (surrounding whitespace or surrounding quotes).
fn env_value(v: &str) -> String {
    let quoted = ['"', '\'']
        .iter()
        .any(|q| v.starts_with(*q) && v.ends_with(*q));
    if v != v.trim() || quoted {
        format!("\"{v}\"")
    } else {
        v.to_owned()
    }
}

/// A TOML basic string. Values without `"`, `\` or control characters are written as they
/// are, like 0.9.3; those characters are escaped (0.9.3 writes a file that does not parse).
fn toml_str(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn ask_all<R: BufRead>(p: &mut Prompter<R>) -> Result<Answers, Aborted> {
    // 1. Application.
    let app_name = p.ask("App name", Some("MyApp"))?;
    let base_url = p.ask_with("Public base URL", Some("http://localhost:8000"), |s| {
        check_setting(|c| c.base_url = s.to_owned()).map(|()| s.to_owned())
    })?;
    let behind_proxy = p.confirm("Behind a reverse proxy?", false)?;
    // `serve` refuses `behind_proxy` without them: the file written always starts.
    let trusted_proxies = if behind_proxy {
        p.ask_with(
            "Addresses of the reverse proxies (IPs or CIDRs, comma-separated)",
            Some("127.0.0.1, ::1"),
            parse_proxies,
        )?
    } else {
        Vec::new()
    };

    // 2. Database.
    let slug = app_name.to_lowercase().replace(' ', "_");
    let mut mongodb_database = None;
    let database_url = match p.choice(
        "Database backend",
        &["sqlite", "postgres", "mongo"],
        "sqlite",
    )? {
        "sqlite" => {
            let path = p.ask("SQLite file path", Some(&format!("./{slug}.sqlite")))?;
            format!("sqlite+aiosqlite:///{path}")
        }
        "postgres" => p.ask_with(
            "PostgreSQL URL",
            Some(&format!("postgresql+asyncpg://postgres@localhost/{slug}")),
            |s| {
                let lower = s.to_ascii_lowercase();
                for plain in ["postgresql://", "postgres://"] {
                    if lower.starts_with(plain) {
                        eprintln!(
                            "note: rewrote the scheme `{}` to `postgresql+asyncpg://`.",
                            &s[..plain.len()]
                        );
                        return Ok(format!("postgresql+asyncpg://{}", &s[plain.len()..]));
                    }
                }
                match regstack::backend_kind(s) {
                    Ok(regstack::BackendKind::Postgres) => Ok(s.to_owned()),
                    _ => Err(format!(
                        "'{s}' is not a PostgreSQL URL (postgresql+asyncpg://user@host/db)."
                    )),
                }
            },
        )?,
        _ => {
            let host = p.ask("MongoDB host", Some("localhost:27017"))?;
            let db = p.ask("MongoDB database", Some(&slug))?;
            let url = format!("mongodb://{host}/{db}");
            mongodb_database = Some(db);
            url
        }
    };

    // 3–4. Tokens.
    let jwt_secret = if p.confirm("Auto-generate a JWT secret?", true)? {
        regstack::core::token::random_urlsafe(64)
    } else {
        loop {
            let s = p.hidden("JWT secret", Some("Repeat for confirmation"), None)?;
            if has_line_break(&s) {
                eprintln!("Error: the secret must not contain line breaks.");
                continue;
            }
            let n = s.chars().count();
            if n < regstack::config::MIN_JWT_SECRET_CHARS {
                eprintln!(
                    "warning: the secret has {n} characters; regstack refuses to start with fewer than {}.",
                    regstack::config::MIN_JWT_SECRET_CHARS
                );
            }
            break s;
        }
    };
    let jwt_ttl_seconds = p.integer("JWT lifetime in seconds", 7200, 60, 2_592_000)?;

    // 5. Email.
    let email_backend = p.choice("Email backend", &["console", "smtp", "ses"], "console")?;
    warn_if_not_built(email_backend);
    if email_backend == "ses" {
        eprintln!(
            "tip: `regstack ses setup` checks the sender identity and writes the SES settings."
        );
    }
    let host = url_host(&base_url);
    let default_from = if host.contains('.') {
        format!("noreply@{host}")
    } else {
        "noreply@example.com".to_owned()
    };
    let from_address = p.ask_with("Sender address", Some(&default_from), |s| {
        check_setting(|c| c.email.from_address = s.to_owned()).map(|()| s.to_owned())
    })?;
    let from_name = p.ask("Sender display name", Some(&app_name))?;
    let mut smtp = None;
    let mut ses_region = None;
    match email_backend {
        "smtp" => {
            let host = p.ask("SMTP host", None)?;
            let port = p.integer("SMTP port", 587, 1, 65_535)?;
            let starttls = p.confirm("Use STARTTLS?", true)?;
            let username = p.ask("SMTP username", Some(""))?;
            let password = loop {
                let pw = p.hidden("SMTP password", None, Some(""))?;
                if has_line_break(&pw) {
                    eprintln!("Error: the password must not contain line breaks.");
                    continue;
                }
                break pw;
            };
            if !username.is_empty() && password.is_empty() {
                eprintln!(
                    "warning: an SMTP username without a password; set REGSTACK_EMAIL__SMTP_PASSWORD in regstack.secrets.env."
                );
            }
            smtp = Some(Smtp {
                host,
                port,
                starttls,
                username: (!username.is_empty()).then_some(username),
                password: (!password.is_empty()).then_some(password),
            });
        }
        "ses" => ses_region = Some(p.ask("SES region", Some("eu-west-1"))?),
        _ => {}
    }

    // 6. SMS.
    let enable_sms_2fa = p.confirm("Enable SMS 2FA?", false)?;
    let sms_backend = if enable_sms_2fa {
        p.choice("SMS backend", &["sns", "twilio"], "sns")?
    } else {
        "null"
    };
    warn_if_not_built(sms_backend);

    // 7. Routers and policy.
    let enable_admin_router = p.confirm("Enable the JSON admin router?", false)?;
    let enable_ui_router = p.confirm("Enable the server-rendered UI?", false)?;
    let allow_registration = p.confirm("Allow self-service registration?", true)?;
    let require_verification = p.confirm("Require email verification?", false)?;

    Ok(Answers {
        app_name,
        base_url,
        behind_proxy,
        trusted_proxies,
        database_url,
        mongodb_database,
        jwt_secret,
        jwt_ttl_seconds,
        email_backend,
        from_address,
        from_name,
        smtp,
        ses_region,
        enable_sms_2fa,
        sms_backend,
        enable_admin_router,
        enable_ui_router,
        allow_registration,
        require_verification,
    })
}

fn render_toml(a: &Answers) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    t.push_str("# regstack.toml — generated by `regstack init`. Re-run to regenerate.\n");
    let _ = writeln!(t, "app_name = {}", toml_str(&a.app_name));
    let _ = writeln!(t, "base_url = {}", toml_str(&a.base_url));
    let _ = writeln!(t, "behind_proxy = {}", a.behind_proxy);
    if !a.trusted_proxies.is_empty() {
        let list: Vec<String> = a.trusted_proxies.iter().map(|p| toml_str(p)).collect();
        let _ = writeln!(t, "trusted_proxies = [{}]", list.join(", "));
    }
    t.push('\n');
    if let Some(db) = &a.mongodb_database {
        let _ = writeln!(t, "mongodb_database = {}\n", toml_str(db));
    }
    let _ = writeln!(t, "jwt_ttl_seconds = {}", a.jwt_ttl_seconds);
    t.push('\n');
    let _ = writeln!(t, "require_verification = {}", a.require_verification);
    let _ = writeln!(t, "allow_registration = {}", a.allow_registration);
    let _ = writeln!(t, "enable_admin_router = {}", a.enable_admin_router);
    let _ = writeln!(t, "enable_ui_router = {}", a.enable_ui_router);
    let _ = writeln!(t, "enable_sms_2fa = {}", a.enable_sms_2fa);
    t.push_str("\n[email]\n");
    let _ = writeln!(t, "backend = {}", toml_str(a.email_backend));
    let _ = writeln!(t, "from_address = {}", toml_str(&a.from_address));
    let _ = writeln!(t, "from_name = {}", toml_str(&a.from_name));
    if let Some(smtp) = &a.smtp {
        let _ = writeln!(t, "smtp_host = {}", toml_str(&smtp.host));
        let _ = writeln!(t, "smtp_port = {}", smtp.port);
        let _ = writeln!(t, "smtp_starttls = {}", smtp.starttls);
        if let Some(user) = &smtp.username {
            let _ = writeln!(t, "smtp_username = {}", toml_str(user));
        }
    }
    if let Some(region) = &a.ses_region {
        let _ = writeln!(t, "ses_region = {}", toml_str(region));
    }
    t.push_str("\n[sms]\n");
    let _ = writeln!(t, "backend = {}", toml_str(a.sms_backend));
    t
}

fn render_secrets(a: &Answers) -> String {
    let mut s = String::from("# regstack.secrets.env — keep out of version control.\n");
    s.push_str(&format!(
        "REGSTACK_JWT_SECRET={}\n",
        env_value(&a.jwt_secret)
    ));
    s.push_str(&format!(
        "REGSTACK_DATABASE_URL={}\n",
        env_value(&a.database_url)
    ));
    if let Some(pw) = a.smtp.as_ref().and_then(|s| s.password.as_deref()) {
        s.push_str(&format!(
            "REGSTACK_EMAIL__SMTP_PASSWORD={}\n",
            env_value(pw)
        ));
    }
    s
}

/// Write `text` to `path`, readable by the owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut file = opts.open(path)?;
    // An existing file keeps its mode on open: tighten it before writing the secret.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

pub(crate) fn init(opts: InitOptions) -> Result<ExitCode, Failure> {
    run(opts, &mut Prompter::stdin())
}

fn run<R: BufRead>(opts: InitOptions, p: &mut Prompter<R>) -> Result<ExitCode, Failure> {
    let dir = target_dir(opts.config, opts.target);
    let toml_path = dir.join(TOML_FILE);
    let secrets_path = dir.join(crate::SECRETS_FILE);
    let existing: Vec<String> = [&toml_path, &secrets_path]
        .into_iter()
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        let list = existing.join(" and ");
        if opts.if_missing {
            eprintln!("{list} already exists; leaving the configuration untouched (--if-missing).");
            return Ok(ExitCode::SUCCESS);
        }
        if !opts.force && !p.confirm(&format!("{list} already exists. Overwrite?"), false)? {
            return Err(Failure::exit(1, "Aborted!"));
        }
    }

    let answers = ask_all(p)?;

    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    std::fs::write(&toml_path, render_toml(&answers))
        .map_err(|e| format!("cannot write {}: {e}", toml_path.display()))?;
    println!("Wrote {}", toml_path.display());
    write_private(&secrets_path, &render_secrets(&answers))
        .map_err(|e| format!("cannot write {}: {e}", secrets_path.display()))?;
    println!("Wrote {}", secrets_path.display());

    println!();
    println!("Next steps:");
    if dir != Path::new(".") {
        println!(
            "  cd {}    # the secrets file is read from the working directory",
            dir.display()
        );
    }
    if answers.mongodb_database.is_none() {
        println!("  regstack migrate                              # create the database schema");
    }
    println!("  regstack create-admin --email you@example.com  # a first administrator");
    println!("  regstack doctor                               # check the set-up");
    println!("  regstack serve                                # run the JSON API");
    println!("Keep {} out of version control.", crate::SECRETS_FILE);
    Ok(ExitCode::SUCCESS)
}

/// The cargo feature of this binary that serves a transport `backend`, when it is off (the
/// configuration is still written: another build of regstack may serve it).
fn missing_feature(backend: &str) -> Option<&'static str> {
    match backend {
        "smtp" if !cfg!(feature = "smtp") => Some("smtp"),
        "ses" if !cfg!(feature = "ses") => Some("ses"),
        "sns" if !cfg!(feature = "sns") => Some("sns"),
        "twilio" if !cfg!(feature = "twilio") => Some("twilio"),
        _ => None,
    }
}

/// Say at once when this binary's `serve` would refuse the transport just chosen.
fn warn_if_not_built(backend: &str) {
    if let Some(feature) = missing_feature(backend) {
        eprintln!(
            "note: this regstack binary was built without the `{feature}` feature, so its `serve` refuses this setting; build regstack with `--features {feature}` (the file is written either way)."
        );
    }
}

#[cfg(test)]
mod tests {
    use regstack::config::LoadOptions;

    use super::*;

    #[test]
    fn a_transport_this_binary_lacks_is_named() {
        assert_eq!(missing_feature("console"), None);
        assert_eq!(missing_feature("null"), None);
        assert_eq!(missing_feature("ses").is_some(), !cfg!(feature = "ses"));
        assert_eq!(missing_feature("sns").is_some(), !cfg!(feature = "sns"));
        assert_eq!(missing_feature("smtp").is_some(), !cfg!(feature = "smtp"));
        assert_eq!(
            missing_feature("twilio").is_some(),
            !cfg!(feature = "twilio")
        );
    }

    fn answers(input: &str) -> Answers {
        ask_all(&mut Prompter::new(input.as_bytes())).unwrap()
    }

    /// Load the rendered files with the library's loader (no process environment).
    fn load(a: &Answers) -> RegStackConfig {
        let dir = tempfile_dir();
        let toml = dir.join("regstack.toml");
        let secrets = dir.join("regstack.secrets.env");
        std::fs::write(&toml, render_toml(a)).unwrap();
        std::fs::write(&secrets, render_secrets(a)).unwrap();
        let cfg = RegStackConfig::load_with(LoadOptions {
            toml_path: Some(toml),
            secrets_path: Some(secrets),
            env: Some(Vec::new()),
            ..LoadOptions::default()
        })
        .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        cfg
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "regstack-init-{}",
            regstack::core::token::random_urlsafe(9)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn defaults_render_the_documented_files() {
        let a = answers("");
        assert_eq!(a.jwt_secret.len(), 86);
        let expected = "# regstack.toml — generated by `regstack init`. Re-run to regenerate.
app_name = \"MyApp\"
base_url = \"http://localhost:8000\"
behind_proxy = false

jwt_ttl_seconds = 7200

require_verification = false
allow_registration = true
enable_admin_router = false
enable_ui_router = false
enable_sms_2fa = false

[email]
backend = \"console\"
from_address = \"noreply@example.com\"
from_name = \"MyApp\"

[sms]
backend = \"null\"
";
        assert_eq!(render_toml(&a), expected);
        assert_eq!(
            render_secrets(&a),
            format!(
                "# regstack.secrets.env — keep out of version control.\n\
                 REGSTACK_JWT_SECRET={}\nREGSTACK_DATABASE_URL=sqlite+aiosqlite:///./myapp.sqlite\n",
                a.jwt_secret
            )
        );
        let cfg = load(&a);
        assert_eq!(cfg.app_name, "MyApp");
        assert!(!cfg.require_verification);
        assert_eq!(cfg.jwt_secret.expose(), a.jwt_secret);
        assert_eq!(
            cfg.database_url.expose(),
            "sqlite+aiosqlite:///./myapp.sqlite"
        );
    }

    #[test]
    fn mongo_smtp_and_sms_answers() {
        let input = [
            "Shop \"Deluxe\"",
            "https://shop.example.org/app",
            "y",
            "10.0.0.0/33, 10.0.0.1/8",
            "10.0.0.0/8, 2001:db8::7",
            "mongo",
            "db.internal:27017",
            "",
            "n",
            " hand typed secret that is long enough ",
            " hand typed secret that is long enough ",
            "3600",
            "smtp",
            "",
            "Shop",
            "smtp.example.org",
            "2525",
            "n",
            "mailer",
            "\"pw with quotes\"",
            "y",
            "twilio",
            "y",
            "y",
            "n",
            "y",
        ]
        .join("\n");
        let a = answers(&input);
        let toml = render_toml(&a);
        assert!(
            toml.contains("behind_proxy = true\ntrusted_proxies = [\"10.0.0.0/8\", \"2001:db8::7\"]\n\nmongodb_database = \"shop_\\\"deluxe\\\"\"\n\njwt_ttl_seconds = 3600\n"),
            "{toml}"
        );
        assert!(toml.contains("from_address = \"noreply@shop.example.org\"\n"));
        assert!(toml.contains(
            "smtp_host = \"smtp.example.org\"\nsmtp_port = 2525\nsmtp_starttls = false\nsmtp_username = \"mailer\"\n"
        ));
        assert!(toml.ends_with("[sms]\nbackend = \"twilio\"\n"), "{toml}");
        let cfg = load(&a);
        assert_eq!(cfg.app_name, "Shop \"Deluxe\"");
        assert_eq!(
            cfg.database_url.expose(),
            "mongodb://db.internal:27017/shop_\"deluxe\""
        );
        assert_eq!(cfg.mongodb_database, "shop_\"deluxe\"");
        assert_eq!(
            cfg.jwt_secret.expose(),
            " hand typed secret that is long enough "
        );
        assert_eq!(
            cfg.email.smtp_password.as_ref().map(|s| s.expose()),
            Some("\"pw with quotes\"")
        );
        assert!(cfg.enable_sms_2fa && cfg.enable_admin_router && cfg.enable_ui_router);
        assert_eq!(cfg.trusted_proxies.len(), 2);
        assert!(!cfg.allow_registration && cfg.require_verification);
    }

    #[test]
    fn behind_a_proxy_the_file_names_the_proxies_and_starts() {
        // Proxy: yes, then the offered default (loopback); everything else by default.
        let a = answers("\n\ny\n\n");
        assert_eq!(a.trusted_proxies, ["127.0.0.1", "::1"]);
        assert!(render_toml(&a).contains("trusted_proxies = [\"127.0.0.1\", \"::1\"]\n"));
        // serve's start-up checks pass: behind_proxy never comes without its proxies.
        load(&a).check_startup().unwrap();
    }

    #[test]
    fn postgres_urls_get_the_driver_scheme_and_ses_a_region() {
        let a = answers("\n\n\npostgres\npostgres://u@db/app\n\n\nses\n\n\n\n");
        assert_eq!(a.database_url, "postgresql+asyncpg://u@db/app");
        assert_eq!(a.ses_region.as_deref(), Some("eu-west-1"));
        assert!(render_toml(&a).contains("ses_region = \"eu-west-1\"\n"));
        load(&a);
    }

    #[test]
    fn bad_answers_are_asked_again() {
        // A base URL and a sender the configuration would refuse, then good ones.
        // Blank lines: proxy, database, sqlite path, auto-generate, lifetime, email backend.
        let a = answers(
            "\nftp://x\nhttp://localhost:9000\n\n\n\n\n\n\nnot-an-address\nops@example.com\n",
        );
        assert_eq!(a.base_url, "http://localhost:9000");
        assert_eq!(a.from_address, "ops@example.com");
    }

    #[test]
    fn targets_and_hosts() {
        assert_eq!(target_dir(None, None), PathBuf::from("."));
        assert_eq!(
            target_dir(Some("conf/app.toml".into()), None),
            PathBuf::from("conf")
        );
        assert_eq!(
            target_dir(Some("app.toml".into()), None),
            PathBuf::from(".")
        );
        assert_eq!(
            target_dir(Some("somewhere".into()), None),
            PathBuf::from("somewhere")
        );
        assert_eq!(url_host("https://u:p@a.b.c:8443/x"), "a.b.c");
        assert_eq!(url_host("http://localhost:8000"), "localhost");
        assert_eq!(env_value(" x"), "\" x\"");
        assert_eq!(env_value("plain"), "plain");
        assert_eq!(toml_str("a\\b\"c"), "\"a\\\\b\\\"c\"");
    }
}
