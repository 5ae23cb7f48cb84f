//! Email: the message type, the transport trait ([`Mailer`]) and the composer trait with the
//! bundled texts of `spec/messaging.md` §1. Transports live in `regstack-mail`.

use std::fmt;

use async_trait::async_trait;

use crate::config::RegStackConfig;

/// Which email a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    Verification,
    PasswordReset,
    EmailChange,
    /// `regstack doctor --send-test-email`.
    Probe,
}

/// A composed email, ready for a transport.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailMessage {
    pub kind: EmailKind,
    /// Recipient address.
    pub to: String,
    /// Sender display name.
    pub from_name: String,
    /// Sender address.
    pub from_address: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl EmailMessage {
    /// The `From` header value: `Name <address>`.
    pub fn from_header(&self) -> String {
        format!("{} <{}>", self.from_name, self.from_address)
    }

    /// Refuse header injection: no CR or LF in any header field.
    pub fn check_headers(&self) -> Result<(), MailError> {
        for (field, v) in [
            ("to", &self.to),
            ("from name", &self.from_name),
            ("from address", &self.from_address),
            ("subject", &self.subject),
        ] {
            if v.contains(['\r', '\n']) {
                return Err(MailError::InvalidHeader(field));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for EmailMessage {
    /// Bodies carry live links: never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailMessage")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A transport failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("header `{0}` contains a line break")]
    InvalidHeader(&'static str),
    #[error("mail transport failed")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Something that delivers an [`EmailMessage`].
#[async_trait]
pub trait Mailer: fmt::Debug + Send + Sync + 'static {
    /// Deliver one message.
    async fn send(&self, message: &EmailMessage) -> Result<(), MailError>;
}

/// What a composer gets to render one email.
#[derive(Clone)]
pub struct MailContext<'a> {
    pub kind: EmailKind,
    pub to: &'a str,
    pub app_name: &'a str,
    /// The owner's full name, empty when none.
    pub full_name: &'a str,
    /// The link, with its live token.
    pub url: &'a str,
    /// `ttl_hours` for verification, `ttl_minutes` otherwise.
    pub ttl: i64,
}

impl fmt::Debug for MailContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailContext")
            .field("kind", &self.kind)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Subject, text and HTML of one email.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl fmt::Debug for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Renders the emails. Hosts replace it (or wrap the default) to change any message.
pub trait MailComposer: fmt::Debug + Send + Sync + 'static {
    /// Render one email.
    fn render(&self, ctx: &MailContext<'_>) -> Rendered;
}

/// The bundled wording (`spec/messaging.md` §1.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultComposer;

/// HTML-escape a value.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl MailComposer for DefaultComposer {
    fn render(&self, ctx: &MailContext<'_>) -> Rendered {
        let app = ctx.app_name;
        let (subject, purpose, title, button, ignore) = match ctx.kind {
            EmailKind::Verification => (
                format!("Confirm your {app} account"),
                format!(
                    "Thanks for signing up to {app}. Please confirm your email address by opening the link below. It is valid for {} hours.",
                    ctx.ttl
                ),
                "confirm your email",
                "Confirm my account",
                "If you didn't create an account, you can ignore this email.",
            ),
            EmailKind::PasswordReset => (
                format!("Reset your {app} password"),
                format!(
                    "We received a request to reset the password of your {app} account. Open the link below to choose a new one. It is valid for {} minutes.",
                    ctx.ttl
                ),
                "reset your password",
                "Choose a new password",
                "If you didn't ask for a reset, you can ignore this email; your password will not change.",
            ),
            EmailKind::EmailChange => (
                format!("Confirm your new {app} email address"),
                format!(
                    "Someone asked to change the email address of a {app} account to this one. Open the link below to confirm. It is valid for {} minutes.",
                    ctx.ttl
                ),
                "confirm new email",
                "Confirm new email",
                "If you didn't ask for this change, ignore this email; nothing will change and the link will expire.",
            ),
            EmailKind::Probe => {
                let line =
                    format!("The {app} email backend works: this is the regstack doctor probe.");
                return Rendered {
                    subject: format!("[{app}] regstack doctor probe"),
                    text: format!("{line}\n"),
                    html: format!("<p>{}</p>\n", escape_html(&line)),
                };
            }
        };
        let greeting = if ctx.full_name.is_empty() {
            "Hi,".to_owned()
        } else {
            format!("Hi {},", ctx.full_name)
        };
        let text = format!("{greeting}\n\n{purpose}\n\n  {}\n\n{ignore}\n", ctx.url);
        let e_url = escape_html(ctx.url);
        let e_app = escape_html(app);
        let e_purpose = escape_html(&purpose).replace(&e_app, &format!("<strong>{e_app}</strong>"));
        let html = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{e_app} — {title}</title>\n</head>\n\
<body style=\"font-family: -apple-system, Segoe UI, Roboto, sans-serif; color: #222; line-height: 1.5;\">\n\
<p>{greeting}</p>\n<p>{e_purpose}</p>\n\
<p><a href=\"{e_url}\" style=\"display: inline-block; padding: 10px 18px; background: #2563eb; color: #fff; text-decoration: none; border-radius: 6px;\">{button}</a></p>\n\
<p>If the button does not work, open this link: <a href=\"{e_url}\">{e_url}</a></p>\n\
<p style=\"color: #777; font-size: 12px;\">{ignore}</p>\n</body>\n</html>\n",
            greeting = escape_html(&greeting),
            ignore = escape_html(ignore),
        );
        Rendered {
            subject: subject.trim().to_owned(),
            text,
            html,
        }
    }
}

/// Compose a message of `kind` for `to` with the composer and the config's sender.
pub fn compose(
    composer: &dyn MailComposer,
    config: &RegStackConfig,
    kind: EmailKind,
    to: &str,
    full_name: Option<&str>,
    url: &str,
) -> EmailMessage {
    let ttl = match kind {
        EmailKind::Verification => (config.verification_token_ttl_seconds / 3600).max(1),
        EmailKind::PasswordReset => (config.password_reset_token_ttl_seconds / 60).max(1),
        EmailKind::EmailChange => (config.email_change_token_ttl_seconds / 60).max(1),
        EmailKind::Probe => 0,
    };
    let rendered = composer.render(&MailContext {
        kind,
        to,
        app_name: &config.app_name,
        full_name: full_name.unwrap_or(""),
        url,
        ttl,
    });
    EmailMessage {
        kind,
        to: to.to_owned(),
        from_name: config
            .email
            .from_name
            .clone()
            .unwrap_or_else(|| config.app_name.clone()),
        from_address: config.email.from_address.clone(),
        subject: rendered.subject.trim().to_owned(),
        text: rendered.text,
        html: rendered.html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_layout_is_the_contract() {
        let cfg = RegStackConfig {
            app_name: "MyApp".into(),
            ..RegStackConfig::default()
        };
        let url = "http://localhost:8000/verify?token=abc";
        let m = compose(
            &DefaultComposer,
            &cfg,
            EmailKind::Verification,
            "a@example.com",
            Some("Alice"),
            url,
        );
        assert_eq!(m.subject, "Confirm your MyApp account");
        assert_eq!(m.from_header(), "MyApp <noreply@example.com>");
        let lines: Vec<&str> = m.text.split('\n').collect();
        assert_eq!(lines[0], "Hi Alice,");
        assert_eq!(lines[1], "");
        assert!(lines[2].contains("24 hours"));
        assert_eq!(lines[3], "");
        assert_eq!(lines[4], format!("  {url}"));
        assert_eq!(lines[5], "");
        assert!(m.text.ends_with('\n'));
        assert!(m.html.starts_with("<!doctype html>"));
        assert!(m.html.contains("<title>MyApp — confirm your email</title>"));
        let anon = compose(
            &DefaultComposer,
            &cfg,
            EmailKind::PasswordReset,
            "a@example.com",
            None,
            url,
        );
        assert!(anon.text.starts_with("Hi,\n\n"));
        assert_eq!(anon.subject, "Reset your MyApp password");
        assert!(anon.text.contains("30 minutes"));
    }

    #[test]
    fn html_values_are_escaped() {
        let cfg = RegStackConfig {
            app_name: "<b>App</b>".into(),
            ..RegStackConfig::default()
        };
        let m = compose(
            &DefaultComposer,
            &cfg,
            EmailKind::EmailChange,
            "a@example.com",
            Some("<script>"),
            "http://x/?token=a&b",
        );
        assert!(!m.html.contains("<script>"));
        assert!(m.html.contains("&lt;script&gt;"));
        assert!(m.html.contains("http://x/?token=a&amp;b"));
    }

    #[test]
    fn header_injection_is_refused() {
        let cfg = RegStackConfig::default();
        let mut m = compose(
            &DefaultComposer,
            &cfg,
            EmailKind::Verification,
            "a@example.com",
            None,
            "u",
        );
        assert!(m.check_headers().is_ok());
        m.subject = "hi\r\nBcc: evil@example.com".into();
        assert!(m.check_headers().is_err());
    }
}
