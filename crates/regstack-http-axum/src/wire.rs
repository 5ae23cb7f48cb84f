//! Wire shapes: `UserPublic`, token responses, and the two datetime renderings of 0.9.3.

use chrono::{DateTime, SecondsFormat, Utc};
use regstack_core::User;
use serde::Serialize;

/// pydantic's rendering: `2026-05-01T10:20:30.123456Z`, fraction only when non-zero.
pub fn pydantic_datetime(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

/// Python `isoformat()`: `2026-05-01T10:20:30.123456+00:00`, fraction only when non-zero.
pub fn isoformat(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// The public view of a user: always these twelve keys, in this order.
#[derive(Debug, Serialize)]
pub struct UserPublic {
    pub id: String,
    pub email: String,
    pub is_active: bool,
    pub is_verified: bool,
    pub is_superuser: bool,
    pub full_name: Option<String>,
    pub phone_number: Option<String>,
    pub is_mfa_enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_login: Option<String>,
    pub tokens_invalidated_after: Option<String>,
}

impl From<&User> for UserPublic {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            is_active: u.is_active,
            is_verified: u.is_verified,
            is_superuser: u.is_superuser,
            full_name: u.full_name.clone(),
            phone_number: u.phone_number.clone(),
            is_mfa_enabled: u.is_mfa_enabled,
            created_at: pydantic_datetime(&u.created_at),
            updated_at: pydantic_datetime(&u.updated_at),
            last_login: u.last_login.as_ref().map(pydantic_datetime),
            tokens_invalidated_after: u.tokens_invalidated_after.as_ref().map(pydantic_datetime),
        }
    }
}

/// `{"access_token", "token_type": "bearer", "expires_in"}`.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

/// `{"message": ...}`.
#[derive(Debug, Serialize)]
pub struct MessageResponse {
    pub message: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_renderings() {
        let with = DateTime::from_timestamp(1_777_630_830, 123_456_000).unwrap();
        let without = DateTime::from_timestamp(1_777_630_830, 0).unwrap();
        assert_eq!(pydantic_datetime(&with), "2026-05-01T10:20:30.123456Z");
        assert_eq!(pydantic_datetime(&without), "2026-05-01T10:20:30Z");
        assert_eq!(isoformat(&with), "2026-05-01T10:20:30.123456+00:00");
        assert_eq!(isoformat(&without), "2026-05-01T10:20:30+00:00");
        let millis = DateTime::from_timestamp(1_777_630_830, 123_000_000).unwrap();
        assert_eq!(pydantic_datetime(&millis), "2026-05-01T10:20:30.123000Z");
    }
}
