//! Wire shapes: `UserPublic`, token responses, and the two datetime renderings of 0.9.3.

use chrono::{DateTime, SecondsFormat, Utc};
use regstack_core::User;
use serde::ser::{Serialize, SerializeStruct as _, Serializer};

/// pydantic's rendering: `2026-05-01T10:20:30.123456Z`, fraction only when non-zero.
pub fn pydantic_datetime(t: &DateTime<Utc>) -> String {
    let format = if t.timestamp_subsec_micros() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, true)
}

/// Python `isoformat()`: `2026-05-01T10:20:30.123456+00:00`, fraction only when non-zero.
pub fn isoformat(t: &DateTime<Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
    }
}

/// The public view of a user: always these twelve keys, in this order. It borrows the user (no
/// copies of its strings). The datetimes go through [`pydantic_datetime`]: writing them with
/// `collect_str` instead measured slower (serde_json escapes every small write).
#[derive(Debug, Clone, Copy)]
pub struct UserPublic<'a>(pub &'a User);

impl<'a> From<&'a User> for UserPublic<'a> {
    fn from(u: &'a User) -> Self {
        Self(u)
    }
}

/// An optional datetime in pydantic's rendering, or `null`.
struct OptPydantic<'a>(Option<&'a DateTime<Utc>>);

impl Serialize for OptPydantic<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(t) => s.serialize_str(&pydantic_datetime(t)),
            None => s.serialize_none(),
        }
    }
}

impl Serialize for UserPublic<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.0;
        let mut m = s.serialize_struct("UserPublic", 12)?;
        m.serialize_field("id", &u.id)?;
        m.serialize_field("email", &u.email)?;
        m.serialize_field("is_active", &u.is_active)?;
        m.serialize_field("is_verified", &u.is_verified)?;
        m.serialize_field("is_superuser", &u.is_superuser)?;
        m.serialize_field("full_name", &u.full_name)?;
        m.serialize_field("phone_number", &u.phone_number)?;
        m.serialize_field("is_mfa_enabled", &u.is_mfa_enabled)?;
        m.serialize_field("created_at", &OptPydantic(Some(&u.created_at)))?;
        m.serialize_field("updated_at", &OptPydantic(Some(&u.updated_at)))?;
        m.serialize_field("last_login", &OptPydantic(u.last_login.as_ref()))?;
        m.serialize_field(
            "tokens_invalidated_after",
            &OptPydantic(u.tokens_invalidated_after.as_ref()),
        )?;
        m.end()
    }
}

/// `{"access_token", "token_type": "bearer", "expires_in"}`.
#[derive(serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenResponse {
    /// The access token is a live credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// `{"message": ...}`.
#[derive(Debug, serde::Serialize)]
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

    #[test]
    fn user_public_has_the_twelve_keys_in_order() {
        let t = DateTime::from_timestamp(1_777_630_830, 5_000).unwrap();
        let mut u = User {
            id: "abc".into(),
            email: "ü@example.com".into(),
            hashed_password: Some("secret-hash".into()),
            is_active: true,
            is_verified: false,
            is_superuser: false,
            full_name: Some("Ann \"Q\" ✓".into()),
            phone_number: None,
            is_mfa_enabled: true,
            created_at: t,
            updated_at: t,
            last_login: None,
            tokens_invalidated_after: Some(t),
        };
        let json = serde_json::to_string(&UserPublic::from(&u)).unwrap();
        assert_eq!(
            json,
            r#"{"id":"abc","email":"ü@example.com","is_active":true,"is_verified":false,"is_superuser":false,"full_name":"Ann \"Q\" ✓","phone_number":null,"is_mfa_enabled":true,"created_at":"2026-05-01T10:20:30.000005Z","updated_at":"2026-05-01T10:20:30.000005Z","last_login":null,"tokens_invalidated_after":"2026-05-01T10:20:30.000005Z"}"#
        );
        u.full_name = None;
        assert!(
            !serde_json::to_string(&UserPublic(&u))
                .unwrap()
                .contains("secret")
        );
    }

    #[test]
    fn token_response_debug_hides_the_token() {
        let t = TokenResponse {
            access_token: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln".into(),
            token_type: "bearer",
            expires_in: 3600,
        };
        let debug = format!("{t:?}");
        assert!(!debug.contains("eyJ"), "{debug}");
        assert!(debug.contains("3600"), "{debug}");
        assert!(
            serde_json::to_string(&t).unwrap().contains("eyJ"),
            "the wire form keeps it"
        );
    }
}
