//! The SMTP transport (feature `smtp`): lettre over tokio, rustls with aws-lc-rs.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use regstack_core::config::{EmailConfig, SmtpTls};
use regstack_core::mail::MailError;
use regstack_core::{EmailMessage, Mailer};

use crate::error::{Error, Result};

/// Sends each message over its own SMTP connection (regstack 0.9.3's mail and SMS texts): connect to
/// `smtp_host:smtp_port`, protect it as `smtp_tls` says (STARTTLS required, implicit TLS, or
/// plaintext), authenticate when a user name and password are set, and send one
/// `multipart/alternative` message (text, then HTML). Certificates are checked against the
/// system roots plus the PEM roots of `smtp_ca_file`; there is no way to turn verification off.
///
/// ```no_run
/// use regstack_core::config::{EmailConfig, SmtpTls};
/// let email = EmailConfig {
///     smtp_host: Some("smtp.example.com".into()),
///     smtp_port: 465,
///     smtp_tls: Some(SmtpTls::Tls),
///     smtp_username: Some("mailer".into()),
///     smtp_password: Some("secret".into()),
///     ..EmailConfig::default()
/// };
/// let mailer = regstack_mail::SmtpMailer::from_config(&email)?;
/// # Ok::<(), regstack_mail::Error>(())
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
    mode: SmtpTls,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    /// Never shows the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("tls", &self.mode)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Build the transport from `[email]`. Reads `smtp_ca_file` now, so a bad file fails at
    /// start-up; no connection is made until the first message.
    pub fn from_config(email: &EmailConfig) -> Result<Self> {
        let host = email
            .smtp_host
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                Error::setting(
                    "email.smtp_host",
                    "is required when `email.backend` is \"smtp\"",
                    None,
                )
            })?;
        let mode = email.smtp_tls_mode();
        let timeout = Duration::from_secs(email.smtp_timeout_seconds.max(1));
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(email.smtp_port)
            .timeout(Some(timeout));
        builder = match mode {
            SmtpTls::None => builder.tls(Tls::None),
            SmtpTls::Starttls => builder.tls(Tls::Required(tls_parameters(host, email)?)),
            SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_parameters(host, email)?)),
        };
        let user = email.smtp_username.as_deref().filter(|u| !u.is_empty());
        if let (Some(user), Some(password)) = (user, email.smtp_password.as_ref()) {
            builder = builder.credentials(Credentials::new(
                user.to_owned(),
                password.expose().to_owned(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            server: format!("{host}:{}", email.smtp_port),
            mode,
            timeout,
        })
    }

    /// Wrap a lettre transport the host configured itself; `timeout` bounds each delivery.
    pub fn from_transport(
        transport: AsyncSmtpTransport<Tokio1Executor>,
        timeout: Duration,
    ) -> Self {
        Self {
            transport,
            server: "(host transport)".to_owned(),
            mode: SmtpTls::Starttls,
            timeout,
        }
    }
}

fn tls_parameters(host: &str, email: &EmailConfig) -> Result<TlsParameters> {
    let mut params = TlsParameters::builder(host.to_owned());
    if let Some(path) = &email.smtp_ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            Error::setting(
                "email.smtp_ca_file",
                format!("cannot read {}: {e}", path.display()),
                Some(Box::new(e)),
            )
        })?;
        if !pem
            .windows(b"-----BEGIN CERTIFICATE-----".len())
            .any(|w| w == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(Error::setting(
                "email.smtp_ca_file",
                format!("{} holds no PEM certificate", path.display()),
                None,
            ));
        }
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            Error::setting(
                "email.smtp_ca_file",
                format!("{} is not a valid PEM certificate file", path.display()),
                Some(Box::new(e)),
            )
        })?;
        params = params.add_root_certificate(cert);
    }
    params.build_rustls().map_err(|e| {
        Error::setting(
            "email.smtp_tls",
            "cannot set up TLS for the SMTP connection",
            Some(Box::new(e)),
        )
    })
}

/// The SMTP exchange did not finish within the configured timeout.
#[derive(Debug)]
struct Timeout(Duration);

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "smtp delivery timed out after {:?}", self.0)
    }
}

impl std::error::Error for Timeout {}

/// The lettre message: `From` in display-name form, `To`, `Subject`, and a
/// `multipart/alternative` body of text then HTML.
fn build_message(m: &EmailMessage) -> Result<Message, MailError> {
    let from_address: Address = m
        .from_address
        .parse()
        .map_err(|_| MailError::InvalidAddress("from address"))?;
    let to: Address = m.to.parse().map_err(|_| MailError::InvalidAddress("to"))?;
    let name = (!m.from_name.is_empty()).then(|| m.from_name.clone());
    Message::builder()
        .from(Mailbox::new(name, from_address))
        .to(Mailbox::new(None, to))
        .subject(m.subject.clone())
        .multipart(MultiPart::alternative_plain_html(
            m.text.clone(),
            m.html.clone(),
        ))
        .map_err(|e| MailError::Transport(Box::new(e)))
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError> {
        message.check_headers()?;
        let email = build_message(message)?;
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(Ok(_)) => {
                tracing::debug!(target: "regstack.email.smtp", server = %self.server, kind = ?message.kind, "email sent");
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "regstack.email.smtp", server = %self.server, kind = ?message.kind, error = %e, "smtp delivery failed");
                Err(MailError::Transport(Box::new(e)))
            }
            Err(_) => {
                tracing::warn!(target: "regstack.email.smtp", server = %self.server, kind = ?message.kind, timeout = ?self.timeout, "smtp delivery timed out");
                Err(MailError::Transport(Box::new(Timeout(self.timeout))))
            }
        }
    }
}
