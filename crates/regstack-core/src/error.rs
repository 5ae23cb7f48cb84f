//! The typed outcomes of the flows. Only the HTTP crates turn these into status codes.

use crate::mail::MailError;
use crate::password::HashError;
use crate::sms::SmsError;
use crate::store::StoreError;

/// Result alias of the flows.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why bearer authentication failed (regstack 0.9.3's HTTP API, in check order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No usable `Authorization: Bearer` header.
    #[error("authentication required")]
    Missing,
    /// The token does not decode as a session token.
    #[error("invalid or expired token")]
    InvalidToken,
    /// The token's `jti` is revoked.
    #[error("token has been revoked")]
    Revoked,
    /// The user is gone or disabled.
    #[error("user no longer active")]
    Inactive,
    /// The token was issued at or before the user's bulk-revocation cutoff.
    #[error("session was invalidated")]
    Invalidated,
}

/// Why an SMS code was not accepted (regstack 0.9.3's data model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MfaFailure {
    #[error("no pending code")]
    Missing,
    #[error("too many wrong attempts")]
    Locked,
    #[error("code has expired")]
    Expired,
    #[error("wrong code; {attempts_remaining} attempts remaining")]
    Wrong { attempts_remaining: i32 },
}

/// Every way a flow can end other than success.
///
/// Deliberately not `#[non_exhaustive]`: `regstack-http` maps it with one exhaustive `match`, so
/// a new outcome without an answer does not compile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // register / verify
    #[error("registration is disabled")]
    RegistrationDisabled,
    #[error("an account with that email already exists")]
    EmailAlreadyRegistered,
    #[error("verification link is invalid or has expired")]
    InvalidVerificationToken,
    #[error("this email is already registered")]
    AlreadyVerified,

    // login
    #[error("too many failed attempts; retry in {retry_after} seconds")]
    LockedOut {
        /// Seconds until the lockout ends (at least 1).
        retry_after: u64,
        /// The configured window, in seconds (the detail text names it).
        window: u64,
    },
    #[error("invalid email or password")]
    InvalidCredentials {
        /// Attempts left before lockout; `None` when lockout is disabled.
        remaining: Option<u64>,
    },
    #[error("account is disabled")]
    AccountDisabled,
    #[error("email address has not been verified")]
    EmailNotVerified,
    #[error("sign-in session is invalid or has expired")]
    InvalidMfaSession,
    #[error("sign-in code refused: {0}")]
    MfaCode(MfaFailure),
    #[error("token does not match an active account")]
    TokenAccountMismatch,

    // account
    /// A `full_name` with control or bidirectional formatting characters
    /// ([`crate::full_name_problem`]); the HTTP layer answers 422 like any invalid field.
    #[error("invalid full name: {0}")]
    InvalidFullName(&'static str),
    #[error("no password set on this account")]
    NoPasswordSet,
    #[error("current password is incorrect")]
    CurrentPasswordIncorrect,
    #[error("new password must differ from the current password")]
    SamePassword,
    #[error("new email is the same as the current email")]
    SameEmail,
    #[error("email-change link is invalid or has expired")]
    InvalidEmailChangeToken,
    #[error("that email address is already in use")]
    EmailInUse,
    #[error("account deletion is disabled")]
    AccountDeletionDisabled,
    #[error("password reset is disabled")]
    PasswordResetDisabled,
    #[error("reset link is invalid or has expired")]
    InvalidResetToken,
    #[error("reset link does not match an active account")]
    ResetAccountMismatch,

    // admin
    /// The admin API is off (`enable_admin_router = false`).
    #[error("the admin api is disabled")]
    AdminDisabled,
    #[error("user not found")]
    UserNotFound,
    #[error("user is already verified")]
    AlreadyVerifiedUser,
    #[error("no pending registration")]
    PendingNotFound,

    // bearer authentication
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthFailure),
    #[error("administrator privileges required")]
    NotSuperuser,

    // infrastructure
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Sms(#[from] SmsError),
}
