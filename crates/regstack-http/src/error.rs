//! Every error answer of the JSON API: the one place where core outcomes become status codes,
//! headers and the exact `detail` strings of regstack 0.9.3. One exhaustive `match` over
//! [`regstack_core::Error`]: a new outcome without a mapping does not compile.

use http::{HeaderValue, StatusCode, header};
use regstack_core::password::HashError;
use regstack_core::{AuthFailure, Error, MfaFailure};
use serde_json::{Value, json};

use crate::body::ValidationItem;
use crate::reply::{Reply, detail, internal_error, with_retry_after};

/// An error answer.
#[derive(Debug)]
pub enum ApiError {
    /// A flow ended without success.
    Core(Error),
    /// 422 with the validation envelope.
    Validation(Vec<ValidationItem>),
    /// 413: the body exceeds `max_body_bytes`.
    PayloadTooLarge,
    /// 429 from a per-route IP limit.
    RateLimited(crate::ratelimit::RateLimited),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::Core(e)
    }
}

impl From<AuthFailure> for ApiError {
    fn from(e: AuthFailure) -> Self {
        ApiError::Core(Error::Auth(e))
    }
}

/// The 422 item of a refused `full_name` (`value_error` at `["body", "full_name"]`).
pub fn full_name_item(reason: &'static str, input: Value) -> ValidationItem {
    ValidationItem {
        kind: "value_error",
        loc: vec![Value::from("body"), Value::from("full_name")],
        msg: format!("Value error, {reason}"),
        input,
        ctx: Some(json!({ "error": reason })),
    }
}

/// The 401 of bearer authentication for one failure.
fn auth_response(f: AuthFailure) -> Reply {
    let (text, challenge) = match f {
        AuthFailure::Missing => ("Authentication required.", true),
        AuthFailure::InvalidToken => ("Invalid or expired token.", true),
        AuthFailure::Revoked => ("Token has been revoked.", false),
        AuthFailure::Inactive => ("User no longer active.", false),
        AuthFailure::Invalidated => ("Session was invalidated; please sign in again.", false),
    };
    let mut resp = detail(StatusCode::UNAUTHORIZED, text);
    if challenge {
        resp.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}

/// The 400 detail of an SMS-code failure at sign-in.
pub fn login_mfa_detail(f: MfaFailure) -> String {
    match f {
        MfaFailure::Missing => "No pending sign-in code — start the login flow again.".into(),
        MfaFailure::Locked => "Too many wrong attempts — start the login flow again.".into(),
        MfaFailure::Expired => "Sign-in code has expired. Try logging in again.".into(),
        MfaFailure::Wrong { attempts_remaining } => wrong_code(attempts_remaining),
    }
}

/// `Wrong code; <n> attempts remaining.` / `Wrong code.`
pub fn wrong_code(n: i32) -> String {
    if n > 0 {
        format!("Wrong code; {n} attempts remaining.")
    } else {
        "Wrong code.".into()
    }
}

fn core_response(e: Error) -> Reply {
    use StatusCode as S;
    match e {
        Error::RegistrationDisabled => detail(S::FORBIDDEN, "Registration is disabled."),
        Error::EmailAlreadyRegistered => {
            detail(S::CONFLICT, "An account with that email already exists.")
        }
        Error::InvalidVerificationToken => detail(
            S::BAD_REQUEST,
            "Verification link is invalid or has expired. Request a new one.",
        ),
        Error::AlreadyVerified => detail(
            S::BAD_REQUEST,
            "This email is already registered. Please sign in.",
        ),
        Error::LockedOut { retry_after, .. } => with_retry_after(
            detail(
                S::TOO_MANY_REQUESTS,
                format!("Too many failed attempts. Try again in {retry_after} seconds."),
            ),
            retry_after,
        ),
        // Every hashing thread stayed busy past `password_hash_max_wait_ms`: nothing was
        // evaluated or counted.
        Error::Hash(HashError::Busy { retry_after }) => with_retry_after(
            detail(
                S::SERVICE_UNAVAILABLE,
                format!("Server is busy. Try again in {retry_after} seconds."),
            ),
            retry_after,
        ),
        Error::InvalidCredentials { remaining } => match remaining {
            Some(n) if n > 0 => detail(
                S::UNAUTHORIZED,
                format!("Invalid email or password. {n} attempt(s) remaining."),
            ),
            _ => detail(S::UNAUTHORIZED, "Invalid email or password."),
        },
        Error::AccountDisabled => detail(S::FORBIDDEN, "Account is disabled."),
        Error::EmailNotVerified => detail(S::FORBIDDEN, "Email address has not been verified."),
        Error::InvalidMfaSession => detail(
            S::BAD_REQUEST,
            "Sign-in session is invalid or has expired. Start over from sign-in.",
        ),
        Error::MfaCode(f) => detail(S::BAD_REQUEST, login_mfa_detail(f)),
        Error::TokenAccountMismatch => {
            detail(S::BAD_REQUEST, "Token does not match an active account.")
        }
        Error::InvalidFullName(reason) => crate::reply::json(
            S::UNPROCESSABLE_ENTITY,
            &json!({ "detail": [full_name_item(reason, Value::Null).to_json()] }),
        ),
        Error::NoPasswordSet => detail(
            S::BAD_REQUEST,
            "No password set on this account. Use forgot-password to set one before changing account details.",
        ),
        Error::CurrentPasswordIncorrect => detail(S::BAD_REQUEST, "Current password is incorrect."),
        Error::SamePassword => detail(
            S::BAD_REQUEST,
            "New password must differ from the current password.",
        ),
        Error::SameEmail => detail(
            S::BAD_REQUEST,
            "New email is the same as the current email.",
        ),
        Error::InvalidEmailChangeToken => detail(
            S::BAD_REQUEST,
            "Email-change link is invalid or has expired. Request a new one.",
        ),
        Error::EmailInUse => detail(S::CONFLICT, "That email address is already in use."),
        Error::AccountDeletionDisabled => detail(
            S::NOT_FOUND,
            "Account deletion is disabled for this application.",
        ),
        Error::PasswordResetDisabled => detail(
            S::NOT_FOUND,
            "Password reset is disabled for this application.",
        ),
        Error::InvalidResetToken => detail(
            S::BAD_REQUEST,
            "Reset link is invalid or has expired. Request a new one.",
        ),
        Error::ResetAccountMismatch => detail(
            S::BAD_REQUEST,
            "Reset link does not match an active account.",
        ),
        Error::UserNotFound => detail(S::NOT_FOUND, "User not found."),
        // As if the admin routes were not mounted.
        Error::AdminDisabled => detail(S::NOT_FOUND, "Not Found"),
        Error::AlreadyVerifiedUser => detail(S::BAD_REQUEST, "User is already verified."),
        Error::Auth(f) => auth_response(f),
        Error::NotSuperuser => detail(S::FORBIDDEN, "Administrator privileges required."),
        // Exhaustive on purpose (no `_` arm): a new core outcome must be given an answer here.
        Error::PendingNotFound => detail(S::NOT_FOUND, "No pending registration."),
        Error::Hash(_) | Error::Store(_) | Error::Mail(_) | Error::Sms(_) => {
            tracing::error!(target: "regstack.http", error = %e, source = ?std::error::Error::source(&e), "request failed");
            internal_error()
        }
    }
}

impl ApiError {
    /// The answer: status, headers and body.
    pub fn into_reply(self) -> Reply {
        match self {
            ApiError::Core(e) => core_response(e),
            ApiError::Validation(items) => {
                let list: Vec<Value> = items.iter().map(ValidationItem::to_json).collect();
                crate::reply::json(StatusCode::UNPROCESSABLE_ENTITY, &json!({ "detail": list }))
            }
            ApiError::PayloadTooLarge => {
                detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
            }
            ApiError::RateLimited(r) => r.into_reply(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_and_detail(e: Error) -> (u16, serde_json::Value) {
        let reply = ApiError::Core(e).into_reply();
        let body = serde_json::from_slice(reply.body()).unwrap_or(serde_json::Value::Null);
        (reply.status().as_u16(), body["detail"].clone())
    }

    /// Every outcome a client can cause has its own status and `detail` (the `match` is
    /// exhaustive, so a new variant cannot be forgotten); only infrastructure failures are 500.
    #[test]
    fn every_core_outcome_has_its_answer() {
        use regstack_core::{AuthFailure as A, MfaFailure as M};
        let cases: Vec<(Error, u16)> = vec![
            (Error::RegistrationDisabled, 403),
            (Error::EmailAlreadyRegistered, 409),
            (Error::InvalidVerificationToken, 400),
            (Error::AlreadyVerified, 400),
            (
                Error::LockedOut {
                    retry_after: 7,
                    window: 900,
                },
                429,
            ),
            (Error::InvalidCredentials { remaining: Some(2) }, 401),
            (Error::InvalidCredentials { remaining: None }, 401),
            (Error::AccountDisabled, 403),
            (Error::EmailNotVerified, 403),
            (Error::InvalidMfaSession, 400),
            (
                Error::MfaCode(M::Wrong {
                    attempts_remaining: 3,
                }),
                400,
            ),
            (Error::MfaCode(M::Locked), 400),
            (Error::TokenAccountMismatch, 400),
            (Error::InvalidFullName("x"), 422),
            (Error::NoPasswordSet, 400),
            (Error::CurrentPasswordIncorrect, 400),
            (Error::SamePassword, 400),
            (Error::SameEmail, 400),
            (Error::InvalidEmailChangeToken, 400),
            (Error::EmailInUse, 409),
            (Error::AccountDeletionDisabled, 404),
            (Error::PasswordResetDisabled, 404),
            (Error::InvalidResetToken, 400),
            (Error::ResetAccountMismatch, 400),
            (Error::AdminDisabled, 404),
            (Error::UserNotFound, 404),
            (Error::AlreadyVerifiedUser, 400),
            (Error::PendingNotFound, 404),
            (Error::Auth(A::Missing), 401),
            (Error::Auth(A::Invalidated), 401),
            (Error::NotSuperuser, 403),
            (Error::Hash(HashError::Busy { retry_after: 2 }), 503),
            (Error::Hash(HashError::Join), 500),
        ];
        for (e, status) in cases {
            let name = format!("{e:?}");
            let (got, detail) = status_and_detail(e);
            assert_eq!(got, status, "{name}");
            if status != 500 {
                assert!(!detail.is_null(), "{name} has a detail");
            }
        }
        let locked = ApiError::Core(Error::LockedOut {
            retry_after: 7,
            window: 900,
        })
        .into_reply();
        assert_eq!(locked.headers()[header::RETRY_AFTER], "7");
        let busy = ApiError::Core(Error::Hash(HashError::Busy { retry_after: 2 })).into_reply();
        assert_eq!(busy.headers()[header::RETRY_AFTER], "2");
        let missing = ApiError::Core(Error::Auth(regstack_core::AuthFailure::Missing)).into_reply();
        assert_eq!(missing.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
