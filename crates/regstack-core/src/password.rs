//! Argon2id password hashing in PHC format, off the async runtime, with bounded concurrency.
//!
//! Defaults are regstack 0.9.3's (m = 64 MiB, t = 3, p = 4, 32-byte hash, 16-byte salt), so a
//! hash written by either implementation verifies in the other. Every hash and verification runs
//! on tokio's blocking pool behind a semaphore: at most `permits` Argon2 buffers exist at once,
//! and async tasks are never blocked by hashing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::{OnceCell, Semaphore};

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
}

/// The password hasher of one regstack instance.
#[derive(Debug)]
pub struct PasswordHasher {
    params: Params,
    hash_params: HashParams,
    permits: usize,
    semaphore: Arc<Semaphore>,
    dummy: OnceCell<String>,
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
        Ok(Self {
            params,
            hash_params,
            permits,
            semaphore: Arc::new(Semaphore::new(permits)),
            dummy: OnceCell::new(),
            hashes: AtomicU64::new(0),
            verifications: AtomicU64::new(0),
        })
    }

    /// The configured parameters.
    pub fn params(&self) -> HashParams {
        self.hash_params
    }

    /// The number of concurrent Argon2 computations allowed.
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// How many hashes this hasher has computed (including the dummy).
    pub fn hash_count(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// How many verifications this hasher has run (including dummy verifications).
    pub fn verification_count(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn argon2(params: Params) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Join)?;
        // The permit moves into the blocking task: when the caller is cancelled (a client
        // hangs up mid-login) the computation still runs to its end, and it must keep its
        // permit until then, or more than `permits` Argon2 buffers would exist at once.
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|_| HashError::Join)
    }

    /// Hash a password into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.hashes.fetch_add(1, Ordering::Relaxed);
        let params = self.params.clone();
        let pw = password.as_bytes().to_vec();
        self.run_blocking(move || {
            Self::argon2(params)
                .hash_password(&pw)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Hash(e.to_string()))
        })
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
        let result = self
            .run_blocking(move || Argon2::default().verify_password(&pw, &parsed))
            .await;
        match result {
            Ok(Ok(())) => Verification::Valid { needs_rehash },
            Ok(Err(argon2::password_hash::Error::PasswordInvalid)) => Verification::Invalid,
            Ok(Err(_)) => Verification::Malformed,
            Err(_) => Verification::Invalid,
        }
    }

    /// Run one verification against a fixed dummy hash with the configured parameters, so a
    /// request for an unknown account costs what a wrong password costs.
    pub async fn verify_dummy(&self, password: &str) {
        let dummy = self
            .dummy
            .get_or_init(|| async {
                let params = self.params.clone();
                let pw = crate::token::random_urlsafe(24);
                self.run_blocking(move || {
                    Self::argon2(params)
                        .hash_password(pw.as_bytes())
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .await
                .unwrap_or_default()
            })
            .await
            .clone();
        let _ = self.verify(password, &dummy).await;
    }
}

#[cfg(test)]
mod tests {
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

    #[tokio::test]
    async fn dummy_verification_counts_once() {
        let h = fast();
        h.verify_dummy("whatever1").await;
        h.verify_dummy("whatever2").await;
        assert_eq!(h.verification_count(), 2);
    }
}
