//! `regstack create-admin` and `regstack promote`.

use std::path::PathBuf;
use std::process::ExitCode;

use regstack::config::{MIN_JWT_SECRET_CHARS, SecretString};
use regstack::core::Error as CoreError;
use regstack::core::admin::AdminCreation;
use regstack::core::{EmailAddress, NewPassword, PasswordLength};
use regstack::{RegStack, User};

use crate::prompt::Prompter;
use crate::{Failure, describe, load_config};

/// The normalised address, or a usage error of `command`.
fn normalize_email(command: &'static str, email: &str) -> Result<EmailAddress, Failure> {
    EmailAddress::try_from(email).map_err(|e| {
        Failure::usage(
            command,
            format!("invalid value '{email}' for '--email': {e}"),
        )
    })
}

/// Load the configuration, open the instance and bring the schema to head.
///
/// These commands issue no tokens, so a missing or short JWT secret is replaced by a throwaway
/// random one for this process only (`regstack::from_config` refuses to build without one).
async fn open(config: Option<PathBuf>) -> Result<RegStack, Failure> {
    let mut cfg = load_config(config)?;
    if cfg.jwt_secret.expose().chars().count() < MIN_JWT_SECRET_CHARS {
        cfg.jwt_secret = SecretString::new(regstack::core::token::random_urlsafe(64));
    }
    let rs = regstack::from_config(cfg)
        .await
        .map_err(|e| format!("cannot start: {}", describe(&e)))?;
    if let Err(e) = rs.install_schema().await {
        rs.close().await;
        return Err(format!("cannot bring the schema to head: {}", describe(&e)).into());
    }
    Ok(rs)
}

/// What `create-admin` found or did.
enum AdminOutcome {
    /// A new administrator with the password given.
    Created(User),
    /// The email belongs to this account and `--promote-existing` was not given: nothing
    /// was changed.
    Refused(User),
    /// The existing account, now a superuser (it may have been one already), its password
    /// untouched.
    Promoted(User),
}

pub(crate) async fn create_admin(
    email: String,
    password: Option<String>,
    promote_existing: bool,
    config: Option<PathBuf>,
) -> Result<ExitCode, Failure> {
    const CMD: &str = "create-admin";
    let email = normalize_email(CMD, &email)?;
    let password = match password {
        Some(p) => p,
        None => Prompter::stdin().hidden("Password", Some("Repeat password"), None)?,
    };
    // The rule of every new password, from core.
    let password = NewPassword::try_from(password).map_err(|e| match e {
        PasswordLength::TooShort { min } => Failure::usage(
            CMD,
            format!("the password must be at least {min} characters long"),
        ),
        PasswordLength::TooLong { max } => Failure::usage(
            CMD,
            format!("the password must be at most {max} characters long"),
        ),
    })?;
    let rs = open(config).await?;
    let result = async {
        Ok::<_, CoreError>(match rs.create_admin(&email, &password).await? {
            AdminCreation::Created(created) => AdminOutcome::Created(created),
            AdminCreation::Exists(existing) if !promote_existing => AdminOutcome::Refused(existing),
            AdminCreation::Exists(existing) if existing.is_superuser => {
                AdminOutcome::Promoted(existing)
            }
            // By id, so only the superuser flag changes: never the password.
            AdminCreation::Exists(existing) => {
                AdminOutcome::Promoted(rs.grant_superuser(&existing.id).await?)
            }
        })
    }
    .await;
    rs.close().await;
    match result.map_err(|e| format!("cannot create the administrator: {}", describe(&e)))? {
        AdminOutcome::Created(user) => {
            eprintln!("Admin {} created (id={}).", user.email, user.id);
            Ok(ExitCode::SUCCESS)
        }
        AdminOutcome::Refused(user) => {
            let already = if user.is_superuser {
                " and is already an administrator"
            } else {
                ""
            };
            Err(Failure::exit(
                1,
                format!(
                    "A user with email {} already exists{already} (id={}); nothing was changed.\n\
                     To make that existing account an administrator, re-run with \
                     --promote-existing: it keeps its own password (the password given here is \
                     not applied).",
                    user.email, user.id
                ),
            ))
        }
        AdminOutcome::Promoted(user) => {
            eprintln!("User {} promoted to admin (id={}).", user.email, user.id);
            if user.hashed_password.is_some() {
                eprintln!(
                    "Its existing password was kept; the password given to create-admin was \
                     NOT applied. Whoever knows that account's password can now sign in as an \
                     administrator."
                );
            } else {
                eprintln!(
                    "It has no password (it signs in another way) and still has none; the \
                     password given to create-admin was NOT applied."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) async fn promote(email: String, config: Option<PathBuf>) -> Result<ExitCode, Failure> {
    let email = normalize_email("promote", &email)?;
    let rs = open(config).await?;
    let result = match rs.promote_pending(&email).await {
        // No pending row: say so, unless the account already exists (a second `promote`).
        Err(CoreError::PendingNotFound) => match rs.stores().users.get_by_email(&email).await {
            Ok(Some(_)) => Err(CoreError::EmailAlreadyRegistered),
            Ok(None) => Err(CoreError::PendingNotFound),
            Err(e) => Err(e.into()),
        },
        other => other,
    };
    rs.close().await;
    match result {
        Ok(user) => {
            eprintln!("User {} verified (id={}).", user.email, user.id);
            Ok(ExitCode::SUCCESS)
        }
        Err(CoreError::PendingNotFound) => Err(Failure::exit(
            1,
            format!("No pending registration for {email}."),
        )),
        Err(CoreError::EmailAlreadyRegistered) => Err(Failure::exit(
            1,
            format!("A user with email {email} already exists."),
        )),
        Err(e) => Err(format!("cannot promote {email}: {}", describe(&e)).into()),
    }
}
