//! The [`RegStack`] facade: one embedded account system, wiring configuration, clock, stores,
//! hasher, JWT codec, lockout, mail, SMS and hooks. Two instances in one process share nothing.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::{Clock, SystemClock};
use crate::config::{ConfigError, RegStackConfig};
use crate::hooks::HookRegistry;
use crate::jwt::JwtCodec;
use crate::lockout::Lockout;
use crate::mail::{DefaultComposer, MailComposer, Mailer};
use crate::password::{HashError, HashParams, PasswordHasher};
use crate::sms::SmsSender;
use crate::store::{Backend, Stores};

/// The embedded account system. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct RegStack {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: RegStackConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) stores: Stores,
    pub(crate) backend: Option<Arc<dyn Backend>>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) jwt: JwtCodec,
    pub(crate) lockout: Lockout,
    pub(crate) mailer: RwLock<Arc<dyn Mailer>>,
    pub(crate) sms: RwLock<Arc<dyn SmsSender>>,
    pub(crate) composer: RwLock<Arc<dyn MailComposer>>,
    pub(crate) hooks: HookRegistry,
    pub(crate) background: Background,
    pub(crate) outbox: crate::outbox::Outbox,
}

impl fmt::Debug for RegStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegStack")
            .field("app_name", &self.inner.config.app_name)
            .field("backend", &self.inner.backend.as_ref().map(|b| b.name()))
            .finish_non_exhaustive()
    }
}

/// Why a [`RegStack`] could not be built.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no stores given: pass a backend or `Stores`")]
    MissingStores,
    #[error("no mail transport given")]
    MissingMailer,
    #[error("no sms transport given")]
    MissingSms,
    #[error(transparent)]
    Hash(#[from] HashError),
    /// A switch asks for a part this version does not have yet: refused rather than parsed
    /// and ignored.
    #[error(
        "`{field} = true` asks for {what}, which this version of regstack does not implement yet; set it to false"
    )]
    NotImplemented {
        field: &'static str,
        what: &'static str,
    },
}

/// Whether a switch is on in a configuration.
type Switch = fn(&RegStackConfig) -> bool;

/// The switches of 0.9.3 whose parts are not built yet, and what each asks for. A switch
/// leaves this list when its part lands.
const NOT_IMPLEMENTED: [(&str, &str, Switch); 3] = [
    (
        "enable_sms_2fa",
        "SMS two-factor enrolment (the /phone routes)",
        |c| c.enable_sms_2fa,
    ),
    ("enable_oauth", "OAuth sign-in", |c| c.enable_oauth),
    ("enable_ui_router", "the server-rendered pages", |c| {
        c.enable_ui_router
    }),
];

/// Builds a [`RegStack`]; every collaborator can be replaced by the host.
#[must_use]
pub struct RegStackBuilder {
    config: RegStackConfig,
    clock: Option<Arc<dyn Clock>>,
    stores: Option<Stores>,
    backend: Option<Arc<dyn Backend>>,
    mailer: Option<Arc<dyn Mailer>>,
    sms: Option<Arc<dyn SmsSender>>,
    composer: Option<Arc<dyn MailComposer>>,
}

impl fmt::Debug for RegStackBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegStackBuilder").finish_non_exhaustive()
    }
}

impl RegStackBuilder {
    /// The configuration being built with.
    pub fn config(&self) -> &RegStackConfig {
        &self.config
    }

    /// Use this clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Use this backend (its stores, and its lifecycle for `install_schema` / `close`).
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.stores.get_or_insert_with(|| backend.stores());
        self.backend = Some(backend);
        self
    }

    /// Use these stores (replaces those of a backend given earlier).
    pub fn stores(mut self, stores: impl Into<Stores>) -> Self {
        self.stores = Some(stores.into());
        self
    }

    /// Whether stores were given.
    pub fn has_stores(&self) -> bool {
        self.stores.is_some()
    }

    /// Whether a mailer was given.
    pub fn has_mailer(&self) -> bool {
        self.mailer.is_some()
    }

    /// Whether a mail composer was given.
    pub fn has_composer(&self) -> bool {
        self.composer.is_some()
    }

    /// Whether an SMS sender was given.
    pub fn has_sms(&self) -> bool {
        self.sms.is_some()
    }

    /// Use this mail transport.
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Use this SMS transport.
    pub fn sms(mut self, sms: Arc<dyn SmsSender>) -> Self {
        self.sms = Some(sms);
        self
    }

    /// Use this mail composer (default: the bundled texts).
    pub fn composer(mut self, composer: Arc<dyn MailComposer>) -> Self {
        self.composer = Some(composer);
        self
    }

    /// Check the configuration and wire everything. Fails closed on a bad configuration.
    pub fn build(self) -> Result<RegStack, BuildError> {
        let config = self.config;
        config.validate()?;
        config.check_startup()?;
        if let Some(&(field, what, _)) = NOT_IMPLEMENTED.iter().find(|(_, _, on)| on(&config)) {
            return Err(BuildError::NotImplemented { field, what });
        }
        let stores = self.stores.ok_or(BuildError::MissingStores)?;
        let mailer = self.mailer.ok_or(BuildError::MissingMailer)?;
        let sms = self.sms.ok_or(BuildError::MissingSms)?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let permits = config
            .password_hash_concurrency
            .unwrap_or_else(crate::password::default_permits);
        let hasher = PasswordHasher::new(
            HashParams {
                memory_kib: config.password_hash_memory_kib,
                iterations: config.password_hash_iterations,
                parallelism: config.password_hash_parallelism,
            },
            permits,
        )?
        .with_nice(config.password_hash_nice)
        .with_max_wait(Duration::from_millis(config.password_hash_max_wait_ms));
        let jwt = JwtCodec::new(&config, clock.clone());
        let lockout = Lockout::new(
            stores.login_attempts.clone(),
            clock.clone(),
            !config.rate_limit_disabled,
            config.login_lockout_threshold.max(1) as u64,
            config.login_lockout_window_seconds,
        );
        let outbox = crate::outbox::Outbox::new(&config.email);
        Ok(RegStack {
            inner: Arc::new(Inner {
                outbox,
                config,
                clock,
                stores,
                backend: self.backend,
                hasher,
                jwt,
                lockout,
                mailer: RwLock::new(mailer),
                sms: RwLock::new(sms),
                composer: RwLock::new(self.composer.unwrap_or_else(|| Arc::new(DefaultComposer))),
                hooks: HookRegistry::new(),
                background: Background::default(),
            }),
        })
    }
}

impl RegStack {
    /// Start building an instance.
    pub fn builder(config: RegStackConfig) -> RegStackBuilder {
        RegStackBuilder {
            config,
            clock: None,
            stores: None,
            backend: None,
            mailer: None,
            sms: None,
            composer: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RegStackConfig {
        &self.inner.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The repositories.
    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    /// The backend, when one was given.
    pub fn backend(&self) -> Option<&Arc<dyn Backend>> {
        self.inner.backend.as_ref()
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    /// The JWT codec.
    pub fn jwt(&self) -> &JwtCodec {
        &self.inner.jwt
    }

    /// The lockout service.
    pub fn lockout(&self) -> &Lockout {
        &self.inner.lockout
    }

    /// The hook registry (`on` / `on_async` register handlers).
    pub fn hooks(&self) -> &HookRegistry {
        &self.inner.hooks
    }

    /// The current mail transport.
    pub fn mailer(&self) -> Arc<dyn Mailer> {
        self.inner
            .mailer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the mail transport at run time.
    pub fn set_mailer(&self, mailer: Arc<dyn Mailer>) {
        *self.inner.mailer.write().unwrap_or_else(|e| e.into_inner()) = mailer;
    }

    /// The current SMS transport.
    pub fn sms(&self) -> Arc<dyn SmsSender> {
        self.inner
            .sms
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the SMS transport at run time.
    pub fn set_sms(&self, sms: Arc<dyn SmsSender>) {
        *self.inner.sms.write().unwrap_or_else(|e| e.into_inner()) = sms;
    }

    /// The current mail composer.
    pub fn composer(&self) -> Arc<dyn MailComposer> {
        self.inner
            .composer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the mail composer at run time.
    pub fn set_composer(&self, composer: Arc<dyn MailComposer>) {
        *self
            .inner
            .composer
            .write()
            .unwrap_or_else(|e| e.into_inner()) = composer;
    }

    /// Bring the backend's schema to head (no-op without a backend).
    pub async fn install_schema(&self) -> crate::store::StoreResult<()> {
        match &self.inner.backend {
            Some(b) => b.install_schema().await,
            None => Ok(()),
        }
    }

    /// Whether the database answers (`true` without a backend).
    pub async fn healthy(&self) -> bool {
        match &self.inner.backend {
            Some(b) => b.ping().await.is_ok(),
            None => true,
        }
    }

    /// Wait for background work (deferred mail) to finish, then close the backend.
    pub async fn close(&self) {
        self.wait_background(Duration::from_secs(30)).await;
        if let Some(b) = &self.inner.backend {
            b.close().await;
        }
    }

    /// Wait until no background task is running, or `timeout` passes. Returns whether idle.
    pub async fn wait_background(&self, timeout: Duration) -> bool {
        let bg = &self.inner.background;
        tokio::time::timeout(timeout, async {
            loop {
                let notified = bg.idle.notified();
                if bg.running.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }

    /// Run `work` off the request path, tracked so shutdown can wait for it.
    pub(crate) fn spawn_background<F>(&self, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let inner = self.inner.clone();
        inner.background.running.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            work.await;
            if inner.background.running.fetch_sub(1, Ordering::SeqCst) == 1 {
                inner.background.idle.notify_waiters();
            }
        });
    }
}

#[derive(Default)]
pub(crate) struct Background {
    running: AtomicUsize,
    idle: Notify,
}
