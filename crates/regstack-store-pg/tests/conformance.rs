//! The shared conformance suite on PostgreSQL: each test on a fresh database of its own
//! (`regstack_test_<random>`, dropped afterwards; see `common`).

mod common;

use common::fresh;

regstack_store_tests::conformance_tests!(fresh());
