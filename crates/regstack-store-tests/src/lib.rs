#![doc = include_str!("../README.md")]

pub mod cases;
pub mod servers;
pub mod support;
mod target;

use regstack_core::store::Stores;

pub use crate::target::{Capabilities, Precision, Target};

#[doc(hidden)]
pub use regstack_core;
#[doc(hidden)]
pub use tokio;

/// What a conformance factory yields: something that gives the [`Stores`] under test and
/// keeps whatever they need alive (a temporary directory, a server handle, ...) until the
/// case ends.
///
/// Implemented for [`Stores`] and for `(Stores, G)` with any guard `G`.
pub trait Fixture: Send + 'static {
    /// The stores under test.
    fn stores(&self) -> Stores;
}

impl Fixture for Stores {
    fn stores(&self) -> Stores {
        self.clone()
    }
}

impl<G: Send + 'static> Fixture for (Stores, G) {
    fn stores(&self) -> Stores {
        self.0.clone()
    }
}

/// What a conformance factory's future may yield: a [`Fixture`], or `Option<F: Fixture>` where
/// `None` skips the test (the factory found no server and [`servers::Server::require`] allowed
/// the skip).
pub trait MaybeFixture: Send + 'static {
    /// The fixture when there is one.
    type Fixture: Fixture;
    /// `Some` to run the case, `None` to skip it.
    fn into_fixture(self) -> Option<Self::Fixture>;
}

impl<F: Fixture> MaybeFixture for F {
    type Fixture = F;
    fn into_fixture(self) -> Option<F> {
        Some(self)
    }
}

impl<F: Fixture> MaybeFixture for Option<F> {
    type Fixture = F;
    fn into_fixture(self) -> Option<F> {
        self
    }
}

/// Expand the conformance suite into `#[tokio::test]`s (multi-thread runtime, 4 workers), one
/// module per group and one test per case.
///
/// `$factory` is an expression evaluated afresh in every test, yielding a future whose output
/// implements [`Fixture`] over **empty, isolated** stores, or is an `Option` of one where
/// `None` skips the test ([`MaybeFixture`]; see [`servers`] for the skip policy). It is
/// resolved in the invoking module (the generated modules `use super::*`).
///
/// ```text
/// regstack_store_tests::conformance_tests!(fresh_db());            // every group
/// regstack_store_tests::conformance_tests!(fresh_db(); users);     // chosen groups
/// regstack_store_tests::conformance_tests!(                        // a millisecond store
///     fresh_db();
///     capabilities = regstack_store_tests::Capabilities::new()
///         .with_precision(regstack_store_tests::Precision::Millis)
/// );
/// regstack_store_tests::conformance_tests!(fresh_db(); capabilities = CAPS; users, pending);
/// ```
///
/// Without `capabilities = …` the cases run with [`Capabilities::default`] (the strict
/// reference: microsecond datetimes, new id on a pending upsert).
///
/// Groups: `users`, `pending`, `revocations`, `login_attempts`, `mfa_codes`,
/// `oauth_identities`, `oauth_states`, `stores`, `sessions`.
#[macro_export]
macro_rules! conformance_tests {
    ($factory:expr $(,)?) => {
        $crate::conformance_tests!($factory; capabilities = $crate::Capabilities::new());
    };
    ($factory:expr; capabilities = $caps:expr $(,)?) => {
        $crate::conformance_tests!(
            $factory;
            capabilities = $caps;
            users,
            pending,
            revocations,
            login_attempts,
            mfa_codes,
            oauth_identities,
            oauth_states,
            stores,
            sessions
        );
    };
    ($factory:expr; capabilities = $caps:expr; $($group:ident),+ $(,)?) => {
        $( $crate::__conformance_group!($group, $factory, $caps); )+
    };
    ($factory:expr; $($group:ident),+ $(,)?) => {
        $crate::conformance_tests!(
            $factory;
            capabilities = $crate::Capabilities::new();
            $($group),+
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_group {
    (users, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(users, $factory, $caps;
            create_and_get,
            create_without_password,
            ids_are_distinct,
            duplicate_email_conflicts,
            email_lookup_is_exact,
            get_missing_is_none,
            update_patches_given_fields,
            update_every_field,
            update_empty_patch_bumps_updated_at,
            update_email_clash_conflicts,
            update_missing_is_none,
            delete_once,
            count_and_list,
            count_by_flags,
            update_guarded_holds_or_refuses,
            update_guarded_concurrently_once,
            cutoff_never_rounds_down,
        );
    };
    (pending, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(pending, $factory, $caps;
            upsert_and_find,
            upsert_replaces,
            token_hash_clash_conflicts,
            consume_once,
            consume_concurrently_once,
            delete_by_email,
            count_unexpired_and_purge_boundaries,
        );
    };
    (revocations, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(revocations, $factory, $caps;
            revoke_once,
            revoke_concurrently_once,
            is_revoked_regardless_of_exp,
            purge_expired_boundary,
        );
    };
    (login_attempts, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(login_attempts, $factory, $caps;
            failures_since_window_and_order,
            clear_one_email,
            purge_before_boundary,
            admit_counts_up_to_the_limit,
            admit_concurrently_at_most_the_limit,
        );
    };
    (mfa_codes, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(mfa_codes, $factory, $caps;
            put_and_get,
            put_replaces,
            increment_attempts,
            increment_attempts_concurrently,
            delete_one_winner,
            delete_for_user,
            purge_expired_boundary,
        );
    };
    (oauth_identities, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(oauth_identities, $factory, $caps;
            create_and_find,
            provider_subject_clash_conflicts,
            user_provider_clash_conflicts,
            list_for_user_ordered,
            delete_and_delete_for_user,
            touch_last_used,
        );
    };
    (oauth_states, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(oauth_states, $factory, $caps;
            create_and_get,
            duplicate_id_conflicts,
            set_result,
            consume_once,
            consume_concurrently_once,
            purge_expired_boundary,
        );
    };
    (stores, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(stores, $factory, $caps;
            purge_expired_everywhere,
        );
    };
    (sessions, $factory:expr, $caps:expr) => {
        $crate::__conformance_cases!(sessions, $factory, $caps;
            lookup_agrees_with_the_repositories,
            concurrent_lookups_each_get_their_own_answer,
            a_replaced_repository_is_asked,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($group:ident, $factory:expr, $caps:expr; $($case:ident),+ $(,)?) => {
        mod $group {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[$crate::tokio::test(
                    flavor = "multi_thread",
                    worker_threads = 4,
                    crate = "::regstack_store_tests::tokio"
                )]
                async fn $case() {
                    let ::core::option::Option::Some(fixture) =
                        $crate::MaybeFixture::into_fixture($factory.await)
                    else {
                        return;
                    };
                    let target = $crate::Target::new($crate::Fixture::stores(&fixture), $caps);
                    $crate::cases::$group::$case(target).await;
                    ::core::mem::drop(fixture);
                }
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    const CASE_FILES: &[(&str, &str)] = &[
        ("users", include_str!("cases/users.rs")),
        ("pending", include_str!("cases/pending.rs")),
        ("revocations", include_str!("cases/revocations.rs")),
        ("login_attempts", include_str!("cases/login_attempts.rs")),
        ("mfa_codes", include_str!("cases/mfa_codes.rs")),
        (
            "oauth_identities",
            include_str!("cases/oauth_identities.rs"),
        ),
        ("oauth_states", include_str!("cases/oauth_states.rs")),
        ("stores", include_str!("cases/stores.rs")),
        ("sessions", include_str!("cases/sessions.rs")),
    ];

    /// Every `pub async fn` case is listed in the macro, and nothing else is.
    #[test]
    fn macro_lists_every_case() {
        let src = include_str!("lib.rs");
        let start = src.find("macro_rules! __conformance_group").unwrap();
        let end = src.find("macro_rules! __conformance_cases").unwrap();
        let mut listed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut group = String::new();
        for line in src[start..end].lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix('(') {
                if let Some((name, _)) = rest.split_once(", $factory:expr, $caps:expr)") {
                    group = name.to_owned();
                }
            } else if let Some(case) = line.strip_suffix(',')
                && !case.is_empty()
                && case.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            {
                listed
                    .entry(group.clone())
                    .or_default()
                    .push(case.to_owned());
            }
        }
        let mut defined: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (group, file) in CASE_FILES {
            for line in file.lines() {
                if let Some(rest) = line.strip_prefix("pub async fn ") {
                    assert!(
                        rest.contains("(target: impl Into<Target>)"),
                        "every case takes `impl Into<Target>`: {rest}"
                    );
                    let name = rest.split('(').next().unwrap().to_owned();
                    defined.entry((*group).to_owned()).or_default().push(name);
                }
            }
        }
        assert_eq!(listed, defined);
    }
}
