//! Argon2id password hashing in PHC format, off the async runtime, with bounded concurrency.
//!
//! Defaults are regstack 0.9.3's (m = 64 MiB, t = 3, p = 4, 32-byte hash, 16-byte salt), so a
//! hash written by either implementation verifies in the other.
//!
//! Every hash and verification runs on threads of the hasher's own (`permits` of them, named
//! `regstack-argon2`), never on an async worker: at most `permits` Argon2 buffers exist at
//! once, and the others wait in a queue. On Linux those threads run at a lower scheduling
//! priority (nice [`DEFAULT_NICE`] by default, see [`PasswordHasher::with_nice`]): when the CPU
//! is otherwise idle they get all of it, but a request that needs a few microseconds of CPU is
//! not queued behind whole time slices of hashing (`docs/benchmarks.md`). They are threads of
//! their own because an unprivileged thread cannot raise its priority back, so lowering it on a
//! thread of a shared pool would leak into the host's work. A queued computation whose caller
//! has gone away (a client hung up) is skipped; one already running finishes, and keeps its
//! thread until it does.
//!
//! Each hashing thread keeps its Argon2 memory (`memory_kib`) from one computation to the next,
//! wiped after every use and given back after [`IDLE_RELEASE`] without work. Allocating it
//! anew each time means mapping, faulting in and unmapping 64 MiB per login: the unmapping
//! holds the process's memory-map lock, and at a lowered priority that stalled other threads
//! of the process for tens of milliseconds under load (`docs/benchmarks.md`).

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq as _;
use tokio::sync::oneshot;

/// The nice value of the hashing threads unless configured (`password_hash_nice`).
pub const DEFAULT_NICE: u8 = 10;

/// The highest nice value Linux has (the lowest priority).
pub const MAX_NICE: u8 = 19;

/// The number of hashing threads unless configured (`password_hash_concurrency`): one fewer
/// than the cores this process may use, at least one ([`default_permits_for`]).
pub fn default_permits() -> usize {
    default_permits_for(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// The default number of hashing threads on `cores` cores: `cores - 1`, at least 1. One core
/// is left to everything else: a lower priority does not keep hashing from delaying it when
/// every core hashes, because Linux's scheduler still lets a hashing thread finish its time
/// slice before a request woken on its core (the measurements are in `docs/benchmarks.md`).
pub fn default_permits_for(cores: usize) -> usize {
    cores.saturating_sub(1).max(1)
}

/// How long a hashing thread keeps its Argon2 memory without work before giving it back.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);

/// How long a caller waits for a free hashing thread unless configured
/// (`password_hash_max_wait_ms`): past it, [`HashError::Busy`].
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(10);

thread_local! {
    /// This hashing thread's Argon2 memory, reused from one computation to the next.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` on `blocks` blocks of this thread's Argon2 memory, wiped afterwards. Memory beyond
/// `keep` blocks (a stored hash with a larger cost than configured) is allocated for this
/// computation only.
fn with_memory<T>(blocks: usize, keep: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    if blocks > keep {
        let mut once = vec![Block::new(); blocks];
        let out = f(&mut once);
        once.fill(Block::new());
        return out;
    }
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::new());
        }
        let used = &mut memory[..blocks];
        let out = f(used);
        // Password-derived state does not outlive the computation.
        used.fill(Block::new());
        out
    })
}

/// Give this thread's Argon2 memory back.
fn release_memory() {
    MEMORY.with(|memory| *memory.borrow_mut() = Vec::new());
}

/// Argon2 with `params` (any variant and version) over this thread's memory, into `out`.
fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    keep: usize,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    with_memory(params.block_count(), keep, |memory| {
        argon2.hash_password_into_with_memory(password, salt, out, memory)
    })
}

/// What `Argon2::verify_password` does, on this thread's memory: recompute with the stored
/// variant, version, parameters and salt and compare in constant time. `Ok(false)` is a
/// mismatch; `Err` a stored value that cannot be checked.
fn verify_stored(password: &[u8], stored: &PasswordHash, keep: usize) -> Result<bool, ()> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(());
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(|_| ())?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|_| ())?
        .unwrap_or_default();
    let params = Params::try_from(stored).map_err(|_| ())?;
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer.get_mut(..expected.len()).ok_or(())?;
    compute(&argon2, &params, keep, password, salt.as_ref(), out).map_err(|_| ())?;
    Ok(bool::from(expected.as_bytes().ct_eq(out)))
}

/// A PHC string with the configured parameters, a random salt and a random output: verifying
/// any password against it costs one Argon2 computation, like a real hash, and never succeeds
/// (finding a password for a random output is a preimage). Built without running Argon2, so
/// the first unknown-email login after start costs what every later one does.
fn dummy_phc(params: &Params) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    let mut output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    rand::fill(&mut output[..]);
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&output).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// A new Argon2id (v19) PHC string for `password` with a random 16-byte salt.
fn hash_new(password: &[u8], params: &Params, keep: usize) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut buffer = [0u8; Output::MAX_LENGTH];
    let out = buffer
        .get_mut(..params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN))
        .ok_or_else(|| HashError::Hash("output length".into()))?;
    compute(&argon2, params, keep, password, &salt, out).map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        Self {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 4,
        }
    }
}

/// Outcome of a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches. `needs_rehash` when the stored hash uses other parameters or
    /// another Argon2 variant than the configured ones.
    Valid { needs_rehash: bool },
    /// The password does not match.
    Invalid,
    /// The stored value is not an Argon2 PHC string (counted as a mismatch by the flows).
    Malformed,
    /// Not evaluated: no hashing thread became free within the wait budget. The flows answer
    /// 503 with `Retry-After` and count nothing.
    Busy {
        /// Whole seconds after which a retry is reasonable (at least 1).
        retry_after: u64,
    },
}

impl Verification {
    /// Whether the password matched.
    pub fn is_valid(self) -> bool {
        matches!(self, Verification::Valid { .. })
    }
}

/// Hashing failed (bad parameters, or the blocking pool is gone).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("hashing task failed")]
    Join,
    /// No hashing thread became free within the wait budget (`password_hash_max_wait_ms`);
    /// nothing was computed.
    #[error("every hashing thread stayed busy; retry in {retry_after} seconds")]
    Busy {
        /// Whole seconds after which a retry is reasonable (at least 1).
        retry_after: u64,
    },
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The hashing threads: started on first use, ended when the hasher is dropped (the queue's
/// sender goes away and each thread's `recv` fails).
#[derive(Debug)]
struct Workers {
    queue: mpsc::Sender<Job>,
}

impl Workers {
    fn start(threads: usize, nice: u8, idle_release: Duration) -> Result<Self, HashError> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = std::sync::Arc::new(Mutex::new(jobs));
        for _ in 0..threads {
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name("regstack-argon2".to_owned())
                .spawn(move || {
                    lower_priority(nice);
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match jobs.lock() {
                            Ok(rx) => rx.recv_timeout(idle_release),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(mpsc::RecvTimeoutError::Timeout) => release_memory(),
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .map_err(|e| HashError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { queue })
    }
}

/// Lower the calling thread's scheduling priority to `nice` (Linux: per thread).
#[cfg(target_os = "linux")]
fn lower_priority(nice: u8) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), i32::from(nice)) {
        tracing::warn!(
            target: "regstack.password",
            error = %e,
            nice,
            "could not lower the priority of a hashing thread; it runs at normal priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: u8) {}

/// The password hasher of one regstack instance.
#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    hash_params: HashParams,
    permits: usize,
    nice: u8,
    idle_release: Duration,
    max_wait: Duration,
    workers: OnceLock<Result<Workers, String>>,
    dummy: String,
    hashes: AtomicU64,
    verifications: AtomicU64,
}

impl PasswordHasher {
    /// A hasher with these parameters and at most `permits` concurrent Argon2 computations.
    pub fn new(hash_params: HashParams, permits: usize) -> Result<Self, HashError> {
        let params = Params::new(
            hash_params.memory_kib,
            hash_params.iterations,
            hash_params.parallelism,
            Some(32),
        )
        .map_err(|e| HashError::Params(e.to_string()))?;
        let permits = permits.max(1);
        let dummy = dummy_phc(&params)?;
        Ok(Self {
            params,
            hash_params,
            permits,
            nice: DEFAULT_NICE,
            idle_release: IDLE_RELEASE,
            max_wait: DEFAULT_MAX_WAIT,
            workers: OnceLock::new(),
            dummy,
            hashes: AtomicU64::new(0),
            verifications: AtomicU64::new(0),
        })
    }

    /// The configured parameters.
    pub fn params(&self) -> HashParams {
        self.hash_params
    }

    /// The number of concurrent Argon2 computations allowed (the number of hashing threads).
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Run the hashing threads at this nice value (0 = the process's own priority, up to
    /// [`MAX_NICE`]; higher values are clamped). Linux only; elsewhere the threads keep the
    /// process's priority. Takes effect when the threads start, at the first hash.
    pub fn with_nice(mut self, nice: u8) -> Self {
        self.nice = nice.min(MAX_NICE);
        self
    }

    /// The nice value of the hashing threads.
    pub fn nice(&self) -> u8 {
        self.nice
    }

    /// Give a hashing thread's memory back after this long without work (default
    /// [`IDLE_RELEASE`]). Takes effect when the threads start.
    pub fn with_idle_release(mut self, idle: Duration) -> Self {
        self.idle_release = idle;
        self
    }

    /// Give up waiting for a free hashing thread after `wait` ([`HashError::Busy`],
    /// [`Verification::Busy`]); the queued computation is then skipped. Default
    /// [`DEFAULT_MAX_WAIT`].
    pub fn with_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// How long a caller waits for a free hashing thread.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// How many hashes this hasher has computed.
    pub fn hash_count(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// How many verifications this hasher has run (including dummy verifications).
    pub fn verification_count(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let workers = self
            .workers
            .get_or_init(|| {
                Workers::start(self.permits, self.nice, self.idle_release)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| HashError::Hash(e.clone()))?;
        let (done, result) = oneshot::channel();
        let (started, has_started) = oneshot::channel::<()>();
        let job: Job = Box::new(move || {
            // Nobody is waiting any more (the caller was cancelled while queued, or gave up
            // after the wait budget): skip it.
            if done.is_closed() {
                return;
            }
            let _ = started.send(());
            // A panic ends this computation, not the thread; the caller sees `Join`.
            if let Ok(value) = std::panic::catch_unwind(AssertUnwindSafe(f)) {
                let _ = done.send(value);
            }
        });
        workers.queue.send(job).map_err(|_| HashError::Join)?;
        // Bounded wait for a thread: past the budget, dropping `result` makes the thread skip
        // the job when it comes to it.
        match tokio::time::timeout(self.max_wait, has_started).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(HashError::Join),
            Err(_) => {
                let millis = u64::try_from(self.max_wait.as_millis()).unwrap_or(u64::MAX);
                return Err(HashError::Busy {
                    retry_after: millis.div_ceil(1000).max(1),
                });
            }
        }
        result.await.map_err(|_| HashError::Join)
    }

    /// Hash a password into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.hashes.fetch_add(1, Ordering::Relaxed);
        let params = self.params.clone();
        let keep = params.block_count();
        let pw = password.as_bytes().to_vec();
        self.run_blocking(move || hash_new(&pw, &params, keep))
            .await?
    }

    /// Verify a password against a stored PHC string (any Argon2 variant and parameters).
    pub async fn verify(&self, password: &str, stored: &str) -> Verification {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verification::Malformed;
        };
        let alg = parsed.algorithm.as_str();
        if !matches!(alg, "argon2id" | "argon2i" | "argon2d") || parsed.hash.is_none() {
            return Verification::Malformed;
        }
        let needs_rehash = alg != "argon2id"
            || parsed.version != Some(0x13)
            || Params::try_from(&parsed).ok().is_none_or(|p| {
                p.m_cost() != self.hash_params.memory_kib
                    || p.t_cost() != self.hash_params.iterations
                    || p.p_cost() != self.hash_params.parallelism
                    || parsed.hash.as_ref().map(|h| h.len()) != Some(32)
            });
        let pw = password.as_bytes().to_vec();
        let keep = self.params.block_count();
        let result = self
            .run_blocking(move || verify_stored(&pw, &parsed, keep))
            .await;
        match result {
            Ok(Ok(true)) => Verification::Valid { needs_rehash },
            Ok(Ok(false)) => Verification::Invalid,
            Ok(Err(())) => Verification::Malformed,
            Err(HashError::Busy { retry_after }) => Verification::Busy { retry_after },
            Err(_) => Verification::Invalid,
        }
    }

    /// Run one verification against a fixed dummy hash with the configured parameters (made
    /// when the hasher is built), so a request for an unknown account costs what a wrong
    /// password costs. Never [`Verification::Valid`]; [`Verification::Busy`] like any other
    /// verification when no thread is free.
    pub async fn verify_dummy(&self, password: &str) -> Verification {
        match self.verify(password, &self.dummy).await {
            Verification::Valid { .. } | Verification::Malformed => Verification::Invalid,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn hash_and_verify_round_trip() {
        let h = fast();
        let phc = h.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert_eq!(
            h.verify("correct horse", &phc).await,
            Verification::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(h.verify("wrong horse", &phc).await, Verification::Invalid);
        assert_eq!(h.verification_count(), 2);
    }

    #[tokio::test]
    async fn other_parameters_verify_and_ask_for_rehash() {
        let other = PasswordHasher::new(
            HashParams {
                memory_kib: 2048,
                iterations: 2,
                parallelism: 2,
            },
            1,
        )
        .unwrap();
        let phc = other.hash("pässwörd ✓").await.unwrap();
        assert_eq!(
            fast().verify("pässwörd ✓", &phc).await,
            Verification::Valid { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn argon2i_hash_verifies_and_needs_rehash() {
        use argon2::PasswordHasher as _;
        let params = Params::new(1024, 1, 1, Some(32)).unwrap();
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"password1")
            .unwrap()
            .to_string();
        assert_eq!(
            fast().verify("password1", &phc).await,
            Verification::Valid { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn non_phc_values_are_malformed() {
        let h = fast();
        for bad in [
            "",
            "plaintext",
            "$2b$12$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWX",
            "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ",
        ] {
            assert_eq!(
                h.verify("password1", bad).await,
                Verification::Malformed,
                "{bad}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_caller_keeps_its_permit_until_the_computation_ends() {
        use std::sync::atomic::AtomicUsize;
        let h = Arc::new(PasswordHasher::new(HashParams::default(), 1).unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let job = || {
            let (running, most) = (running.clone(), most.clone());
            move || {
                let n = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(150));
                running.fetch_sub(1, Ordering::SeqCst);
            }
        };
        let first = {
            let (h, job) = (h.clone(), job());
            tokio::spawn(async move { h.run_blocking(job).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        first.abort();
        h.run_blocking(job()).await.unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_gone_before_its_turn_is_skipped() {
        let h = Arc::new(PasswordHasher::new(HashParams::default(), 1).unwrap());
        let ran = Arc::new(AtomicU64::new(0));
        let busy = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run_blocking(|| std::thread::sleep(std::time::Duration::from_millis(200)))
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let queued = {
            let (h, ran) = (h.clone(), ran.clone());
            tokio::spawn(async move {
                h.run_blocking(move || ran.fetch_add(1, Ordering::SeqCst))
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        queued.abort();
        busy.await.unwrap().unwrap();
        let after = {
            let ran = ran.clone();
            h.run_blocking(move || ran.fetch_add(10, Ordering::SeqCst))
                .await
                .unwrap()
        };
        assert_eq!(after, 0, "the abandoned job never ran");
        assert_eq!(ran.load(Ordering::SeqCst), 10);
    }

    #[tokio::test]
    async fn a_panicking_computation_fails_only_its_caller() {
        let h = PasswordHasher::new(HashParams::default(), 1).unwrap();
        let failed = h.run_blocking(|| -> u32 { panic!("inside argon2") }).await;
        assert!(matches!(failed, Err(HashError::Join)), "{failed:?}");
        assert_eq!(
            h.run_blocking(|| 7).await.unwrap(),
            7,
            "the thread survived"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn one_core_is_left_to_everything_else() {
        assert_eq!(default_permits_for(0), 1);
        assert_eq!(default_permits_for(1), 1);
        assert_eq!(default_permits_for(2), 1);
        assert_eq!(default_permits_for(3), 2);
        assert_eq!(default_permits_for(16), 15);
        assert!(default_permits() >= 1);
    }

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_configured_nice() {
        // Unprivileged, a thread cannot go below the nice it inherited.
        let base = own_nice();
        let default = fast();
        assert_eq!(default.nice(), DEFAULT_NICE);
        let seen = default.run_blocking(own_nice).await.unwrap();
        assert_eq!(seen, base.max(i32::from(DEFAULT_NICE)));
        let seen = fast().with_nice(0).run_blocking(own_nice).await.unwrap();
        assert_eq!(seen, base);
        let lowest = fast().with_nice(200);
        assert_eq!(lowest.nice(), MAX_NICE);
        assert_eq!(lowest.run_blocking(own_nice).await.unwrap(), 19);
        assert_eq!(own_nice(), base, "the caller's thread is untouched");
    }

    /// The hand-written verification agrees with argon2's own on every variant, version,
    /// parameter set and output length, for right and wrong passwords.
    #[tokio::test]
    async fn verification_agrees_with_the_argon2_crate() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let h = fast();
        for (alg, version) in [
            (Algorithm::Argon2id, Version::V0x13),
            (Algorithm::Argon2i, Version::V0x13),
            (Algorithm::Argon2d, Version::V0x13),
            (Algorithm::Argon2id, Version::V0x10),
        ] {
            for (m, t, p, len) in [
                (8, 1, 1, 32),
                (1024, 2, 2, 16),
                (2048, 1, 4, 64),
                (96, 3, 3, 33),
            ] {
                let params = Params::new(m, t, p, Some(len)).unwrap();
                let phc = Argon2::new(alg, version, params)
                    .hash_password(b"pa\xc3\xa4ssword \xe2\x9c\x93".as_slice())
                    .unwrap()
                    .to_string();
                for attempt in ["pa\u{e4}ssword \u{2713}", "password", ""] {
                    let stock = Argon2::default()
                        .verify_password(attempt.as_bytes(), &PasswordHash::new(&phc).unwrap())
                        .is_ok();
                    let ours = h.verify(attempt, &phc).await;
                    assert_eq!(ours.is_valid(), stock, "{phc} / {attempt:?}");
                    if !stock {
                        assert_eq!(ours, Verification::Invalid, "{phc} / {attempt:?}");
                    }
                }
            }
        }
    }

    /// Our hashes verify with argon2's own verifier and carry the configured parameters.
    #[tokio::test]
    async fn hashes_verify_with_the_argon2_crate() {
        use argon2::PasswordVerifier as _;
        let h = fast();
        let a = h.hash("correct horse").await.unwrap();
        let b = h.hash("correct horse").await.unwrap();
        assert_ne!(a, b, "fresh salt each time");
        for phc in [&a, &b] {
            let parsed = PasswordHash::new(phc).unwrap();
            assert_eq!(parsed.salt.as_ref().map(|s| s.len()), Some(16));
            assert!(
                Argon2::default()
                    .verify_password(b"correct horse", &parsed)
                    .is_ok()
            );
            assert!(
                Argon2::default()
                    .verify_password(b"wrong horse", &parsed)
                    .is_err()
            );
        }
    }

    /// Each hashing thread keeps its memory between computations, wiped, and gives it back
    /// when idle; a stored hash costlier than configured does not grow what is kept.
    #[tokio::test]
    async fn thread_memory_is_kept_wiped_and_released() {
        // One thread, so every computation and look below happens on it.
        let h = PasswordHasher::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap()
        .with_idle_release(std::time::Duration::from_millis(150));
        let state = || {
            MEMORY.with(|m| {
                let m = m.borrow();
                let wiped = m.iter().all(|b| b.as_ref().iter().all(|w| *w == 0));
                (m.len(), wiped)
            })
        };
        h.hash("first password").await.unwrap();
        assert_eq!(h.run_blocking(state).await.unwrap(), (1024, true));
        let big = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, Some(32)).unwrap(),
        );
        let phc = argon2::PasswordHasher::hash_password(&big, b"bigger cost")
            .unwrap()
            .to_string();
        assert!(h.verify("bigger cost", &phc).await.is_valid());
        assert_eq!(h.run_blocking(state).await.unwrap(), (1024, true));
        tokio::time::sleep(std::time::Duration::from_millis(400)).await;
        assert_eq!(h.run_blocking(state).await.unwrap(), (0, true));
    }

    #[tokio::test]
    async fn the_dummy_exists_from_the_start_and_costs_one_verification() {
        let h = fast();
        // Made without hashing: the first unknown-email login costs one computation, not two.
        assert_eq!(h.hash_count(), 0);
        assert!(
            h.dummy.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
            "{}",
            h.dummy
        );
        assert_eq!(h.verify_dummy("whatever1").await, Verification::Invalid);
        assert_eq!(h.verify_dummy("whatever2").await, Verification::Invalid);
        assert_eq!(h.verification_count(), 2);
        assert_eq!(h.hash_count(), 0);
        // A fresh random salt and output per hasher.
        assert_ne!(fast().dummy, h.dummy);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_waits_past_the_budget_is_told_busy_and_its_job_skipped() {
        let h = Arc::new(
            PasswordHasher::new(HashParams::default(), 1)
                .unwrap()
                .with_max_wait(Duration::from_millis(50)),
        );
        let ran = Arc::new(AtomicU64::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let busy = {
            let h = h.clone();
            tokio::spawn(async move {
                h.run_blocking(move || {
                    let _ = gate.recv();
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ran2 = ran.clone();
        let refused = h
            .run_blocking(move || ran2.fetch_add(1, Ordering::SeqCst))
            .await;
        assert!(
            matches!(refused, Err(HashError::Busy { retry_after: 1 })),
            "{refused:?}"
        );
        // A verification refused the same way is `Busy`, never a mismatch.
        let phc = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$\
                   Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm8";
        assert_eq!(
            h.verify("pw", phc).await,
            Verification::Busy { retry_after: 1 }
        );
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        // The thread is free again; the given-up jobs were skipped, not run late.
        let ran3 = ran.clone();
        h.run_blocking(move || ran3.fetch_add(10, Ordering::SeqCst))
            .await
            .unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 10);
    }
}
