//! SMS: the message type, the transport trait ([`SmsSender`]) and the bundled texts of
//! regstack 0.9.3's mail and SMS texts Transports live in `regstack-sms`.

use std::fmt;

use async_trait::async_trait;

/// Which SMS a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmsKind {
    LoginMfa,
    PhoneSetup,
}

/// A composed SMS.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    pub kind: SmsKind,
    /// E.164 recipient.
    pub to: String,
    pub from: Option<String>,
    pub body: String,
}

impl fmt::Debug for SmsMessage {
    /// The body carries a live code: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// A transport failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("invalid phone number")]
    InvalidNumber,
    #[error("sms transport failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Something that delivers an [`SmsMessage`].
#[async_trait]
pub trait SmsSender: fmt::Debug + Send + Sync + 'static {
    /// Deliver one message.
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError>;
}

/// The bundled SMS text.
pub fn default_text(kind: SmsKind, app_name: &str, code: &str, ttl_minutes: i64) -> String {
    match kind {
        SmsKind::LoginMfa => format!(
            "{app_name} sign-in code: {code}. Expires in {ttl_minutes} minutes. If you didn't try to sign in, ignore this message."
        ),
        SmsKind::PhoneSetup => {
            format!("{app_name} verification code: {code}. Expires in {ttl_minutes} minutes.")
        }
    }
}

/// Whether `s` is an E.164 number (`^\+[1-9][0-9]{1,14}$`).
pub fn is_e164(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 3
        && b.len() <= 16
        && b[0] == b'+'
        && (b'1'..=b'9').contains(&b[1])
        && b[2..].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(is_e164("+14155552671"));
        assert!(is_e164("+12"));
        assert!(!is_e164("+1"));
        assert!(!is_e164("14155552671"));
        assert!(!is_e164("+04155552671"));
        assert!(!is_e164("+1415555267123456"));
        assert!(!is_e164("+1415 555"));
    }

    #[test]
    fn texts() {
        assert_eq!(
            default_text(SmsKind::PhoneSetup, "App", "123456", 5),
            "App verification code: 123456. Expires in 5 minutes."
        );
        assert_eq!(
            default_text(SmsKind::LoginMfa, "App", "0042", 1),
            "App sign-in code: 0042. Expires in 1 minutes. If you didn't try to sign in, \
             ignore this message."
        );
    }
}
