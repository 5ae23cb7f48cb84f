#![doc = include_str!("../README.md")]

use std::sync::Mutex;

use async_trait::async_trait;
use regstack_core::config::SmsConfig;
use regstack_core::sms::{SmsError, is_e164};
use regstack_core::{SmsMessage, SmsSender};

#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "twilio")]
mod twilio;

#[cfg(feature = "sns")]
pub use aws_config;
#[cfg(feature = "sns")]
pub use aws_sdk_sns;
#[cfg(feature = "sns")]
pub use sns::SnsSms;
#[cfg(feature = "twilio")]
pub use twilio::TwilioSms;

/// Why a transport could not be built or a message not delivered. A failed send reaches the
/// flows as [`SmsError::Transport`] with this error as its source.
///
/// No variant carries a credential: provider answers are reduced to their status, error code
/// and message.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting the transport needs is missing or unusable.
    #[error("`{field}` {reason}")]
    Setting { field: &'static str, reason: String },
    /// The provider answered, refusing the message.
    #[error("{provider} answered HTTP {status}: {detail}")]
    Rejected {
        provider: &'static str,
        status: u16,
        detail: String,
    },
    /// No usable answer: connection, TLS, timeout, credentials or an unreadable response.
    #[error("{provider} request failed")]
    Request {
        provider: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl From<Error> for SmsError {
    fn from(e: Error) -> Self {
        SmsError::Transport(Box::new(e))
    }
}

/// A provider's error text made fit for a log line: control characters dropped, at most
/// 200 characters.
#[cfg(any(feature = "sns", feature = "twilio"))]
fn clean_detail(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// The default transport: logs instead of sending.
#[derive(Debug, Default)]
pub struct NullSms {
    log_bodies: bool,
}

impl NullSms {
    /// A null transport; `log_bodies` includes the body (with its code) in the log line.
    pub fn new(log_bodies: bool) -> Self {
        Self { log_bodies }
    }

    /// A null transport configured from `[sms]`.
    pub fn from_config(config: &SmsConfig) -> Self {
        Self::new(config.log_bodies)
    }
}

#[async_trait]
impl SmsSender for NullSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        if !is_e164(&message.to) {
            return Err(SmsError::InvalidNumber);
        }
        let from = message.from.as_deref().unwrap_or("(unset)");
        if self.log_bodies {
            tracing::info!(
                target: "regstack.sms.null",
                "[regstack/null-sms] To: {} | From: {} | Body: {}",
                message.to,
                from,
                message.body
            );
        } else {
            tracing::info!(
                target: "regstack.sms.null",
                "[regstack/null-sms] To: {} | From: {} | (body suppressed)",
                message.to,
                from
            );
        }
        Ok(())
    }
}

/// A test transport that keeps every message.
#[derive(Debug, Default)]
pub struct CapturingSms {
    messages: Mutex<Vec<SmsMessage>>,
}

impl CapturingSms {
    /// An empty capturing transport.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent so far.
    pub fn messages(&self) -> Vec<SmsMessage> {
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl SmsSender for CapturingSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        if !is_e164(&message.to) {
            return Err(SmsError::InvalidNumber);
        }
        self.messages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regstack_core::SmsKind;

    #[tokio::test]
    async fn refuses_non_e164() {
        let m = SmsMessage {
            kind: SmsKind::LoginMfa,
            to: "12345".into(),
            from: None,
            body: "x".into(),
        };
        assert!(NullSms::new(false).send(&m).await.is_err());
        let ok = SmsMessage {
            to: "+14155552671".into(),
            ..m
        };
        assert!(NullSms::new(true).send(&ok).await.is_ok());
        let c = CapturingSms::new();
        c.send(&ok).await.unwrap();
        assert_eq!(c.messages().len(), 1);
    }
}
