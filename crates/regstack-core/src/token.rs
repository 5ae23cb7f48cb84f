//! Random one-time tokens and their at-rest digests. The only source of randomness in regstack.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use rand::TryRngCore as _;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    OsRng
        .try_fill_bytes(&mut buf)
        .unwrap_or_else(|_| rand::rng().fill_bytes(&mut buf));
    buf
}

/// `n` random bytes rendered as URL-safe base64 without padding.
pub fn random_urlsafe(n: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(n))
}

/// A fresh verification-link token: 32 random bytes, 43 URL-safe characters.
pub fn new_link_token() -> String {
    random_urlsafe(32)
}

/// A JWT id: 16 random bytes, 22 URL-safe characters.
pub fn new_jti() -> String {
    random_urlsafe(16)
}

/// Lowercase hex SHA-256 of the UTF-8 bytes of `raw` (how one-time secrets are kept at rest).
pub fn sha256_hex(raw: &str) -> String {
    let digest = Sha256::digest(raw.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0x0f), 16).unwrap_or('0'));
    }
    out
}

/// A uniformly random decimal code of exactly `len` digits (zero padded).
pub fn numeric_code(len: u32) -> String {
    let len = len.clamp(1, 18);
    let bound = 10u64.pow(len);
    // Rejection sampling keeps the distribution uniform.
    let zone = u64::MAX - (u64::MAX % bound);
    loop {
        let mut b = [0u8; 8];
        b.copy_from_slice(&random_bytes(8));
        let v = u64::from_le_bytes(b);
        if v < zone {
            return format!("{:0width$}", v % bound, width = len as usize);
        }
    }
}

/// A new SQL-style id: UUID4 as 32 lowercase hex characters.
pub fn new_uuid_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Constant-time equality of two strings.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shapes() {
        assert_eq!(new_link_token().len(), 43);
        assert_eq!(new_jti().len(), 22);
        assert_ne!(new_link_token(), new_link_token());
        assert_eq!(new_uuid_hex().len(), 32);
        let code = numeric_code(6);
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
