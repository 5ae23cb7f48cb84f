//! Amazon SNS `Publish` to a phone number (regstack 0.9.3's mail and SMS texts).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_sns::Client;
use aws_sdk_sns::config::Region;
use aws_sdk_sns::config::timeout::TimeoutConfig;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use regstack_core::config::SmsConfig;
use regstack_core::sms::{SmsError, is_e164};
use regstack_core::{SmsMessage, SmsSender};
use tokio::sync::OnceCell;

use crate::{Error, clean_detail};

const PROVIDER: &str = "sns";

/// The message attribute SNS reads the sender ID from.
const SENDER_ID_ATTRIBUTE: &str = "AWS.SNS.SMS.SenderID";

/// Sends through Amazon SNS: `Publish` with `PhoneNumber` = recipient and `Message` = body;
/// when the message has a `from`, the message attribute `AWS.SNS.SMS.SenderID` (DataType
/// `String`) carries it.
///
/// [`from_config`](Self::from_config) uses region `sms.sns_region`, the default AWS credential
/// chain (environment, shared config and credentials files with `credential_process`, web
/// identity, ECS and EC2 instance roles), `sms.sns_endpoint_url` when set and
/// `sms.timeout_seconds` per send. The AWS configuration is loaded on the first send, so
/// building the transport does no I/O. [`from_client`](Self::from_client) takes a client the
/// host configured itself.
pub struct SnsSms {
    client: OnceCell<Client>,
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Settings {
    region: String,
    endpoint_url: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for SnsSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let region = match self.client.get() {
            Some(client) => client.config().region().map(|r| r.as_ref().to_owned()),
            None => Some(self.settings.region.clone()),
        };
        f.debug_struct("SnsSms")
            .field("region", &region)
            .field("endpoint_url", &self.settings.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl SnsSms {
    /// An SNS transport configured from `[sms]`.
    pub fn from_config(config: &SmsConfig) -> Self {
        Self {
            client: OnceCell::new(),
            settings: Settings {
                region: config.sns_region.clone(),
                endpoint_url: config.sns_endpoint_url.clone(),
                timeout: Duration::from_secs(u64::from(config.timeout_seconds.max(1))),
            },
        }
    }

    /// An SNS transport over a client the host built (its own credentials, endpoint, retry and
    /// timeout settings).
    pub fn from_client(client: Client) -> Self {
        let config = client.config();
        let settings = Settings {
            region: config
                .region()
                .map(|r| r.as_ref().to_owned())
                .unwrap_or_default(),
            endpoint_url: None,
            timeout: Duration::ZERO,
        };
        Self {
            client: OnceCell::new_with(Some(client)),
            settings,
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let s = &self.settings;
                let timeouts = TimeoutConfig::builder()
                    .connect_timeout(s.timeout)
                    .operation_timeout(s.timeout)
                    .build();
                let shared = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(s.region.clone()))
                    .timeout_config(timeouts)
                    .load()
                    .await;
                let mut config = aws_sdk_sns::config::Builder::from(&shared);
                if let Some(url) = &s.endpoint_url {
                    config = config.endpoint_url(url);
                }
                Client::from_conf(config.build())
            })
            .await
    }

    async fn publish(&self, message: &SmsMessage) -> Result<(), Error> {
        let client = self.client().await;
        let mut request = client
            .publish()
            .phone_number(&message.to)
            .message(&message.body);
        if let Some(from) = message.from.as_deref().filter(|s| !s.is_empty()) {
            let sender_id = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(from)
                .build()
                .map_err(|e| Error::Request {
                    provider: PROVIDER,
                    source: Box::new(e),
                })?;
            request = request.message_attributes(SENDER_ID_ATTRIBUTE, sender_id);
        }
        match request.send().await {
            Ok(output) => {
                tracing::debug!(
                    target: "regstack.sms.sns",
                    to = %message.to,
                    message_id = output.message_id().unwrap_or("(none)"),
                    "sms published to sns"
                );
                Ok(())
            }
            Err(SdkError::ServiceError(failure)) => {
                let status = failure.raw().status().as_u16();
                let err = failure.err();
                let detail = match (err.code(), err.message()) {
                    (Some(code), Some(message)) => format!("{code}: {}", clean_detail(message)),
                    (Some(code), None) => code.to_owned(),
                    (None, Some(message)) => clean_detail(message),
                    (None, None) => "error".to_owned(),
                };
                Err(Error::Rejected {
                    provider: PROVIDER,
                    status,
                    detail,
                })
            }
            Err(other) => Err(Error::Request {
                provider: PROVIDER,
                source: Box::new(other),
            }),
        }
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        if !is_e164(&message.to) {
            return Err(SmsError::InvalidNumber);
        }
        Ok(self.publish(message).await?)
    }
}
