//! The askama composer: the bundled messages rendered from the templates in `templates/`, a
//! theme, and per-kind overrides supplied by the host.

use std::collections::HashMap;
use std::fmt;

use askama::Template;
use regstack_core::RegStackConfig;
use regstack_core::mail::{
    DefaultComposer, EmailKind, LINK_FALLBACK, MailComposer, MailContext, Rendered, Wording,
    greeting, probe_line, probe_subject,
};

/// Colours, font and logo of the bundled HTML part (inline styles: mail clients ignore
/// stylesheets). The defaults are the light values of the SSR theme (`--rs-accent`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailTheme {
    /// Button background (`--rs-accent`).
    pub accent: String,
    /// Button text (`--rs-accent-fg`).
    pub accent_fg: String,
    /// Body text (`--rs-fg`).
    pub fg: String,
    /// The small disclaimer line (`--rs-fg-muted`).
    pub muted: String,
    /// The CSS `font-family` of the body.
    pub font_family: String,
    /// An absolute URL of a logo shown above the greeting; `None` shows none.
    pub logo_url: Option<String>,
}

impl Default for MailTheme {
    fn default() -> Self {
        Self {
            accent: "#2563eb".to_owned(),
            accent_fg: "#ffffff".to_owned(),
            fg: "#111827".to_owned(),
            muted: "#4b5563".to_owned(),
            font_family: "-apple-system, BlinkMacSystemFont, Segoe UI, Inter, sans-serif"
                .to_owned(),
            logo_url: None,
        }
    }
}

impl MailTheme {
    /// The default theme with the configuration's `brand_logo_url` as the logo: used as is when
    /// absolute, joined to `base_url` when it is a path (`/static/logo.png`); anything else is
    /// ignored, since a relative link cannot work inside a mail.
    pub fn from_config(config: &RegStackConfig) -> Self {
        let logo_url = config.brand_logo_url.as_deref().and_then(|logo| {
            let logo = logo.trim();
            if logo.starts_with("https://") || logo.starts_with("http://") {
                Some(logo.to_owned())
            } else if logo.starts_with('/') && !logo.starts_with("//") {
                Some(format!("{}{logo}", config.base_url.trim_end_matches('/')))
            } else {
                None
            }
        });
        Self {
            logo_url,
            ..Self::default()
        }
    }
}

/// Renders one kind of email in place of the bundled templates.
///
/// Implemented by any `Fn(&MailContext<'_>, &MailTheme) -> Rendered` closure; a host's own askama
/// template is a small struct implementing it. [`render_bundled`] gives the bundled message to
/// start from.
///
/// ```
/// use askama::Template;
/// use regstack_core::mail::{EmailKind, MailContext, Rendered};
/// use regstack_mail::{AskamaComposer, KindRenderer, MailTheme};
///
/// #[derive(Template)]
/// #[template(source = "Welcome {{ name }}! Confirm here: {{ url }}", ext = "txt")]
/// struct WelcomeText<'a> {
///     name: &'a str,
///     url: &'a str,
/// }
///
/// #[derive(Debug)]
/// struct Welcome;
///
/// impl KindRenderer for Welcome {
///     fn render(&self, ctx: &MailContext<'_>, theme: &MailTheme) -> Rendered {
///         let bundled = regstack_mail::render_bundled(ctx, theme);
///         let text = WelcomeText { name: ctx.full_name, url: ctx.url }.render().unwrap_or(bundled.text);
///         Rendered { subject: format!("Welcome to {}", ctx.app_name), text, html: bundled.html }
///     }
/// }
///
/// let composer = AskamaComposer::builder()
///     .renderer(EmailKind::Verification, Welcome)
///     .subject(EmailKind::PasswordReset, |ctx| format!("{}: your reset link", ctx.app_name))
///     .build();
/// # let _ = composer;
/// ```
pub trait KindRenderer: Send + Sync + 'static {
    /// Render the message of `ctx.kind`.
    fn render(&self, ctx: &MailContext<'_>, theme: &MailTheme) -> Rendered;
}

impl<F> KindRenderer for F
where
    F: Fn(&MailContext<'_>, &MailTheme) -> Rendered + Send + Sync + 'static,
{
    fn render(&self, ctx: &MailContext<'_>, theme: &MailTheme) -> Rendered {
        self(ctx, theme)
    }
}

type SubjectFn = Box<dyn Fn(&MailContext<'_>) -> String + Send + Sync>;

#[derive(Default)]
struct KindOverride {
    renderer: Option<Box<dyn KindRenderer>>,
    subject: Option<SubjectFn>,
}

/// The [`MailComposer`] the facade installs: the bundled wording of
/// [`regstack_core::mail::Wording`] rendered by the askama templates of this crate, themed by a
/// [`MailTheme`], with any kind (or only its subject) replaced by the host.
///
/// Under the default theme its messages are byte-identical to core's engine-free
/// [`DefaultComposer`].
pub struct AskamaComposer {
    theme: MailTheme,
    overrides: HashMap<EmailKind, KindOverride>,
}

impl fmt::Debug for AskamaComposer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut renderers: Vec<String> = Vec::new();
        let mut subjects: Vec<String> = Vec::new();
        for (kind, o) in &self.overrides {
            if o.renderer.is_some() {
                renderers.push(format!("{kind:?}"));
            }
            if o.subject.is_some() {
                subjects.push(format!("{kind:?}"));
            }
        }
        renderers.sort();
        subjects.sort();
        f.debug_struct("AskamaComposer")
            .field("theme", &self.theme)
            .field("renderers", &renderers)
            .field("subjects", &subjects)
            .finish()
    }
}

impl Default for AskamaComposer {
    fn default() -> Self {
        Self::new(MailTheme::default())
    }
}

impl AskamaComposer {
    /// The bundled messages in `theme`.
    pub fn new(theme: MailTheme) -> Self {
        Self {
            theme,
            overrides: HashMap::new(),
        }
    }

    /// The bundled messages in the theme of the configuration ([`MailTheme::from_config`]).
    pub fn from_config(config: &RegStackConfig) -> Self {
        Self::new(MailTheme::from_config(config))
    }

    /// Start a composer with overrides.
    pub fn builder() -> AskamaComposerBuilder {
        AskamaComposerBuilder {
            composer: Self::default(),
        }
    }

    /// The theme.
    pub fn theme(&self) -> &MailTheme {
        &self.theme
    }
}

impl MailComposer for AskamaComposer {
    fn render(&self, ctx: &MailContext<'_>) -> Rendered {
        let o = self.overrides.get(&ctx.kind);
        let mut rendered = match o.and_then(|o| o.renderer.as_ref()) {
            Some(r) => r.render(ctx, &self.theme),
            None => render_bundled(ctx, &self.theme),
        };
        if let Some(subject) = o.and_then(|o| o.subject.as_ref()) {
            rendered.subject = subject(ctx);
        }
        rendered
    }
}

/// Builds an [`AskamaComposer`] with a theme and per-kind overrides.
#[derive(Debug)]
pub struct AskamaComposerBuilder {
    composer: AskamaComposer,
}

impl AskamaComposerBuilder {
    /// Use this theme for the bundled HTML (default: [`MailTheme::default`]).
    pub fn theme(mut self, theme: MailTheme) -> Self {
        self.composer.theme = theme;
        self
    }

    /// Render every part of `kind` with `renderer` instead of the bundled templates.
    pub fn renderer(mut self, kind: EmailKind, renderer: impl KindRenderer) -> Self {
        self.composer.overrides.entry(kind).or_default().renderer = Some(Box::new(renderer));
        self
    }

    /// Replace only the subject of `kind` (applied after any renderer). The result is trimmed;
    /// a subject that still holds a line break is refused by every transport.
    pub fn subject(
        mut self,
        kind: EmailKind,
        subject: impl Fn(&MailContext<'_>) -> String + Send + Sync + 'static,
    ) -> Self {
        self.composer.overrides.entry(kind).or_default().subject = Some(Box::new(subject));
        self
    }

    /// The composer.
    pub fn build(self) -> AskamaComposer {
        self.composer
    }
}

#[derive(Template)]
#[template(path = "message.txt")]
struct MessageText<'a> {
    greeting: &'a str,
    before: &'a str,
    app_name: &'a str,
    after: &'a str,
    url: &'a str,
    ignore: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageHtml<'a> {
    app_name: &'a str,
    title: &'a str,
    greeting: &'a str,
    before: &'a str,
    after: &'a str,
    url: &'a str,
    button: &'a str,
    fallback: &'a str,
    ignore: &'a str,
    theme: &'a MailTheme,
}

#[derive(Template)]
#[template(path = "probe.txt")]
struct ProbeText<'a> {
    line: &'a str,
}

#[derive(Template)]
#[template(path = "probe.html")]
struct ProbeHtml<'a> {
    line: &'a str,
}

/// Render a template; askama drops the final newline of a template file, and every part ends
/// with one (regstack 0.9.3's mail and SMS texts), so it is put back here.
fn part(t: &impl Template) -> askama::Result<String> {
    let mut out = t.render()?;
    out.push('\n');
    Ok(out)
}

/// The bundled message of `ctx.kind` in `theme`: the subject of [`Wording`], the text and HTML
/// parts from `templates/`.
pub fn render_bundled(ctx: &MailContext<'_>, theme: &MailTheme) -> Rendered {
    match try_render(ctx, theme) {
        Ok(r) => r,
        Err(e) => {
            // Unreachable with the bundled templates (they only display strings); never leave a
            // user without their link because of it.
            tracing::error!(target: "regstack.email", kind = ?ctx.kind, error = %e, "email template failed; using the plain layout");
            DefaultComposer.render(ctx)
        }
    }
}

fn try_render(ctx: &MailContext<'_>, theme: &MailTheme) -> askama::Result<Rendered> {
    let app_name = ctx.app_name;
    let Some(w) = Wording::of(ctx.kind) else {
        let line = probe_line(app_name);
        return Ok(Rendered {
            subject: probe_subject(app_name),
            text: part(&ProbeText { line: &line })?,
            html: part(&ProbeHtml { line: &line })?,
        });
    };
    let greeting = greeting(ctx.full_name);
    let (before, after) = w.purpose(ctx.ttl);
    Ok(Rendered {
        subject: w.subject(app_name),
        text: part(&MessageText {
            greeting: &greeting,
            before: &before,
            app_name,
            after: &after,
            url: ctx.url,
            ignore: w.ignore,
        })?,
        html: part(&MessageHtml {
            app_name,
            title: w.title,
            greeting: &greeting,
            before: &before,
            after: &after,
            url: ctx.url,
            button: w.button,
            fallback: LINK_FALLBACK,
            ignore: w.ignore,
            theme,
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use regstack_core::mail::compose;

    const KINDS: [EmailKind; 6] = [
        EmailKind::Verification,
        EmailKind::PasswordReset,
        EmailKind::EmailChange,
        EmailKind::PasswordChanged,
        EmailKind::EmailChanged,
        EmailKind::Probe,
    ];

    fn config(app: &str) -> RegStackConfig {
        RegStackConfig {
            app_name: app.into(),
            ..RegStackConfig::default()
        }
    }

    #[test]
    fn default_theme_is_byte_identical_to_the_core_fallback() {
        for app in ["MyApp", "<b>A&B</b> \"q\" 'x'"] {
            let cfg = config(app);
            for kind in KINDS {
                for name in [None, Some("Alice"), Some("O'Brien & <Co>")] {
                    let url = "http://localhost:8000/verify?token=a-b_c&x=\"y\"";
                    let ours = compose(&AskamaComposer::default(), &cfg, kind, "a@x.io", name, url);
                    let core = compose(&DefaultComposer, &cfg, kind, "a@x.io", name, url);
                    assert_eq!(ours.subject, core.subject, "{kind:?}");
                    assert_eq!(ours.text, core.text, "{kind:?} {name:?}");
                    assert_eq!(ours.html, core.html, "{kind:?} {name:?}");
                }
            }
        }
    }

    #[test]
    fn text_part_follows_the_layout_contract() {
        let cfg = config("MyApp");
        let url = "http://localhost:8000/reset-password?token=abc.def-ghi";
        for (kind, ttl) in [
            (EmailKind::Verification, "24 hours"),
            (EmailKind::PasswordReset, "30 minutes"),
            (EmailKind::EmailChange, "60 minutes"),
        ] {
            let m = compose(
                &AskamaComposer::default(),
                &cfg,
                kind,
                "a@x.io",
                Some("Alice"),
                url,
            );
            let lines: Vec<&str> = m.text.split('\n').collect();
            assert_eq!(lines.len(), 8, "{:?}", m.text);
            assert_eq!(lines[0], "Hi Alice,");
            assert_eq!(lines[1], "");
            assert!(
                lines[2].contains("MyApp") && lines[2].contains(ttl),
                "{}",
                lines[2]
            );
            assert_eq!(lines[3], "");
            assert_eq!(lines[4], format!("  {url}"));
            assert_eq!(lines[5], "");
            assert!(lines[6].starts_with("If you didn't"));
            assert_eq!(lines[7], "", "ends with a newline");
        }
    }

    #[test]
    fn html_is_escaped_and_the_text_is_not() {
        let cfg = config("A&B");
        let m = compose(
            &AskamaComposer::default(),
            &cfg,
            EmailKind::Verification,
            "a@x.io",
            Some("<script>"),
            "http://x/?token=a&b",
        );
        assert!(m.text.starts_with("Hi <script>,\n"));
        assert!(m.text.contains("  http://x/?token=a&b\n"));
        assert!(!m.html.contains("<script>"));
        assert!(m.html.contains("Hi &#60;script&#62;,"));
        assert!(m.html.contains("<strong>A&#38;B</strong>"));
        assert!(m.html.contains("href=\"http://x/?token=a&#38;b\""));
        assert!(
            m.html
                .contains("<title>A&#38;B — confirm your email</title>")
        );
    }

    #[test]
    fn theme_flows_into_the_html() {
        let theme = MailTheme {
            accent: "#ff0000".into(),
            logo_url: Some("https://cdn.example.com/logo.png".into()),
            ..MailTheme::default()
        };
        let composer = AskamaComposer::new(theme);
        let m = compose(
            &composer,
            &config("MyApp"),
            EmailKind::PasswordReset,
            "a@x.io",
            None,
            "http://x/?token=t",
        );
        assert!(m.html.contains("background: #ff0000;"));
        assert!(m.html.contains(
            "<p><img src=\"https://cdn.example.com/logo.png\" alt=\"MyApp\" style=\"max-height: 48px;\"></p>\n<p>Hi,</p>"
        ));
        let plain = compose(
            &AskamaComposer::default(),
            &config("MyApp"),
            EmailKind::PasswordReset,
            "a@x.io",
            None,
            "http://x/?token=t",
        );
        assert_eq!(m.text, plain.text, "the theme only touches the HTML");
    }

    #[test]
    fn logo_from_config() {
        let mut cfg = config("MyApp");
        cfg.base_url = "https://app.example.com/".into();
        for (logo, want) in [
            (
                Some("https://cdn.example.com/l.png"),
                Some("https://cdn.example.com/l.png"),
            ),
            (
                Some("/static/l.png"),
                Some("https://app.example.com/static/l.png"),
            ),
            (Some("l.png"), None),
            (Some("//cdn/l.png"), None),
            (None, None),
        ] {
            cfg.brand_logo_url = logo.map(str::to_owned);
            assert_eq!(
                MailTheme::from_config(&cfg).logo_url.as_deref(),
                want,
                "{logo:?}"
            );
        }
    }

    #[test]
    fn hosts_override_a_kind_or_only_its_subject() {
        let composer = AskamaComposer::builder()
            .renderer(
                EmailKind::Verification,
                |ctx: &MailContext<'_>, _: &MailTheme| Rendered {
                    subject: format!("Welcome to {}", ctx.app_name),
                    text: format!("Go: {}\n", ctx.url),
                    html: format!("<a href=\"{}\">go</a>\n", ctx.url),
                },
            )
            .subject(EmailKind::PasswordReset, |ctx| {
                format!("  {} reset for {}\n", ctx.from_name, ctx.to)
            })
            .build();
        let mut cfg = config("MyApp");
        cfg.email.from_name = Some("Support".into());
        let v = compose(
            &composer,
            &cfg,
            EmailKind::Verification,
            "a@x.io",
            None,
            "u",
        );
        assert_eq!(v.subject, "Welcome to MyApp");
        assert_eq!(v.text, "Go: u\n");
        let r = compose(
            &composer,
            &cfg,
            EmailKind::PasswordReset,
            "a@x.io",
            None,
            "u",
        );
        assert_eq!(r.subject, "Support reset for a@x.io", "trimmed");
        let bundled = compose(
            &AskamaComposer::default(),
            &cfg,
            EmailKind::PasswordReset,
            "a@x.io",
            None,
            "u",
        );
        assert_eq!(r.text, bundled.text, "only the subject changed");
        let e = compose(&composer, &cfg, EmailKind::EmailChange, "a@x.io", None, "u");
        assert_eq!(e.subject, "Confirm your new MyApp email address");
        let dbg = format!("{composer:?}");
        assert!(dbg.contains("renderers: [\"Verification\"]"), "{dbg}");
        assert!(dbg.contains("subjects: [\"PasswordReset\"]"), "{dbg}");
    }

    #[test]
    fn a_subject_with_a_line_break_is_refused_at_send() {
        let composer = AskamaComposer::builder()
            .subject(EmailKind::Verification, |_| "Hi\r\nBcc: x@evil.io".into())
            .build();
        let m = compose(
            &composer,
            &config("MyApp"),
            EmailKind::Verification,
            "a@x.io",
            None,
            "u",
        );
        assert!(m.check_headers().is_err());
    }
}
