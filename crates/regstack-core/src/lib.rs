#![doc = include_str!("../README.md")]

pub mod account;
pub mod admin;
pub mod batch;
pub mod clock;
pub mod config;
pub mod domain;
pub mod email_address;
pub mod error;
pub mod flows;
pub mod hooks;
pub mod jwt;
pub mod lockout;
pub mod mail;
pub mod password;
pub mod sms;
pub mod store;
pub mod token;

pub mod input;
pub mod outbox;
pub mod regstack;
pub mod security;

pub use crate::clock::{Clock, FrozenClock, SystemClock};
pub use crate::config::RegStackConfig;
pub use crate::domain::{
    LoginAttempt, MfaCode, MfaKind, NewOAuthIdentity, NewPending, NewUser, OAuthIdentity,
    OAuthState, PendingRegistration, User, UserGuard, UserPatch,
};
pub use crate::error::{AuthFailure, Error, MfaFailure, Result};
pub use crate::hooks::{Event, HookRegistry};
pub use crate::input::{EmailAddress, NewPassword, PasswordLength};
pub use crate::mail::{EmailKind, EmailMessage, MailComposer, Mailer};
pub use crate::regstack::{RegStack, RegStackBuilder};
pub use crate::sms::{SmsKind, SmsMessage, SmsSender};
pub use crate::store::{Backend, StoreError, Stores};

/// The password length rule of every new password and of the login form (code points).
pub const PASSWORD_MIN_CHARS: usize = 8;
/// See [`PASSWORD_MIN_CHARS`].
pub const PASSWORD_MAX_CHARS: usize = 128;
/// Maximum length of `full_name` (code points).
pub const FULL_NAME_MAX_CHARS: usize = 200;

/// Why a `full_name` is refused, or `None` when it is acceptable: no control characters
/// (Unicode `Cc`, line and paragraph separators) and no bidirectional formatting characters
/// (marks, embeddings, overrides, isolates), which would let a name quoted in an email or a
/// page rewrite the text around it. Length is checked separately ([`FULL_NAME_MAX_CHARS`]).
pub fn full_name_problem(name: &str) -> Option<&'static str> {
    let bidi = |c: char| {
        matches!(
            u32::from(c),
            0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069
        )
    };
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        Some("full name must not contain control characters")
    } else if name.chars().any(bidi) {
        Some("full name must not contain bidirectional formatting characters")
    } else {
        None
    }
}

#[cfg(test)]
mod full_name_tests {
    use super::full_name_problem;

    #[test]
    fn names_with_controls_or_bidi_formatting_are_refused() {
        for ok in [
            "Ann",
            "Zoë O'Brien-Łukasz",
            "山田 太郎",
            "محمد",
            "👩\u{200D}💻 Dev",
            "",
        ] {
            assert_eq!(full_name_problem(ok), None, "{ok:?}");
        }
        for bad in [
            "a\nb",
            "a\rb",
            "tab\there",
            "nul\0",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}",
            "line\u{2028}sep",
        ] {
            assert!(
                full_name_problem(bad).unwrap().contains("control"),
                "{bad:?}"
            );
        }
        for bad in [
            "evil\u{202E}gpj.exe",
            "\u{2066}x\u{2069}",
            "\u{200F}rtl",
            "\u{061C}",
            "\u{202A}",
        ] {
            assert!(
                full_name_problem(bad).unwrap().contains("bidirectional"),
                "{bad:?}"
            );
        }
    }
}
