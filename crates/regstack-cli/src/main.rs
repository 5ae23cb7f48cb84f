//! `regstack`: set up, check and run an embedded-style regstack configuration.
//!
//! Sub-commands (regstack 0.9.3's CLI and pages Part B, `docs/cli.md`): `init` (write `regstack.toml` and
//! `regstack.secrets.env`), `create-admin`, `promote`, `doctor`, `migrate` and `serve`.
//!
//! Where this binary knowingly differs from regstack 0.9.3's `regstack` command:
//!
//! * `--version` prints `regstack, version <this crate's version>`.
//! * `create-admin` says what it did: `Admin <email> created (id=<id>).` for a new account (0.9.3
//!   prints the promotion wording in both cases). An email that already belongs to an account
//!   is refused (exit 1, nothing changed) unless `--promote-existing` is given: 0.9.3 silently
//!   promotes it, and its password — possibly set by whoever registered that address first —
//!   stays valid. With the flag it prints `User <email> promoted to admin (id=<id>).` and that
//!   the account's own password was kept (the given one is never applied to it). It issues no
//!   tokens, so when no usable JWT secret (≥ 32 characters) is configured it runs with a
//!   throwaway random one instead of refusing; nothing is written.
//!   `promote` (pending registration → verified user) does the same. `promote` is not in 0.9.3.
//! * `doctor` exits with the number of failed checks (capped at 255) instead of 1, adds an
//!   `sms backend` line after `email backend`, reports `--check-dns` as an advisory (no network
//!   access here) and skips — as an advisory — a check whose prerequisite failed (`schema` when
//!   the backend is unreachable, `email send` when the email backend failed).
//! * `init` escapes `"` and `\` in the TOML values it writes (0.9.3 writes them raw, producing a
//!   file that does not parse); `--target` prints a plain (uncoloured) deprecation notice.
//! * Hidden prompts (passwords, a hand-typed JWT secret) read a line from stdin; on a terminal
//!   echo is switched off with `stty`.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use regstack::config::{LoadOptions, RegStackConfig};

mod admin;
mod doctor;
mod init;
mod migrate;
mod prompt;
mod serve;

#[derive(Debug, Parser)]
#[command(
    name = "regstack",
    about = "User accounts for Rust web applications",
    override_usage = "regstack [OPTIONS] <COMMAND>",
    disable_version_flag = true,
    arg_required_else_help = true
)]
struct Cli {
    /// Print the version.
    #[arg(short = 'V', long)]
    version: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Interactively write regstack.toml and regstack.secrets.env.
    Init {
        /// Target directory, or a `.toml` file path whose directory is used.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Deprecated alias of `--config DIR`.
        #[arg(long, value_name = "DIR", conflicts_with = "config")]
        target: Option<PathBuf>,
        /// Overwrite existing files without asking.
        #[arg(long, conflicts_with = "if_missing")]
        force: bool,
        /// Do nothing (exit 0) when either file already exists.
        #[arg(long)]
        if_missing: bool,
    },
    /// Create an administrator; with --promote-existing, promote an existing user instead.
    CreateAdmin {
        /// The administrator's email address.
        #[arg(long)]
        email: String,
        /// The password (at least 8 characters); asked twice on stdin when omitted. Never
        /// applied to an existing account.
        #[arg(long)]
        password: Option<String>,
        /// When the email already belongs to an account, make that account a superuser,
        /// keeping its own password (without this flag the command refuses, exit 1).
        #[arg(long)]
        promote_existing: bool,
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Turn a pending registration into a verified user without the email round trip.
    Promote {
        /// The email address of the pending registration.
        #[arg(long)]
        email: String,
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Check the configuration, the database and the transports; exits with the number of
    /// failed checks.
    Doctor {
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Check the sender domain's MX, SPF and DMARC records (needs network access).
        #[arg(long)]
        check_dns: bool,
        /// Send a probe email to ADDR through the configured backend.
        #[arg(long, value_name = "ADDR")]
        send_test_email: Option<String>,
    },
    /// Bring the database schema to head.
    Migrate {
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Target revision (only `head` is supported).
        #[arg(long, default_value = "head")]
        target: String,
    },
    /// Serve the JSON API (under `api_prefix`) and `GET /healthz`.
    Serve {
        /// A TOML file, or a directory holding `regstack.toml`.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 8000)]
        port: u16,
    },
}

/// The name of the secrets file, always in the working directory.
pub(crate) const SECRETS_FILE: &str = "regstack.secrets.env";

/// How a command failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A usage error of a sub-command: shown like clap's own, exit 2.
    Usage {
        command: &'static str,
        message: String,
    },
    /// Print `message` (when not empty) on stderr and exit with `code`.
    Exit { code: u8, message: String },
}

impl Failure {
    pub(crate) fn usage(command: &'static str, message: impl Into<String>) -> Self {
        Failure::Usage {
            command,
            message: message.into(),
        }
    }

    pub(crate) fn exit(code: u8, message: impl Into<String>) -> Self {
        Failure::Exit {
            code,
            message: message.into(),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::exit(1, message)
    }
}

/// The input ended on a question without a default: click's `Aborted!`, exit 1.
impl From<prompt::Aborted> for Failure {
    fn from(_: prompt::Aborted) -> Self {
        Failure::exit(1, "Aborted!")
    }
}

/// An error and its sources, `: `-separated (a source already quoted by its parent is skipped).
pub(crate) fn describe(e: &dyn StdError) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn resolve_config_path(path: Option<PathBuf>) -> Result<Option<PathBuf>, String> {
    let Some(p) = path else { return Ok(None) };
    if p.is_dir() {
        return Ok(Some(p.join("regstack.toml")));
    }
    if p.is_file() {
        return Ok(Some(p));
    }
    Err(format!("config path {} does not exist", p.display()))
}

/// Load the configuration of a read-only command (`--config` must exist when given).
pub(crate) fn load_config(path: Option<PathBuf>) -> Result<RegStackConfig, String> {
    let toml_path = resolve_config_path(path)?;
    RegStackConfig::load_with(LoadOptions {
        toml_path,
        ..LoadOptions::default()
    })
    .map_err(|e| format!("configuration error: {}", describe(&e)))
}

/// The usage error of sub-command `name`, rendered by clap with that sub-command's usage line.
fn usage_error(name: &str, message: &str) -> clap::Error {
    let mut cli = Cli::command();
    cli.build();
    match cli.find_subcommand_mut(name) {
        Some(sub) => sub.error(clap::error::ErrorKind::ValueValidation, message),
        None => cli.error(clap::error::ErrorKind::ValueValidation, message),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!("regstack, version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let Some(command) = cli.command else {
        let _ = Cli::command().print_help();
        return ExitCode::from(2);
    };
    let result = match command {
        Command::Serve { config, host, port } => {
            serve::init_logging();
            serve::serve(config, host, port)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
        Command::Migrate { config, target } => migrate::migrate(config, target)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::CreateAdmin {
            email,
            password,
            promote_existing,
            config,
        } => admin::create_admin(email, password, promote_existing, config).await,
        Command::Promote { email, config } => admin::promote(email, config).await,
        Command::Doctor {
            config,
            check_dns,
            send_test_email,
        } => Ok(doctor::doctor(config, check_dns, send_test_email).await),
        Command::Init {
            config,
            target,
            force,
            if_missing,
        } => init::init(init::InitOptions {
            config,
            target,
            force,
            if_missing,
        }),
    };
    match result {
        Ok(code) => code,
        Err(Failure::Usage { command, message }) => {
            let err = usage_error(command, &message);
            let _ = err.print();
            ExitCode::from(2)
        }
        Err(Failure::Exit { code, message }) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn usage_errors_name_the_sub_command() {
        let text = usage_error("create-admin", "too short").to_string();
        assert!(text.contains("too short"), "{text}");
        assert!(text.contains("regstack create-admin"), "{text}");
    }
}
