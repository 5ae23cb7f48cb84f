//! The Amazon SES transport (feature `ses`): SESv2 `SendEmail` with the AWS SDK.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::timeout::TimeoutConfig;
use aws_sdk_sesv2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use base64::Engine as _;
use regstack_core::config::{EmailConfig, SecretString};
use regstack_core::mail::MailError;
use regstack_core::{EmailMessage, Mailer};
use tokio::sync::OnceCell;

/// How long one `SendEmail` call (all SDK retries included) may take.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends through Amazon SES (regstack 0.9.3's mail and SMS texts) with the SESv2 `SendEmail` operation:
/// the display-name sender as `FromEmailAddress`, one `ToAddresses` entry, and a simple message
/// whose subject, text and HTML all carry charset `UTF-8`.
///
/// Region `ses_region`; credentials from the named profile `ses_profile`, else the explicit
/// `ses_access_key_id` / `ses_secret_access_key`, else the default AWS chain (environment,
/// shared files, web identity, ECS, EC2 instance metadata; `credential_process` too).
/// `ses_endpoint_url` sends the requests elsewhere (tests, VPC endpoints). The SDK client is
/// built on the first send and reused.
pub struct SesMailer {
    settings: Settings,
    client: OnceCell<Client>,
}

#[derive(Clone)]
struct Settings {
    region: String,
    profile: Option<String>,
    keys: Option<(SecretString, SecretString)>,
    endpoint_url: Option<String>,
}

impl fmt::Debug for SesMailer {
    /// Never shows the keys.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = match (&self.settings.profile, &self.settings.keys) {
            (Some(_), _) => "profile",
            (None, Some(_)) => "explicit keys",
            (None, None) => "default chain",
        };
        f.debug_struct("SesMailer")
            .field("region", &self.settings.region)
            .field("credentials", &credentials)
            .field("endpoint_url", &self.settings.endpoint_url)
            .finish_non_exhaustive()
    }
}

impl SesMailer {
    /// The transport `[email]` describes. Cheap: nothing is read or resolved until the first
    /// message.
    pub fn from_config(email: &EmailConfig) -> Self {
        let keys = match (&email.ses_access_key_id, &email.ses_secret_access_key) {
            (Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
            _ => None,
        };
        Self {
            settings: Settings {
                region: email.ses_region.clone(),
                profile: email.ses_profile.clone().filter(|p| !p.is_empty()),
                keys,
                endpoint_url: email.ses_endpoint_url.clone(),
            },
            client: OnceCell::new(),
        }
    }

    /// Send with a client the host built itself.
    pub fn from_client(client: Client) -> Self {
        Self {
            settings: Settings {
                region: client
                    .config()
                    .region()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                profile: None,
                keys: None,
                endpoint_url: None,
            },
            client: OnceCell::new_with(Some(client)),
        }
    }

    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let s = &self.settings;
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(Region::new(s.region.clone()))
                    .timeout_config(
                        TimeoutConfig::builder()
                            .operation_timeout(OPERATION_TIMEOUT)
                            .build(),
                    );
                if let Some(profile) = &s.profile {
                    // Like boto3's `Session(profile_name=...)`: that profile only.
                    loader = loader.credentials_provider(
                        aws_config::profile::ProfileFileCredentialsProvider::builder()
                            .profile_name(profile)
                            .build(),
                    );
                } else if let Some((id, secret)) = &s.keys {
                    loader = loader.credentials_provider(Credentials::new(
                        id.expose(),
                        secret.expose(),
                        None,
                        None,
                        "regstack-config",
                    ));
                }
                if let Some(url) = &s.endpoint_url {
                    loader = loader.endpoint_url(url.trim_end_matches('/'));
                }
                Client::new(&loader.load().await)
            })
            .await
    }
}

/// `Name <address>` with the name quoted when it holds specials and encoded (RFC 2047) when it
/// is not ASCII, as SES asks for `FromEmailAddress`.
fn mailbox(name: &str, address: &str) -> String {
    if name.is_empty() {
        address.to_owned()
    } else if !name.is_ascii() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(name);
        format!("=?UTF-8?B?{encoded}?= <{address}>")
    } else if name.contains(|c: char| "()<>[]:;@\\,.\"".contains(c)) {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\" <{address}>")
    } else {
        format!("{name} <{address}>")
    }
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Transport(Box::new(e)))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        message.check_headers()?;
        let content = EmailContent::builder()
            .simple(
                Message::builder()
                    .subject(utf8(&message.subject)?)
                    .body(
                        Body::builder()
                            .text(utf8(&message.text)?)
                            .html(utf8(&message.html)?)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let result = self
            .client()
            .await
            .send_email()
            .from_email_address(mailbox(&message.from_name, &message.from_address))
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(content)
            .send()
            .await;
        match result {
            Ok(out) => {
                tracing::debug!(target: "regstack.email.ses", kind = ?message.kind, message_id = out.message_id().unwrap_or_default(), "email sent");
                Ok(())
            }
            Err(e) => {
                let detail = aws_sdk_sesv2::error::DisplayErrorContext(&e);
                tracing::warn!(target: "regstack.email.ses", kind = ?message.kind, error = %detail, "ses delivery failed");
                Err(MailError::Transport(Box::new(e)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_mailbox_forms() {
        assert_eq!(mailbox("", "a@x.io"), "a@x.io");
        assert_eq!(mailbox("My App", "a@x.io"), "My App <a@x.io>");
        assert_eq!(
            mailbox("Acme, Inc. \"HQ\"", "a@x.io"),
            "\"Acme, Inc. \\\"HQ\\\"\" <a@x.io>"
        );
        assert_eq!(mailbox("Café", "a@x.io"), "=?UTF-8?B?Q2Fmw6k=?= <a@x.io>");
    }

    #[test]
    fn debug_hides_the_keys() {
        let email = EmailConfig {
            ses_access_key_id: Some("AKIDEXAMPLE".into()),
            ses_secret_access_key: Some("wJalrXUtnFEMI".into()),
            ..EmailConfig::default()
        };
        let dbg = format!("{:?}", SesMailer::from_config(&email));
        assert!(dbg.contains("explicit keys"), "{dbg}");
        assert!(!dbg.contains("AKIDEXAMPLE") && !dbg.contains("wJalrXUtnFEMI"));
    }
}
