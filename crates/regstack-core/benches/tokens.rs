//! Micro-benchmarks of the per-request token work: session JWT issue and verify, and the
//! one-time-token helpers (a fresh link token, its SHA-256 at rest, a numeric SMS code).
//!
//! `cargo bench -p regstack-core --bench tokens`; figures in `docs/benchmarks.md`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use regstack_core::config::{JwtAlgorithm, SecretString};
use regstack_core::jwt::{Extra, JwtCodec, Purpose};
use regstack_core::{RegStackConfig, SystemClock, token};

fn codec(algorithm: JwtAlgorithm) -> JwtCodec {
    let config = RegStackConfig {
        jwt_secret: SecretString::new("b".repeat(64)),
        jwt_algorithm: algorithm,
        ..RegStackConfig::default()
    };
    JwtCodec::new(&config, Arc::new(SystemClock))
}

fn jwt(c: &mut Criterion) {
    let mut g = c.benchmark_group("jwt");
    for (name, alg) in [
        ("HS256", JwtAlgorithm::HS256),
        ("HS512", JwtAlgorithm::HS512),
    ] {
        let codec = codec(alg);
        let sub = "0b3a4c1e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";
        g.bench_function(format!("issue session {name}"), |b| {
            b.iter(|| codec.issue(Purpose::Session, black_box(sub), Extra::default()));
        });
        let (token, _) = codec.issue(Purpose::Session, sub, Extra::default());
        g.bench_function(format!("verify session {name}"), |b| {
            b.iter(|| codec.decode(black_box(&token), Purpose::Session));
        });
        let mut forged = token.clone();
        forged.pop();
        forged.push('A');
        g.bench_function(format!("reject forged session {name}"), |b| {
            b.iter(|| codec.decode(black_box(&forged), Purpose::Session));
        });
    }
    g.finish();
}

fn one_time_tokens(c: &mut Criterion) {
    let mut g = c.benchmark_group("one-time token");
    g.bench_function("new link token (32 random bytes)", |b| {
        b.iter(token::new_link_token);
    });
    let raw = token::new_link_token();
    g.bench_function("sha256_hex of a link token", |b| {
        b.iter(|| token::sha256_hex(black_box(&raw)));
    });
    g.bench_function("new link token + sha256_hex", |b| {
        b.iter(|| token::sha256_hex(&token::new_link_token()));
    });
    g.bench_function("numeric SMS code (6 digits)", |b| {
        b.iter(|| token::numeric_code(black_box(6)));
    });
    g.finish();
}

criterion_group!(benches, jwt, one_time_tokens);
criterion_main!(benches);
