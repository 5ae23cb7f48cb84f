//! The conformance cases, one module per repository. Each case is a plain
//! `pub async fn case(target: impl Into<Target>)` (a bare `Stores` will do) that panics on a
//! contract violation and expects the stores to start empty.

pub mod login_attempts;
pub mod mfa_codes;
pub mod oauth_identities;
pub mod oauth_states;
pub mod pending;
pub mod revocations;
pub mod sessions;
pub mod stores;
pub mod users;
