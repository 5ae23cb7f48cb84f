//! The shared conformance suite on MongoDB: each test on a fresh database (dropped at the
//! end), with millisecond datetimes and in-place pending upserts.

mod common;

use regstack_core::store::{Backend as _, Stores};
use regstack_store_mongo::MongoBackend;
use regstack_store_tests::{Capabilities, Precision};

/// BSON dates keep milliseconds; 0.9.3 replaces a pending registration document in place.
const MONGO: Capabilities = Capabilities::new()
    .with_precision(Precision::Millis)
    .with_pending_upsert_keeping_id(true);

/// A fresh database with the schema installed; `None` skips the test (no server, not CI).
async fn fresh() -> Option<(Stores, (MongoBackend, common::TestDb))> {
    let (backend, db) = common::installed_backend().await?;
    Some((backend.stores(), (backend, db)))
}

regstack_store_tests::conformance_tests!(fresh(); capabilities = MONGO);
