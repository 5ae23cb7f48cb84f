#![doc = include_str!("../README.md")]

use std::sync::Mutex;

use async_trait::async_trait;
use regstack_core::config::SmsConfig;
use regstack_core::sms::{SmsError, is_e164};
use regstack_core::{SmsMessage, SmsSender};

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
