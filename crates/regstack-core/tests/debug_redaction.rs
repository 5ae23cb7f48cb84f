//! No secret, raw token, code, code hash or password hash reaches a `Debug` output
//! (ARCHITECTURE.md), and a serialised `User` carries no hash: every public type of core that
//! holds one is built with live-looking values and printed both ways.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use regstack_core::config::SecretString;
use regstack_core::flows::{Authenticated, LoginOutcome, RegisterInput, SessionToken};
use regstack_core::jwt::{Claims, Extra, JwtCodec, Purpose};
use regstack_core::mail::{EmailKind, MailContext, Rendered};
use regstack_core::{
    EmailMessage, Event, FrozenClock, MfaCode, MfaKind, NewPending, NewUser, OAuthState,
    PendingRegistration, RegStackConfig, SmsKind, SmsMessage, User, UserGuard, UserPatch,
};

/// An Argon2id PHC string as a store keeps it.
const HASH: &str =
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
const PASSWORD: &str = "plaintext-password-never-printed";
const JWT_SECRET: &str = "JWT-SECRET-never-printed-0123456789abcdefghij";
const SMTP_PASSWORD: &str = "SMTP-PASSWORD-never-printed";
const DB_PASSWORD: &str = "DB-PASSWORD-never-printed";
const SES_SECRET: &str = "SES-SECRET-never-printed";
const TWILIO_TOKEN: &str = "TWILIO-TOKEN-never-printed";
const GOOGLE_SECRET: &str = "GOOGLE-SECRET-never-printed";
/// A live SMS code.
const CODE: &str = "493817";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn config() -> RegStackConfig {
    let mut cfg = RegStackConfig {
        jwt_secret: JWT_SECRET.into(),
        database_url: SecretString::new(format!(
            "postgresql://app:{DB_PASSWORD}@db.example.com:5432/app"
        )),
        ..RegStackConfig::default()
    };
    cfg.email.smtp_username = Some("mailer".into());
    cfg.email.smtp_password = Some(SMTP_PASSWORD.into());
    cfg.email.ses_access_key_id = Some("AKIAEXAMPLEKEYID".into());
    cfg.email.ses_secret_access_key = Some(SES_SECRET.into());
    cfg.sms.twilio_auth_token = Some(TWILIO_TOKEN.into());
    cfg.oauth.google_client_secret = Some(GOOGLE_SECRET.into());
    cfg
}

/// Secrets of one test: a real JWT of every kind in use, a raw link token and its digest.
struct Secrets {
    session_jwt: String,
    session_claims: Claims,
    mfa_jwt: String,
    reset_jwt: String,
    change_jwt: String,
    link_token: String,
}

impl Secrets {
    fn new() -> Self {
        let codec = JwtCodec::new(&config(), Arc::new(FrozenClock::new(t0())));
        let (session_jwt, session_claims) = codec.issue(Purpose::Session, "u1", Extra::default());
        let (mfa_jwt, _) = codec.issue(Purpose::LoginMfa, "u1", Extra::default());
        let (reset_jwt, _) = codec.issue(Purpose::PasswordReset, "u1", Extra::default());
        let (change_jwt, _) = codec.issue(
            Purpose::EmailChange,
            "u1",
            Extra {
                new_email: Some("new@example.com".into()),
                old_email: Some("alice@example.com".into()),
                ..Extra::default()
            },
        );
        for jwt in [&session_jwt, &mfa_jwt, &reset_jwt, &change_jwt] {
            assert!(jwt.starts_with("eyJ"), "{jwt}");
        }
        Self {
            session_jwt,
            session_claims,
            mfa_jwt,
            reset_jwt,
            change_jwt,
            link_token: regstack_core::token::new_link_token(),
        }
    }

    /// What no `Debug` output may contain.
    fn forbidden(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![
            "eyJ".into(),
            "$argon2".into(),
            "argon2id".into(),
            HASH.into(),
            PASSWORD.into(),
            JWT_SECRET.into(),
            SMTP_PASSWORD.into(),
            DB_PASSWORD.into(),
            SES_SECRET.into(),
            TWILIO_TOKEN.into(),
            GOOGLE_SECRET.into(),
            CODE.into(),
            regstack_core::token::sha256_hex(CODE),
            self.link_token.clone(),
            regstack_core::token::sha256_hex(&self.link_token),
        ];
        // The signature and payload parts of each token, on their own.
        for jwt in [
            &self.session_jwt,
            &self.mfa_jwt,
            &self.reset_jwt,
            &self.change_jwt,
        ] {
            out.extend(jwt.split('.').map(str::to_owned));
        }
        out
    }

    /// A verification link with the raw token in it.
    fn verify_url(&self) -> String {
        format!("http://localhost:8000/verify?token={}", self.link_token)
    }
}

fn user() -> User {
    let mut new = NewUser::new("alice@example.com", Some(HASH.into()), t0());
    new.full_name = Some("Alice".into());
    new.phone_number = Some("+14155552671".into());
    new.with_id("0123456789abcdef0123456789abcdef".into())
}

/// Assert neither `{:?}` nor `{:#?}` of `value` holds any of `forbidden`.
#[track_caller]
fn assert_redacted<T: std::fmt::Debug>(what: &str, value: &T, forbidden: &[String]) {
    for (style, text) in [
        ("{:?}", format!("{value:?}")),
        ("{:#?}", format!("{value:#?}")),
    ] {
        for secret in forbidden {
            assert!(
                !text.contains(secret.as_str()),
                "{what} {style} prints {secret:?}: {text}"
            );
        }
    }
}

#[test]
fn domain_rows_print_no_hash_and_no_token() {
    let s = Secrets::new();
    let forbidden = s.forbidden();
    let user = user();
    assert_redacted("User", &user, &forbidden);
    // What the Debug output still says (so the checks above are not passing on an empty one).
    assert!(format!("{user:?}").contains("alice@example.com"));

    let mut new_user = NewUser::new("bob@example.com", Some(HASH.into()), t0());
    new_user.full_name = Some("Bob".into());
    assert_redacted("NewUser", &new_user, &forbidden);

    let patch = UserPatch {
        email: Some("carol@example.com".into()),
        hashed_password: Some(Some(HASH.into())),
        tokens_invalidated_after: Some(Some(t0())),
        ..UserPatch::default()
    };
    assert_redacted("UserPatch", &patch, &forbidden);
    assert_redacted("UserGuard", &UserGuard::of(&user), &forbidden);

    let new_pending = NewPending {
        email: "dave@example.com".into(),
        hashed_password: HASH.into(),
        full_name: Some("Dave".into()),
        token_hash: regstack_core::token::sha256_hex(&s.link_token),
        created_at: t0(),
        expires_at: t0() + Duration::hours(24),
    };
    assert_redacted("NewPending", &new_pending, &forbidden);
    let pending: PendingRegistration = new_pending.with_id("p1".into());
    assert_redacted("PendingRegistration", &pending, &forbidden);

    let code = MfaCode {
        user_id: user.id.clone(),
        kind: MfaKind::LoginMfa,
        code_hash: regstack_core::token::sha256_hex(CODE),
        expires_at: t0() + Duration::minutes(5),
        attempts: 0,
        max_attempts: 5,
        created_at: t0(),
    };
    assert_redacted("MfaCode", &code, &forbidden);

    let state = OAuthState {
        id: s.link_token.clone(),
        provider: "google".into(),
        code_verifier: regstack_core::token::sha256_hex(&s.link_token),
        nonce: s.reset_jwt.clone(),
        redirect_to: "/account/me".into(),
        mode: "signin".into(),
        linking_user_id: None,
        created_at: t0(),
        expires_at: t0() + Duration::minutes(10),
        result_token: Some(s.session_jwt.clone()),
        result_was_new: false,
    };
    assert_redacted("OAuthState", &state, &forbidden);
}

#[test]
fn flow_values_print_no_live_token_or_password() {
    let s = Secrets::new();
    let forbidden = s.forbidden();
    let token = SessionToken {
        access_token: s.session_jwt.clone(),
        expires_in: 7200,
        claims: s.session_claims.clone(),
        user: user(),
    };
    assert_redacted("SessionToken", &token, &forbidden);
    assert_redacted(
        "LoginOutcome::Token",
        &LoginOutcome::Token(Box::new(token)),
        &forbidden,
    );
    let mfa = LoginOutcome::MfaRequired {
        mfa_pending_token: s.mfa_jwt.clone(),
        expires_in: 600,
    };
    assert_redacted("LoginOutcome::MfaRequired", &mfa, &forbidden);
    assert!(format!("{mfa:?}").contains("MfaRequired"));

    let input = RegisterInput {
        email: "erin@example.com".try_into().unwrap(),
        password: PASSWORD.try_into().unwrap(),
        full_name: Some("Erin".into()),
    };
    assert_redacted("RegisterInput", &input, &forbidden);

    let auth = Authenticated {
        user: user(),
        claims: s.session_claims.clone(),
    };
    assert_redacted("Authenticated", &auth, &forbidden);
    assert_redacted("Claims", &s.session_claims, &forbidden);
    let change_claims = Claims {
        sub: "u1".into(),
        jti: "jti-of-the-link".into(),
        iat: t0(),
        exp: t0() + Duration::hours(1),
        purpose: Purpose::EmailChange,
        new_email: Some("new@example.com".into()),
        phone: None,
        old_email: Some("alice@example.com".into()),
    };
    assert_redacted("Claims (email change)", &change_claims, &forbidden);
    assert_redacted(
        "JwtCodec",
        &JwtCodec::new(&config(), Arc::new(FrozenClock::new(t0()))),
        &forbidden,
    );
}

#[test]
fn events_with_a_url_print_only_the_redacted_url() {
    let s = Secrets::new();
    let forbidden = s.forbidden();
    let redact = regstack_core::hooks::redact;
    let verify = s.verify_url();
    let reset = format!("http://localhost:8000/reset-password?token={}", s.reset_jwt);
    let change = format!(
        "http://localhost:8000/confirm-email-change?token={}",
        s.change_jwt
    );
    let events = [
        Event::VerificationRequested {
            email: "alice@example.com".into(),
            url_without_token: redact(&verify, &s.link_token),
            url: verify.clone(),
        },
        Event::PasswordResetRequested {
            user: user(),
            url_without_token: redact(&reset, &s.reset_jwt),
            url: reset.clone(),
        },
        Event::EmailChangeRequested {
            user: user(),
            new_email: "new@example.com".into(),
            url_without_token: redact(&change, &s.change_jwt),
            url: change.clone(),
        },
    ];
    for event in &events {
        assert_redacted(event.name(), event, &forbidden);
        assert!(
            format!("{event:?}").contains("[REDACTED]"),
            "{event:?} shows the redacted url"
        );
    }
}

#[test]
fn messages_print_no_body_link_or_code() {
    let s = Secrets::new();
    let forbidden = s.forbidden();
    let url = s.verify_url();
    let text = format!(
        "Hi Alice,\n\nConfirm:\n\n  {url}\n\nToken {}\n",
        s.session_jwt
    );
    let html = format!("<a href=\"{url}\">{url}</a> {}", s.reset_jwt);
    let msg = EmailMessage {
        kind: EmailKind::Verification,
        to: "alice@example.com".into(),
        from_name: "RegStack".into(),
        from_address: "noreply@example.com".into(),
        subject: "Confirm your RegStack account".into(),
        text: text.clone(),
        html: html.clone(),
    };
    assert_redacted("EmailMessage", &msg, &forbidden);
    let rendered = Rendered {
        subject: "Confirm your RegStack account".into(),
        text,
        html,
    };
    assert_redacted("Rendered", &rendered, &forbidden);
    let ctx = MailContext {
        kind: EmailKind::PasswordReset,
        to: "alice@example.com",
        app_name: "RegStack",
        from_name: "RegStack",
        full_name: "Alice",
        url: &url,
        ttl: 30,
    };
    assert_redacted("MailContext", &ctx, &forbidden);
    let sms = SmsMessage {
        kind: SmsKind::LoginMfa,
        to: "+14155552671".into(),
        from: Some("+15005550006".into()),
        body: format!(
            "RegStack sign-in code: {CODE}. Expires in 5 minutes. If you didn't try to sign in, ignore this message."
        ),
    };
    assert_redacted("SmsMessage", &sms, &forbidden);
}

#[test]
fn configuration_prints_no_secret() {
    let s = Secrets::new();
    let cfg = config();
    assert_redacted("RegStackConfig", &cfg, &s.forbidden());
    assert_redacted("EmailConfig", &cfg.email, &s.forbidden());
    // The non-secret settings are still shown.
    let text = format!("{cfg:?}");
    assert!(text.contains("mailer"), "{text}");
}

#[test]
fn a_serialised_user_carries_no_hash() {
    let user = user();
    let json = serde_json::to_string(&user).unwrap();
    assert!(!json.contains("hashed_password"), "{json}");
    assert!(!json.contains("$argon2"), "{json}");
    assert!(json.contains("alice@example.com"), "{json}");
    let pretty = serde_json::to_string_pretty(&serde_json::to_value(&user).unwrap()).unwrap();
    assert!(!pretty.contains("hashed_password"), "{pretty}");
    // Reading a row that has the hash still keeps it (stores and caches round-trip it).
    let mut with_hash = serde_json::to_value(&user).unwrap();
    with_hash["hashed_password"] = serde_json::Value::from(HASH);
    let back: User = serde_json::from_value(with_hash).unwrap();
    assert_eq!(back.hashed_password.as_deref(), Some(HASH));
}
