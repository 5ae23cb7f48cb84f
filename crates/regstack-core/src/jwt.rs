//! regstack's JWTs: HMAC-signed with a key derived per purpose from the master secret
//! (regstack 0.9.3's data model), wire-compatible with regstack 0.9.3.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::Sha256;

use crate::clock::Clock;
use crate::config::{JwtAlgorithm, RegStackConfig};

/// What a token is for; each purpose has its own signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    Session,
    PasswordReset,
    EmailChange,
    PhoneSetup,
    LoginMfa,
}

impl Purpose {
    /// Every purpose.
    pub const ALL: [Purpose; 5] = [
        Purpose::Session,
        Purpose::PasswordReset,
        Purpose::EmailChange,
        Purpose::PhoneSetup,
        Purpose::LoginMfa,
    ];

    /// The `purpose` claim value.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Session => "session",
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailChange => "email_change",
            Purpose::PhoneSetup => "phone_setup",
            Purpose::LoginMfa => "login_mfa",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The decoded claims of a regstack JWT.
#[derive(Clone, PartialEq)]
pub struct Claims {
    pub sub: String,
    pub jti: String,
    /// Issue instant with microsecond precision.
    pub iat: DateTime<Utc>,
    /// Expiry in whole seconds.
    pub exp: DateTime<Utc>,
    pub purpose: Purpose,
    pub new_email: Option<String>,
    pub phone: Option<String>,
    /// The account's email when an email-change token was issued (regstack 0.9.3's tokens
    /// carry none).
    pub old_email: Option<String>,
}

impl fmt::Debug for Claims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claims")
            .field("sub", &self.sub)
            .field("purpose", &self.purpose)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .finish_non_exhaustive()
    }
}

/// A token failed to decode. Deliberately carries no reason that could reach a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid or expired token")]
pub struct InvalidToken;

/// Extra claims of an issued token.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub new_email: Option<String>,
    pub phone: Option<String>,
    pub old_email: Option<String>,
}

/// The claims [`JwtCodec::decode`] reads, typed (a map of JSON values costs dozens of
/// allocations per request). A claim of the wrong JSON type counts as absent, as when they were
/// read from a map: `sub`, `jti` and `purpose` must be strings, `iat` and `exp` numbers, and a
/// non-string `new_email` or `phone` is missing. Other claims are skipped.
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    sub: Scalar,
    #[serde(default)]
    jti: Scalar,
    #[serde(default)]
    iat: Scalar,
    #[serde(default)]
    exp: Scalar,
    #[serde(default)]
    purpose: Scalar,
    #[serde(default)]
    aud: Option<Value>,
    #[serde(default)]
    new_email: Scalar,
    #[serde(default)]
    phone: Scalar,
    #[serde(default)]
    old_email: Scalar,
}

/// One claim's value: a string, a number, or anything else (skipped without being kept).
#[derive(Debug, Default, PartialEq)]
enum Scalar {
    Text(String),
    Number(f64),
    #[default]
    Other,
}

impl Scalar {
    fn text(self) -> Option<String> {
        match self {
            Scalar::Text(s) => Some(s),
            _ => None,
        }
    }

    fn number(self) -> Option<f64> {
        match self {
            Scalar::Number(n) => Some(n),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Number(v as f64))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Scalar, D::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Scalar, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// Issues and verifies regstack JWTs.
pub struct JwtCodec {
    algorithm: Algorithm,
    keys: Vec<(EncodingKey, DecodingKey)>,
    /// What jsonwebtoken checks: the signature and the algorithm only (the claims are checked
    /// by [`JwtCodec::decode`] itself). Built once: it allocates.
    validation: Validation,
    audience: Option<String>,
    ttls: [i64; 5],
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtCodec")
            .field("algorithm", &self.algorithm)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// `HMAC-SHA256(key = secret, message = purpose)`: the per-purpose signing key.
pub fn derive_key(secret: &str, purpose: Purpose) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac accepts keys of any length"));
    mac.update(purpose.as_str().as_bytes());
    mac.finalize().into_bytes().into()
}

impl JwtCodec {
    /// A codec for this configuration and clock.
    pub fn new(config: &RegStackConfig, clock: Arc<dyn Clock>) -> Self {
        let algorithm = match config.jwt_algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
        };
        let secret = config.jwt_secret.expose();
        let keys = Purpose::ALL
            .iter()
            .map(|p| {
                let k = derive_key(secret, *p);
                (EncodingKey::from_secret(&k), DecodingKey::from_secret(&k))
            })
            .collect();
        let mfa = config.mfa_pending_token_ttl_seconds;
        let mut validation = Validation::new(algorithm);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Self {
            algorithm,
            keys,
            validation,
            audience: config.jwt_audience.clone(),
            ttls: [
                config.jwt_ttl_seconds,
                config.password_reset_token_ttl_seconds,
                config.email_change_token_ttl_seconds,
                mfa,
                mfa,
            ],
            clock,
        }
    }

    /// The lifetime of tokens of this purpose, in seconds.
    pub fn ttl_seconds(&self, purpose: Purpose) -> i64 {
        self.ttls[purpose.index()]
    }

    /// Mint a token for `sub`.
    pub fn issue(&self, purpose: Purpose, sub: &str, extra: Extra) -> (String, Claims) {
        let iat = self.clock.now();
        let iat_micros = iat.timestamp_micros();
        let exp_secs = iat_micros.div_euclid(1_000_000) + self.ttl_seconds(purpose);
        let exp = DateTime::from_timestamp(exp_secs, 0).unwrap_or(iat);
        let jti = crate::token::new_jti();
        let mut payload = Map::new();
        payload.insert("sub".into(), Value::from(sub));
        payload.insert("jti".into(), Value::from(jti.clone()));
        payload.insert("iat".into(), Value::from(iat_micros as f64 / 1_000_000.0));
        payload.insert("exp".into(), Value::from(exp_secs));
        payload.insert("purpose".into(), Value::from(purpose.as_str()));
        if let Some(aud) = &self.audience {
            payload.insert("aud".into(), Value::from(aud.clone()));
        }
        if let Some(e) = &extra.new_email {
            payload.insert("new_email".into(), Value::from(e.clone()));
        }
        if let Some(p) = &extra.phone {
            payload.insert("phone".into(), Value::from(p.clone()));
        }
        if let Some(e) = &extra.old_email {
            payload.insert("old_email".into(), Value::from(e.clone()));
        }
        let token = jsonwebtoken::encode(
            &Header::new(self.algorithm),
            &payload,
            &self.keys[purpose.index()].0,
        )
        .unwrap_or_else(|_| unreachable!("hmac signing of a json map cannot fail"));
        let claims = Claims {
            sub: sub.to_owned(),
            jti,
            iat,
            exp,
            purpose,
            new_email: extra.new_email,
            phone: extra.phone,
            old_email: extra.old_email,
        };
        (token, claims)
    }

    /// Verify a token of the expected purpose (signature, algorithm, claims, audience, expiry).
    pub fn decode(&self, token: &str, purpose: Purpose) -> Result<Claims, InvalidToken> {
        let data = jsonwebtoken::decode::<RawClaims>(
            token,
            &self.keys[purpose.index()].1,
            &self.validation,
        )
        .map_err(|_| InvalidToken)?;
        let c = data.claims;
        let sub = c.sub.text().ok_or(InvalidToken)?;
        let jti = c.jti.text().ok_or(InvalidToken)?;
        let iat = c.iat.number().ok_or(InvalidToken)?;
        let exp = c.exp.number().ok_or(InvalidToken)?;
        if c.purpose.text().as_deref() != Some(purpose.as_str()) {
            return Err(InvalidToken);
        }
        match (&self.audience, c.aud.as_ref()) {
            (Some(want), Some(Value::String(got))) if got == want => {}
            (Some(want), Some(Value::Array(list)))
                if list.iter().any(|v| v.as_str() == Some(want.as_str())) => {}
            (Some(_), _) => return Err(InvalidToken),
            (None, None | Some(Value::Null)) => {}
            (None, Some(Value::String(s))) if s.is_empty() => {}
            (None, Some(Value::Array(a))) if a.is_empty() => {}
            (None, Some(_)) => return Err(InvalidToken),
        }
        let new_email = c.new_email.text();
        let phone = c.phone.text();
        let old_email = c.old_email.text();
        match purpose {
            Purpose::EmailChange if new_email.is_none() => return Err(InvalidToken),
            Purpose::PhoneSetup if phone.is_none() => return Err(InvalidToken),
            _ => {}
        }
        if !iat.is_finite() || !exp.is_finite() {
            return Err(InvalidToken);
        }
        let exp_secs = exp.floor() as i64;
        let now = self.clock.now();
        if now.timestamp() >= exp_secs {
            return Err(InvalidToken);
        }
        let iat = DateTime::from_timestamp_micros((iat * 1_000_000.0).round() as i64)
            .ok_or(InvalidToken)?;
        let exp = DateTime::from_timestamp(exp_secs, 0).ok_or(InvalidToken)?;
        Ok(Claims {
            sub,
            jti,
            iat,
            exp,
            purpose,
            new_email,
            phone,
            old_email,
        })
    }

    /// The `purpose` claim of a token, read without verifying it (never trust the result).
    pub fn peek_purpose(token: &str) -> Option<String> {
        jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token)
            .ok()
            .and_then(|d| {
                d.claims
                    .get("purpose")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FrozenClock;

    fn config() -> RegStackConfig {
        RegStackConfig {
            jwt_secret: "x".repeat(40).into(),
            ..RegStackConfig::default()
        }
    }

    fn at(secs: i64, micros: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, micros * 1000).unwrap()
    }

    #[test]
    fn round_trip_keeps_microseconds() {
        let clock = Arc::new(FrozenClock::new(at(1_767_225_600, 123_456)));
        let codec = JwtCodec::new(&config(), clock.clone());
        let (token, claims) = codec.issue(Purpose::Session, "u1", Extra::default());
        let back = codec.decode(&token, Purpose::Session).unwrap();
        assert_eq!(back, claims);
        assert_eq!(back.iat, at(1_767_225_600, 123_456));
        assert_eq!(back.exp.timestamp(), 1_767_225_600 + 7200);
    }

    #[test]
    fn purposes_do_not_cross() {
        let clock = Arc::new(FrozenClock::new(at(1_767_225_600, 0)));
        let codec = JwtCodec::new(&config(), clock);
        let (token, _) = codec.issue(Purpose::Session, "u1", Extra::default());
        for p in [
            Purpose::PasswordReset,
            Purpose::EmailChange,
            Purpose::LoginMfa,
        ] {
            assert_eq!(codec.decode(&token, p), Err(InvalidToken));
        }
    }

    #[test]
    fn expiry_is_checked_against_the_clock() {
        let clock = Arc::new(FrozenClock::new(at(1_767_225_600, 500_000)));
        let codec = JwtCodec::new(&config(), clock.clone());
        let (token, _) = codec.issue(Purpose::Session, "u1", Extra::default());
        clock.advance(chrono::Duration::seconds(7199));
        assert!(codec.decode(&token, Purpose::Session).is_ok());
        clock.advance(chrono::Duration::milliseconds(500));
        assert_eq!(codec.decode(&token, Purpose::Session), Err(InvalidToken));
    }

    #[test]
    fn audience_rules() {
        let clock: Arc<dyn Clock> = Arc::new(FrozenClock::new(at(1_767_225_600, 0)));
        let with_aud = JwtCodec::new(
            &RegStackConfig {
                jwt_audience: Some("app".into()),
                ..config()
            },
            clock.clone(),
        );
        let without = JwtCodec::new(&config(), clock);
        let (t_aud, _) = with_aud.issue(Purpose::Session, "u", Extra::default());
        let (t_plain, _) = without.issue(Purpose::Session, "u", Extra::default());
        assert!(with_aud.decode(&t_aud, Purpose::Session).is_ok());
        assert!(with_aud.decode(&t_plain, Purpose::Session).is_err());
        assert!(without.decode(&t_aud, Purpose::Session).is_err());
    }

    #[test]
    fn email_change_requires_new_email() {
        let clock = Arc::new(FrozenClock::new(at(1_767_225_600, 0)));
        let codec = JwtCodec::new(&config(), clock);
        let (bad, _) = codec.issue(Purpose::EmailChange, "u", Extra::default());
        assert!(codec.decode(&bad, Purpose::EmailChange).is_err());
        let (good, _) = codec.issue(
            Purpose::EmailChange,
            "u",
            Extra {
                new_email: Some("b@example.com".into()),
                old_email: Some("a@example.com".into()),
                phone: None,
            },
        );
        assert_eq!(
            codec
                .decode(&good, Purpose::EmailChange)
                .unwrap()
                .old_email
                .as_deref(),
            Some("a@example.com")
        );
        assert_eq!(
            codec
                .decode(&good, Purpose::EmailChange)
                .unwrap()
                .new_email
                .as_deref(),
            Some("b@example.com")
        );
    }

    /// A token signed with the right key but with hand-written claims.
    fn signed(claims: Value, purpose: Purpose) -> String {
        let key = derive_key(&"x".repeat(40), purpose);
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&key),
        )
        .unwrap()
    }

    #[test]
    fn claims_of_the_wrong_json_type_are_absent() {
        let now = 1_767_225_600_i64;
        let clock = Arc::new(FrozenClock::new(at(now, 0)));
        let codec = JwtCodec::new(&config(), clock);
        let base = || {
            serde_json::json!({
                "sub": "u1", "jti": "j1", "iat": now as f64 + 0.25, "exp": now + 60,
                "purpose": "session",
            })
        };
        let decode =
            |claims: Value| codec.decode(&signed(claims, Purpose::Session), Purpose::Session);
        // Integers and floats are both numbers; unknown claims of any shape are skipped.
        let mut ok = base();
        ok["extra"] = serde_json::json!({"nested": [1, {"a": null}], "s": "x"});
        ok["list"] = serde_json::json!([[], {}, "y"]);
        ok["phone"] = serde_json::json!(15_555_550_123_u64);
        let c = decode(ok).expect("valid");
        assert_eq!((c.sub.as_str(), c.jti.as_str()), ("u1", "j1"));
        assert_eq!(c.iat, at(now, 250_000));
        assert_eq!(c.phone, None, "a non-string phone is missing");
        // A required claim of another type, null, or missing is an invalid token.
        for (claim, value) in [
            ("sub", serde_json::json!(1)),
            ("sub", Value::Null),
            ("jti", serde_json::json!(["j1"])),
            ("iat", serde_json::json!("1767225600")),
            ("exp", serde_json::json!({"t": 1})),
            ("exp", serde_json::json!(true)),
            ("purpose", Value::Null),
            ("purpose", serde_json::json!("Session")),
        ] {
            let mut claims = base();
            claims[claim] = value.clone();
            assert_eq!(decode(claims), Err(InvalidToken), "{claim} = {value}");
            let mut claims = base();
            claims.as_object_mut().unwrap().remove(claim);
            assert_eq!(decode(claims), Err(InvalidToken), "{claim} missing");
        }
        // An email-change token needs a string new_email.
        let mut change = base();
        change["purpose"] = "email_change".into();
        change["new_email"] = serde_json::json!(7);
        let token = signed(change.clone(), Purpose::EmailChange);
        assert_eq!(
            codec.decode(&token, Purpose::EmailChange),
            Err(InvalidToken)
        );
        change["new_email"] = "b@example.com".into();
        let token = signed(change, Purpose::EmailChange);
        let c = codec.decode(&token, Purpose::EmailChange).expect("valid");
        assert_eq!(c.new_email.as_deref(), Some("b@example.com"));
    }

    #[test]
    fn other_algorithm_is_refused() {
        let clock: Arc<dyn Clock> = Arc::new(FrozenClock::new(at(1_767_225_600, 0)));
        let hs512 = JwtCodec::new(
            &RegStackConfig {
                jwt_algorithm: JwtAlgorithm::HS512,
                ..config()
            },
            clock.clone(),
        );
        let hs256 = JwtCodec::new(&config(), clock);
        let (t, _) = hs512.issue(Purpose::Session, "u", Extra::default());
        assert!(hs512.decode(&t, Purpose::Session).is_ok());
        assert!(hs256.decode(&t, Purpose::Session).is_err());
        assert!(hs256.decode("not.a.jwt", Purpose::Session).is_err());
        assert!(hs256.decode("", Purpose::Session).is_err());
    }
}
