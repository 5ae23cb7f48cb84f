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
