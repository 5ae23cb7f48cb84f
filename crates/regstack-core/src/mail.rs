//! Email: the message type, the transport trait ([`Mailer`]), the composer trait
//! ([`MailComposer`]), the bundled wording of regstack 0.9.3's mail and SMS texts ([`Wording`]) and an
//! engine-free composer ([`DefaultComposer`]). Transports and the askama templates live in
//! `regstack-mail`.

use std::fmt;

use async_trait::async_trait;

use crate::config::RegStackConfig;

/// Which email a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    Verification,
    PasswordReset,
    EmailChange,
    /// Notice to the account's address that its password was changed or reset (no link).
    PasswordChanged,
    /// Notice to the account's former address that its email was changed (no link).
    EmailChanged,
    /// `regstack doctor --send-test-email`.
    Probe,
}

impl EmailKind {
    /// Whether this kind is a notice without a link (the button and link parts are left out).
    pub fn is_notice(self) -> bool {
        matches!(self, EmailKind::PasswordChanged | EmailKind::EmailChanged)
    }
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
    /// The transport cannot use an address (the field is named, the value is not echoed).
    #[error("`{0}` is not an address the transport accepts")]
    InvalidAddress(&'static str),
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
    /// The sender's display name (`email.from_name`, else `app_name`).
    pub from_name: &'a str,
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
///
/// `regstack-mail` provides the askama-based `AskamaComposer` (the facade's default, themeable,
/// with per-kind overrides); [`DefaultComposer`] is the engine-free fallback used when a
/// [`RegStackBuilder`](crate::RegStackBuilder) is given none.
pub trait MailComposer: fmt::Debug + Send + Sync + 'static {
    /// Render one email.
    fn render(&self, ctx: &MailContext<'_>) -> Rendered;
}

/// The bundled sentences of one link email (regstack 0.9.3's mail and SMS texts).
///
/// This is the single source of the wording: core's [`DefaultComposer`] and the askama
/// templates of `regstack-mail` render these same strings, each in the same layout, so the two
/// cannot say different things. `{app}` stands for `app_name` and `{ttl}` for the validity
/// (hours for verification, minutes otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wording {
    /// The subject (exact, regstack 0.9.3's mail and SMS texts).
    pub subject: &'static str,
    /// What follows `{app_name} — ` in the HTML `<title>`.
    pub title: &'static str,
    /// The purpose paragraph; holds `{app}` once (shown in `<strong>` in HTML) and `{ttl}`.
    pub purpose: &'static str,
    /// The label of the HTML button.
    pub button: &'static str,
    /// The last line: what to do if the reader did not ask for this mail.
    pub ignore: &'static str,
}

/// The HTML paragraph before the bare link, for mail clients that do not show the button.
pub const LINK_FALLBACK: &str = "If the button does not work, open this link:";

const VERIFICATION: Wording = Wording {
    subject: "Confirm your {app} account",
    title: "confirm your email",
    purpose: "Thanks for signing up to {app}. Please confirm your email address by opening the \
              link below. It is valid for {ttl} hours.",
    button: "Confirm my account",
    ignore: "If you didn't create an account, you can ignore this email.",
};

const PASSWORD_RESET: Wording = Wording {
    subject: "Reset your {app} password",
    title: "reset your password",
    purpose: "We received a request to reset the password of your {app} account. Open the link \
              below to choose a new one. It is valid for {ttl} minutes.",
    button: "Choose a new password",
    ignore: "If you didn't ask for a reset, you can ignore this email; your password will not \
             change.",
};

const EMAIL_CHANGE: Wording = Wording {
    subject: "Confirm your new {app} email address",
    title: "confirm new email",
    purpose: "Someone asked to change the email address of a {app} account to this one. Open the \
              link below to confirm. It is valid for {ttl} minutes.",
    button: "Confirm new email",
    ignore: "If you didn't ask for this change, ignore this email; nothing will change and the \
             link will expire.",
};

/// ASVS 2.2.3: the account's address learns of a password change it may not have made.
const PASSWORD_CHANGED: Wording = Wording {
    subject: "Your {app} password was changed",
    title: "password changed",
    purpose: "The password of your {app} account was just changed, and every session signed in \
              before the change was signed out.",
    button: "",
    ignore: "If you made this change, you can ignore this email. If you didn't, reset your \
             password now and contact support.",
};

/// ASVS 2.2.3: the former address learns that the account moved to another one.
const EMAIL_CHANGED: Wording = Wording {
    subject: "Your {app} email address was changed",
    title: "email address changed",
    purpose: "The email address of your {app} account was just changed from this address to \
              another one, and every session signed in before the change was signed out.",
    button: "",
    ignore: "If you made this change, you can ignore this email. If you didn't, contact support \
             now: someone else may control your account.",
};

impl Wording {
    /// The wording of a link email or a notice; `None` for [`EmailKind::Probe`] (see
    /// [`probe_subject`]).
    pub fn of(kind: EmailKind) -> Option<&'static Wording> {
        match kind {
            EmailKind::Verification => Some(&VERIFICATION),
            EmailKind::PasswordReset => Some(&PASSWORD_RESET),
            EmailKind::EmailChange => Some(&EMAIL_CHANGE),
            EmailKind::PasswordChanged => Some(&PASSWORD_CHANGED),
            EmailKind::EmailChanged => Some(&EMAIL_CHANGED),
            EmailKind::Probe => None,
        }
    }

    /// The subject with `app_name` substituted.
    pub fn subject(&self, app_name: &str) -> String {
        self.subject.replace("{app}", app_name)
    }

    /// The purpose paragraph with `ttl` substituted, split around the app name: `(before,
    /// after)`, so a renderer can mark the name up (`<strong>` in HTML).
    pub fn purpose(&self, ttl: i64) -> (String, String) {
        let text = self.purpose.replace("{ttl}", &ttl.to_string());
        match text.split_once("{app}") {
            Some((before, after)) => (before.to_owned(), after.to_owned()),
            None => (text, String::new()),
        }
    }
}

/// The greeting line: `Hi <full_name>,`, or `Hi,` without a name.
pub fn greeting(full_name: &str) -> String {
    if full_name.is_empty() {
        "Hi,".to_owned()
    } else {
        format!("Hi {full_name},")
    }
}

/// The subject of the `regstack doctor` probe.
pub fn probe_subject(app_name: &str) -> String {
    format!("[{app_name}] regstack doctor probe")
}

/// The one sentence of the `regstack doctor` probe.
pub fn probe_line(app_name: &str) -> String {
    format!("The {app_name} email backend works: this is the regstack doctor probe.")
}

/// The engine-free composer: the bundled [`Wording`] in the bundled layout, with the default
/// colours. `regstack-mail`'s `AskamaComposer` renders byte-identical messages under its default
/// theme (a test there pins it); it is what the facade installs.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultComposer;

/// HTML-escape a value, with the numeric entities askama writes (`&#38;`, `&#60;`, `&#62;`,
/// `&#34;`, `&#39;`), so the two composers agree byte for byte.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&#38;"),
            '<' => out.push_str("&#60;"),
            '>' => out.push_str("&#62;"),
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
        let Some(w) = Wording::of(ctx.kind) else {
            let line = probe_line(app);
            return Rendered {
                subject: probe_subject(app),
                text: format!("{line}\n"),
                html: format!("<p>{}</p>\n", escape_html(&line)),
            };
        };
        let greeting = greeting(ctx.full_name);
        let (before, after) = w.purpose(ctx.ttl);
        // A notice has no link: its link lines are left out.
        let link_text = if ctx.url.is_empty() {
            String::new()
        } else {
            format!("  {}\n\n", ctx.url)
        };
        let text = format!(
            "{greeting}\n\n{before}{app}{after}\n\n{link_text}{ignore}\n",
            ignore = w.ignore,
        );
        let e_url = escape_html(ctx.url);
        let e_app = escape_html(app);
        let link_html = if ctx.url.is_empty() {
            String::new()
        } else {
            format!(
                "<p><a href=\"{e_url}\" style=\"display: inline-block; padding: 10px 18px; background: #2563eb; color: #ffffff; text-decoration: none; border-radius: 6px;\">{button}</a></p>\n\
<p>{fallback} <a href=\"{e_url}\">{e_url}</a></p>\n",
                button = escape_html(w.button),
                fallback = escape_html(LINK_FALLBACK),
            )
        };
        let html = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<title>{e_app} — {title}</title>\n</head>\n\
<body style=\"font-family: -apple-system, BlinkMacSystemFont, Segoe UI, Inter, sans-serif; color: #111827; line-height: 1.5;\">\n\
<p>{greeting}</p>\n<p>{before}<strong>{e_app}</strong>{after}</p>\n\
{link_html}\
<p style=\"color: #4b5563; font-size: 12px;\">{ignore}</p>\n</body>\n</html>\n",
            title = escape_html(w.title),
            greeting = escape_html(&greeting),
            before = escape_html(&before),
            after = escape_html(&after),
            ignore = escape_html(w.ignore),
        );
        Rendered {
            subject: w.subject(app),
            text,
            html,
        }
    }
}

/// Compose a message of `kind` for `to` with the composer and the config's sender.
///
/// The subject is trimmed to one line as regstack 0.9.3's mail and SMS texts asks; a subject that still
/// holds a line break (a host renderer's mistake) is refused by every transport
/// ([`EmailMessage::check_headers`]), never sent.
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
        EmailKind::PasswordChanged | EmailKind::EmailChanged | EmailKind::Probe => 0,
    };
    // A notice never carries a link, whatever a caller passes.
    let url = if kind.is_notice() { "" } else { url };
    let from_name = config.email.display_name(&config.app_name);
    // A stored name from before the input rule (or another writer) that holds control or
    // bidirectional formatting characters is not quoted: the greeting goes without it.
    let full_name = full_name.filter(|n| crate::full_name_problem(n).is_none());
    let rendered = composer.render(&MailContext {
        kind,
        to,
        app_name: &config.app_name,
        from_name,
        full_name: full_name.unwrap_or(""),
        url,
        ttl,
    });
    EmailMessage {
        kind,
        to: to.to_owned(),
        from_name: from_name.to_owned(),
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
        assert!(m.html.contains("&#60;script&#62;"));
        assert!(m.html.contains("http://x/?token=a&#38;b"));
    }

    #[test]
    fn wording_follows_the_spec() {
        for kind in [
            EmailKind::Verification,
            EmailKind::PasswordReset,
            EmailKind::EmailChange,
        ] {
            let w = Wording::of(kind).unwrap();
            assert_eq!(w.purpose.matches("{app}").count(), 1, "{kind:?}");
            assert_eq!(w.purpose.matches("{ttl}").count(), 1, "{kind:?}");
            for text in [w.subject, w.title, w.purpose, w.button, w.ignore] {
                assert!(!text.contains('\n'));
                assert!(!text.contains("sign-in code:") && !text.contains("verification code:"));
            }
        }
        let subjects: Vec<String> = [
            EmailKind::Verification,
            EmailKind::PasswordReset,
            EmailKind::EmailChange,
        ]
        .into_iter()
        .map(|k| Wording::of(k).unwrap().subject("MyApp"))
        .collect();
        assert_eq!(
            subjects,
            [
                "Confirm your MyApp account",
                "Reset your MyApp password",
                "Confirm your new MyApp email address"
            ]
        );
        assert!(Wording::of(EmailKind::Probe).is_none());
        assert_eq!(probe_subject("MyApp"), "[MyApp] regstack doctor probe");
        let (before, after) = VERIFICATION.purpose(24);
        assert_eq!(before, "Thanks for signing up to ");
        assert!(after.ends_with("valid for 24 hours."));
    }

    #[test]
    fn notices_carry_no_link_and_no_button() {
        let cfg = RegStackConfig {
            app_name: "MyApp".into(),
            ..RegStackConfig::default()
        };
        for (kind, subject) in [
            (
                EmailKind::PasswordChanged,
                "Your MyApp password was changed",
            ),
            (
                EmailKind::EmailChanged,
                "Your MyApp email address was changed",
            ),
        ] {
            // Even a URL passed by mistake is left out.
            let m = compose(
                &DefaultComposer,
                &cfg,
                kind,
                "a@example.com",
                Some("Alice"),
                "http://x/?token=live",
            );
            assert_eq!(m.subject, subject);
            assert!(
                !m.text.contains("token") && !m.html.contains("token"),
                "{kind:?}"
            );
            assert!(!m.html.contains("<a "), "{kind:?}");
            let lines: Vec<&str> = m.text.split('\n').collect();
            assert_eq!(lines[0], "Hi Alice,");
            assert!(
                lines[2].contains("MyApp account was just changed"),
                "{lines:?}"
            );
            assert!(lines[4].starts_with("If you made this change"), "{lines:?}");
            assert_eq!(lines.len(), 6, "{lines:?}");
        }
    }

    #[test]
    fn a_name_with_control_or_bidi_characters_is_not_quoted() {
        let cfg = RegStackConfig::default();
        for name in ["Eve\r\nBcc: x", "Eve\u{202E}gpj"] {
            let m = compose(
                &DefaultComposer,
                &cfg,
                EmailKind::PasswordReset,
                "a@example.com",
                Some(name),
                "u",
            );
            assert!(m.text.starts_with("Hi,\n"), "{:?}", m.text);
            assert!(!m.html.contains("Eve"));
        }
    }

    #[test]
    fn from_name_defaults_to_app_name() {
        let mut cfg = RegStackConfig {
            app_name: "MyApp".into(),
            ..RegStackConfig::default()
        };
        let m = compose(
            &DefaultComposer,
            &cfg,
            EmailKind::Probe,
            "a@example.com",
            None,
            "",
        );
        assert_eq!(m.from_header(), "MyApp <noreply@example.com>");
        assert_eq!(m.subject, "[MyApp] regstack doctor probe");
        cfg.email.from_name = Some("Support".into());
        let m = compose(
            &DefaultComposer,
            &cfg,
            EmailKind::Probe,
            "a@example.com",
            None,
            "",
        );
        assert_eq!(m.from_header(), "Support <noreply@example.com>");
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
