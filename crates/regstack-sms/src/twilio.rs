//! The Twilio Messages API over HTTPS (regstack 0.9.3's mail and SMS texts).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use regstack_core::config::{SecretString, SmsConfig};
use regstack_core::sms::{SmsError, is_e164};
use regstack_core::{SmsMessage, SmsSender};
use reqwest::Url;

use crate::{Error, clean_detail};

const PROVIDER: &str = "twilio";

/// Sends through Twilio: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json` with the form
/// fields `To`, `From` and `Body`, authenticated with HTTP Basic `sid:token`.
///
/// `From` is the message's `from`, else `sms.from_number`. Any non-2xx answer is an
/// [`Error::Rejected`] carrying the status and Twilio's error code and message, never the token.
pub struct TwilioSms {
    http: reqwest::Client,
    messages_url: Url,
    account_sid: String,
    auth_token: SecretString,
    from_number: Option<String>,
}

impl fmt::Debug for TwilioSms {
    /// The auth token is never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSms")
            .field("messages_url", &self.messages_url.as_str())
            .field("from_number", &self.from_number)
            .finish_non_exhaustive()
    }
}

impl TwilioSms {
    /// A Twilio transport from `[sms]`: `twilio_account_sid`, `twilio_auth_token`,
    /// `from_number` (all required), `twilio_base_url` and `timeout_seconds`.
    pub fn from_config(config: &SmsConfig) -> Result<Self, Error> {
        let required = |field: &'static str, value: Option<&str>| match value {
            Some(v) if !v.trim().is_empty() => Ok(v.to_owned()),
            _ => Err(Error::Setting {
                field,
                reason: "is required for the twilio sms backend".to_owned(),
            }),
        };
        let account_sid = required(
            "sms.twilio_account_sid",
            config.twilio_account_sid.as_deref(),
        )?;
        let auth_token = required(
            "sms.twilio_auth_token",
            config.twilio_auth_token.as_ref().map(SecretString::expose),
        )?;
        let from_number = required("sms.from_number", config.from_number.as_deref())?;

        let mut messages_url =
            Url::parse(config.twilio_base_url.trim()).map_err(|e| Error::Setting {
                field: "sms.twilio_base_url",
                reason: format!("is not a URL ({e})"),
            })?;
        if !matches!(messages_url.scheme(), "http" | "https") {
            return Err(Error::Setting {
                field: "sms.twilio_base_url",
                reason: "must be an http(s) URL".to_owned(),
            });
        }
        messages_url
            .path_segments_mut()
            .map_err(|()| Error::Setting {
                field: "sms.twilio_base_url",
                reason: "cannot be a base URL".to_owned(),
            })?
            .pop_if_empty()
            .extend(["2010-04-01", "Accounts", &account_sid, "Messages.json"]);

        let timeout = Duration::from_secs(u64::from(config.timeout_seconds.max(1)));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("regstack/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Request {
                provider: PROVIDER,
                source: Box::new(e),
            })?;

        Ok(Self {
            http,
            messages_url,
            account_sid,
            auth_token: auth_token.into(),
            from_number: Some(from_number),
        })
    }

    async fn post(&self, message: &SmsMessage) -> Result<(), Error> {
        let from = message
            .from
            .as_deref()
            .or(self.from_number.as_deref())
            .filter(|s| !s.is_empty());
        let mut form = vec![("To", message.to.as_str())];
        if let Some(from) = from {
            form.push(("From", from));
        }
        form.push(("Body", message.body.as_str()));

        let request_failed = |e: reqwest::Error| Error::Request {
            provider: PROVIDER,
            source: Box::new(e),
        };
        let response = self
            .http
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose()))
            .form(&form)
            .send()
            .await
            .map_err(request_failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(request_failed)?;
        let answer: Answer = serde_json::from_slice(&body).unwrap_or_default();
        if !status.is_success() {
            let detail = match (answer.code, answer.message) {
                (Some(code), Some(message)) => format!("error {code}: {}", clean_detail(&message)),
                (Some(code), None) => format!("error {code}"),
                (None, Some(message)) => clean_detail(&message),
                (None, None) => status.canonical_reason().unwrap_or("error").to_owned(),
            };
            return Err(Error::Rejected {
                provider: PROVIDER,
                status: status.as_u16(),
                detail,
            });
        }
        tracing::debug!(
            target: "regstack.sms.twilio",
            to = %message.to,
            sid = answer.sid.as_deref().unwrap_or("(none)"),
            "sms accepted by twilio"
        );
        Ok(())
    }
}

/// The fields of a Twilio answer regstack reads: the message SID on success, the error code
/// and message otherwise.
#[derive(Debug, Default, serde::Deserialize)]
struct Answer {
    sid: Option<String>,
    code: Option<i64>,
    message: Option<String>,
}

#[async_trait]
impl SmsSender for TwilioSms {
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        if !is_e164(&message.to) {
            return Err(SmsError::InvalidNumber);
        }
        Ok(self.post(message).await?)
    }
}
