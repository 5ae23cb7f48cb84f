//! The optional per-route, per-client-IP rate limits of regstack 0.9.3's HTTP API
//!
//! Each `*_rate_limit` setting (regstack 0.9.3's configuration) holds a limit string in the syntax of
//! the Python `limits` library (`"5/minute"`, `"100 per hour"`, `"5/2 seconds"`,
//! `"5/minute;20/hour"`). [`RouteLimits::from_config`] parses all of them once, at start-up;
//! a string that cannot be parsed or enforced is a [`RateLimitConfigError`], so a host never
//! runs with a limit it asked for silently switched off (fail closed).
//!
//! # Semantics
//!
//! Every item of a limit string is enforced: a request must pass each of them, checked in the
//! order written, and the first item that refuses it is the one reported (as slowapi does;
//! items before it have counted the request). Each item keeps one GCRA bucket per client IP
//! (the [`governor`] crate) with a burst of `n` that refills at `n` per window: in a fresh
//! window exactly `n` requests pass and the next is refused, after which one more request is
//! allowed every `window / n`. The `Retry-After` header of a refusal gives the whole seconds
//! until that happens (at least 1).
//!
//! # Memory
//!
//! Buckets that have refilled completely are indistinguishable from absent ones, so every
//! [`CLEANUP_EVERY`] checks they are dropped (`retain_recent`) and the maps shrunk: the state
//! kept is bounded by the clients seen within the longest window, not by every client ever seen.
//!
//! # Client address
//!
//! [`client_ip`] picks the address a request comes from; see its documentation for how
//! `behind_proxy` and `trusted_proxies` change that. An IPv4 address has a bucket of its own;
//! an IPv6 address counts in the bucket of its /64 (the usual allocation of one customer or
//! device, who can pick any address in it), so an IPv6 client can neither evade a limit nor
//! grow the maps by changing its interface identifier. IPv4-mapped IPv6 addresses
//! (`::ffff:1.2.3.4`) count as the IPv4 address.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, StatusCode};
use regstack_core::RegStackConfig;
use regstack_core::config::{IpNetwork, env_name};
use serde_json::json;

use crate::reply::{Reply, with_retry_after};

/// How many checks pass between two sweeps of refilled buckets.
pub const CLEANUP_EVERY: u64 = 1024;

/// The longest window that is enforced (100 × 365 days); longer ones are configuration errors
/// (the limiter counts time in `u64` nanoseconds).
const MAX_WINDOW_SECS: u64 = 100 * 365 * 86_400;

/// A `*_rate_limit` setting that cannot be enforced.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for `{field}` ({env}): {reason}", env = env_name(self.field))]
pub struct RateLimitConfigError {
    /// The setting, e.g. `login_rate_limit`.
    pub field: &'static str,
    /// Its value as configured.
    pub value: String,
    /// What is wrong with it, naming the value.
    pub reason: String,
}

/// A request refused by a rate limit: 429 `{"error": "Rate limit exceeded: <description>"}`
/// (the body of slowapi's stock handler) with a `Retry-After` header.
#[derive(Debug, Clone)]
pub struct RateLimited {
    /// The limit item that refused the request, as the `limits` library prints it
    /// (`5 per 1 minute`).
    pub description: String,
    /// Whole seconds until this client could pass that item again (at least 1).
    pub retry_after: u64,
}

impl RateLimited {
    /// The 429 answer.
    pub fn into_reply(self) -> Reply {
        let body = json!({ "error": format!("Rate limit exceeded: {}", self.description) });
        with_retry_after(
            crate::reply::json(StatusCode::TOO_MANY_REQUESTS, &body),
            self.retry_after,
        )
    }
}

/// The configured per-route limits and their per-client state. Empty when no `*_rate_limit`
/// is set. Share it (e.g. in an `Arc`) between all requests.
pub struct RouteLimits {
    table: Table<MonotonicClock>,
}

impl fmt::Debug for RouteLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.table.fmt(f)
    }
}

impl RouteLimits {
    /// Parses every configured `*_rate_limit` (see [`RegStackConfig::rate_limits`]).
    pub fn from_config(config: &RegStackConfig) -> Result<Self, RateLimitConfigError> {
        Ok(RouteLimits {
            table: Table::build(config.rate_limits(), MonotonicClock)?,
        })
    }

    /// `true` when no route is limited.
    pub fn is_empty(&self) -> bool {
        self.table.routes.is_empty()
    }

    /// Count one request of `path` (router-relative, e.g. `"/login"`) from `client` (in the
    /// bucket of its IPv4 address or IPv6 /64); `Err` when it is over any configured limit of
    /// that path. A path without a limit always passes and is not counted.
    pub fn check(&self, path: &str, client: IpAddr) -> Result<(), RateLimited> {
        self.table.check(path, client)
    }
}

/// The address a request comes from, or `None` when there is none to use.
///
/// `trusted_proxies` are the reverse proxies whose `X-Forwarded-For` is believed: the
/// configured `trusted_proxies` when `behind_proxy = true`, empty otherwise (as the
/// [`RateLimit`] extractor passes them).
///
/// * A peer that is not one of `trusted_proxies` (every peer when the list is empty): the peer
///   address of the connection, whatever headers the request carries, as any client can send
///   them.
/// * A peer that is a trusted proxy: the entries of `X-Forwarded-For` (all such headers read as
///   one comma-separated list, in order) are walked from the right. Each proxy appends the
///   address it received the request from, so entries that are themselves trusted proxies are
///   skipped and the first entry that is not is the client; the entries left of it were written
///   by the client and are never used. When every entry is a trusted proxy, the leftmost one.
///   A malformed entry ends the walk: the request is then counted under the peer (the proxy),
///   never under an entry further left. Without the header, the peer.
/// * No peer address (the router was not served with connection info): `None`, whatever the
///   headers say.
///
/// The `Forwarded` header (RFC 7239) is not read: a proxy that writes only `Forwarded` leaves
/// every request counted under its own address, and a client-written one has no effect.
///
/// Entries are accepted as `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]` or
/// `[2001:db8::1]:443`, optionally quoted; an empty entry, `unknown`, an obfuscated identifier
/// or anything else unparsable (a header value that is not visible ASCII included) is
/// malformed. IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are returned as IPv4, so a
/// dual-stack listener does not give a client two buckets.
pub fn client_ip(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted_proxies: &[IpNetwork],
) -> Option<IpAddr> {
    let peer = peer?.ip().to_canonical();
    let trusted = |ip: IpAddr| trusted_proxies.iter().any(|net| net.contains(ip));
    if !trusted(peer) {
        return Some(peer);
    }
    let mut client = peer;
    for value in headers.get_all("x-forwarded-for").iter().rev() {
        let Ok(value) = value.to_str() else {
            return Some(peer);
        };
        for entry in value.rsplit(',') {
            let Some(ip) = parse_node(entry) else {
                return Some(peer);
            };
            if !trusted(ip) {
                return Some(ip);
            }
            client = ip;
        }
    }
    Some(client)
}

/// The key of `client`'s buckets: an IPv4 address (IPv4-mapped IPv6 included) as it is, an
/// IPv6 address with its last 64 bits cleared.
fn bucket_key(client: IpAddr) -> IpAddr {
    match client.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

/// One node of a forwarding header: an IP, optionally with a port, brackets or quotes.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
        .trim();
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')?
                .strip_suffix(']')?
                .parse::<IpAddr>()
                .ok()
        })?;
    Some(ip.to_canonical())
}

// ---------------------------------------------------------------- limit strings

/// The time units of the `limits` library (a month is 30 days, a year 12 months).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granularity {
    Second,
    Minute,
    Hour,
    Day,
    Month,
    Year,
}

impl Granularity {
    const ALL: [Granularity; 6] = [
        Granularity::Second,
        Granularity::Minute,
        Granularity::Hour,
        Granularity::Day,
        Granularity::Month,
        Granularity::Year,
    ];

    fn name(self) -> &'static str {
        match self {
            Granularity::Second => "second",
            Granularity::Minute => "minute",
            Granularity::Hour => "hour",
            Granularity::Day => "day",
            Granularity::Month => "month",
            Granularity::Year => "year",
        }
    }

    fn seconds(self) -> u64 {
        match self {
            Granularity::Second => 1,
            Granularity::Minute => 60,
            Granularity::Hour => 3_600,
            Granularity::Day => 86_400,
            Granularity::Month => 30 * 86_400,
            Granularity::Year => 12 * 30 * 86_400,
        }
    }
}

/// One `<amount> per <multiples> <granularity>` item of a limit string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LimitItem {
    amount: u64,
    multiples: u64,
    granularity: Granularity,
}

impl fmt::Display for LimitItem {
    /// As `str()` of a `limits` item: `5 per 1 minute`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} per {} {}",
            self.amount,
            self.multiples,
            self.granularity.name()
        )
    }
}

impl LimitItem {
    /// The governor quota enforcing this item: a burst of `amount`, refilled over the window.
    /// `Err` names what cannot be enforced.
    fn quota(&self) -> Result<Quota, &'static str> {
        let amount =
            u32::try_from(self.amount).map_err(|_| "more than 4294967295 requests per window")?;
        let amount = NonZeroU32::new(amount).ok_or("a limit of 0 requests")?;
        if self.multiples == 0 {
            return Err("a window of 0");
        }
        let window = self
            .multiples
            .checked_mul(self.granularity.seconds())
            .filter(|&secs| secs <= MAX_WINDOW_SECS)
            .ok_or("a window longer than 100 years")?;
        let interval = Duration::from_secs(window) / amount.get();
        Quota::with_period(interval)
            .map(|q| q.allow_burst(amount))
            .ok_or("more requests than nanoseconds in the window")
    }
}

/// Parses a limit string like the `limits` library's `parse_many`: items separated by `;`,
/// `,` or `|`, each `<n>/<unit>`, `<n> per <unit>` or `<n>/<m> <unit>` where the unit is
/// `second`, `minute`, `hour`, `day`, `month` or `year` (optionally plural, any case), with
/// whitespace allowed around every part. `Err` holds the reason.
fn parse_many(text: &str) -> Result<Vec<LimitItem>, String> {
    text.split([';', ',', '|'])
        .map(parse_item)
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            format!(
                "expected a rate limit such as \"5/minute\", \"100 per hour\" or \
                 \"5/minute;20/hour\", got {text:?}"
            )
        })
}

/// One item: `\s*(\d+)\s*(/|\s*per\s*)\s*(\d+)*\s*(second|minute|...)s?\s*`, ignoring case.
fn parse_item(item: &str) -> Option<LimitItem> {
    let mut rest = item.trim_start();
    let (amount, after) = split_digits(rest)?;
    rest = after.trim_start();
    if let Some(after) = rest.strip_prefix('/') {
        rest = after;
    } else if rest.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("per")) {
        rest = &rest[3..];
    } else {
        return None;
    }
    rest = rest.trim_start();
    let multiples = match split_digits(rest) {
        Some((m, after)) => {
            rest = after.trim_start();
            m
        }
        None => 1,
    };
    let granularity = Granularity::ALL.into_iter().find(|g| {
        rest.get(..g.name().len())
            .is_some_and(|w| w.eq_ignore_ascii_case(g.name()))
    })?;
    rest = &rest[granularity.name().len()..];
    rest = rest.strip_prefix(['s', 'S']).unwrap_or(rest);
    rest.trim().is_empty().then_some(LimitItem {
        amount,
        multiples,
        granularity,
    })
}

/// A leading run of ASCII digits as a number (saturating, so huge values are refused later)
/// and the rest; `None` without a digit.
fn split_digits(text: &str) -> Option<(u64, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    if end == 0 {
        return None;
    }
    let value = text[..end].bytes().fold(0u64, |acc, b| {
        acc.saturating_mul(10).saturating_add(u64::from(b - b'0'))
    });
    Some((value, &text[end..]))
}

// ---------------------------------------------------------------- the limiter

type Limiter<C> =
    RateLimiter<IpAddr, HashMapStateStore<IpAddr>, C, NoOpMiddleware<<C as Clock>::Instant>>;

struct Route<C: Clock> {
    path: &'static str,
    items: Vec<(LimitItem, Limiter<C>)>,
}

/// The limits of every configured route, generic over the clock so tests can move time.
struct Table<C: Clock> {
    routes: Vec<Route<C>>,
    clock: C,
    checks: AtomicU64,
}

impl<C: Clock> fmt::Debug for Table<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.routes.iter().map(|r| {
                let items: Vec<String> = r.items.iter().map(|(i, _)| i.to_string()).collect();
                (r.path, items)
            }))
            .finish()
    }
}

impl<C: Clock + Clone> Table<C> {
    fn build<'a>(
        limits: impl IntoIterator<Item = (&'static str, &'static str, &'a str)>,
        clock: C,
    ) -> Result<Self, RateLimitConfigError> {
        let mut routes = Vec::new();
        for (path, field, value) in limits {
            let invalid = |reason: String| RateLimitConfigError {
                field,
                value: value.to_owned(),
                reason,
            };
            let items = parse_many(value)
                .map_err(invalid)?
                .into_iter()
                .map(|item| {
                    let quota = item.quota().map_err(|problem| {
                        invalid(format!("cannot enforce \"{item}\" of {value:?}: {problem}"))
                    })?;
                    Ok((item, RateLimiter::hashmap_with_clock(quota, clock.clone())))
                })
                .collect::<Result<Vec<_>, RateLimitConfigError>>()?;
            routes.push(Route { path, items });
        }
        Ok(Table {
            routes,
            clock,
            checks: AtomicU64::new(0),
        })
    }
}

impl<C: Clock> Table<C> {
    fn check(&self, path: &str, client: IpAddr) -> Result<(), RateLimited> {
        let Some(route) = self.routes.iter().find(|r| r.path == path) else {
            return Ok(());
        };
        let client = bucket_key(client);
        let outcome = route.items.iter().try_for_each(|(item, limiter)| {
            limiter.check_key(&client).map_err(|not_until| RateLimited {
                description: item.to_string(),
                retry_after: whole_seconds(not_until.wait_time_from(self.clock.now())),
            })
        });
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            self.cleanup();
        }
        outcome
    }

    /// Drops the buckets that have refilled completely and releases their memory.
    fn cleanup(&self) {
        for (_, limiter) in self.routes.iter().flat_map(|r| &r.items) {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many buckets are kept, over all routes and items.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.routes
            .iter()
            .flat_map(|r| &r.items)
            .map(|(_, l)| l.len())
            .sum()
    }
}

/// `d` rounded up to whole seconds, at least 1.
fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use governor::clock::FakeRelativeClock;
    use http::{HeaderValue, header};

    use super::*;

    fn item(amount: u64, multiples: u64, granularity: Granularity) -> LimitItem {
        LimitItem {
            amount,
            multiples,
            granularity,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn fake(
        limits: &[(&'static str, &'static str, &'static str)],
    ) -> (Table<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let table = Table::build(limits.iter().copied(), clock.clone()).unwrap();
        (table, clock)
    }

    fn config_with(f: impl FnOnce(&mut RegStackConfig)) -> RegStackConfig {
        let mut c = RegStackConfig::default();
        f(&mut c);
        c
    }

    fn body_json(resp: Reply) -> serde_json::Value {
        serde_json::from_slice(resp.body()).unwrap()
    }

    #[test]
    fn parses_every_form() {
        use Granularity::*;
        let cases: &[(&str, &[LimitItem])] = &[
            ("10/minute", &[item(10, 1, Minute)]),
            ("100 per hour", &[item(100, 1, Hour)]),
            ("5/2 seconds", &[item(5, 2, Second)]),
            ("5/2seconds", &[item(5, 2, Second)]),
            ("5 per 2 minutes", &[item(5, 2, Minute)]),
            ("5per minute", &[item(5, 1, Minute)]),
            ("5 PER Minute", &[item(5, 1, Minute)]),
            ("3/DAYS", &[item(3, 1, Day)]),
            ("  7 / hour  ", &[item(7, 1, Hour)]),
            ("05/minute", &[item(5, 1, Minute)]),
            ("1/month", &[item(1, 1, Month)]),
            ("1 per 3 years", &[item(1, 3, Year)]),
            ("5/minute;20/hour", &[item(5, 1, Minute), item(20, 1, Hour)]),
            (
                " 1/second , 5/minute | 10 per day ",
                &[item(1, 1, Second), item(5, 1, Minute), item(10, 1, Day)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_many(text).as_deref(), Ok(*want), "{text}");
        }
        assert_eq!(item(5, 1, Minute).to_string(), "5 per 1 minute");
        assert_eq!(item(5, 2, Second).to_string(), "5 per 2 second");
        assert_eq!(Month.seconds(), 30 * 86_400);
        assert_eq!(Year.seconds(), 360 * 86_400);
    }

    #[test]
    fn refuses_bad_strings() {
        for bad in [
            "",
            "   ",
            "abc",
            "5",
            "5/",
            "/minute",
            "5/fortnight",
            "5/minutely",
            "5/minutess",
            "5/minute;",
            ";5/minute",
            "5/minute;;10/hour",
            "5/minute 10/hour",
            "-5/minute",
            "5.5/minute",
            "five/minute",
            "5/2 3 minutes",
            "5 pe minute",
            "5 per",
            "５/minute",
        ] {
            assert!(parse_many(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn config_errors_name_the_field() {
        for (bad, needle) in [
            ("ten/minute", "expected a rate limit"),
            ("0/minute", "a limit of 0 requests"),
            ("5/0 minutes", "a window of 0"),
            ("99999999999/second", "more than 4294967295 requests"),
            ("1/102 years", "longer than 100 years"),
            ("1/99999999999999999999999 seconds", "longer than 100 years"),
            ("2000000000/second", "more requests than nanoseconds"),
            (
                "5/minute;0/hour",
                "cannot enforce \"0 per 1 hour\" of \"5/minute;0/hour\": a limit of 0 requests",
            ),
        ] {
            let c = config_with(|c| c.login_rate_limit = Some(bad.into()));
            let err = RouteLimits::from_config(&c).unwrap_err();
            assert_eq!(err.field, "login_rate_limit");
            assert_eq!(err.value, bad);
            let text = err.to_string();
            assert!(
                text.starts_with(
                    "invalid value for `login_rate_limit` (REGSTACK_LOGIN_RATE_LIMIT): "
                ),
                "{text}"
            );
            assert!(text.contains(needle), "{bad}: {text}");
        }
        let c = config_with(|c| c.phone_disable_rate_limit = Some("lots".into()));
        let text = RouteLimits::from_config(&c).unwrap_err().to_string();
        assert_eq!(
            text,
            "invalid value for `phone_disable_rate_limit` (REGSTACK_PHONE_DISABLE_RATE_LIMIT): \
             expected a rate limit such as \"5/minute\", \"100 per hour\" or \"5/minute;20/hour\", \
             got \"lots\""
        );
    }

    #[test]
    fn nothing_configured_is_empty_and_never_limits() {
        let limits = RouteLimits::from_config(&RegStackConfig::default()).unwrap();
        assert!(limits.is_empty());
        for _ in 0..100 {
            assert!(limits.check("/login", ip("10.0.0.1")).is_ok());
        }
        assert_eq!(limits.table.tracked(), 0);
    }

    #[test]
    fn five_per_minute_lets_exactly_five_through() {
        let c = config_with(|c| c.login_rate_limit = Some("5/minute".into()));
        let limits = RouteLimits::from_config(&c).unwrap();
        assert!(!limits.is_empty());
        assert_eq!(format!("{limits:?}"), r#"{"/login": ["5 per 1 minute"]}"#);
        let a = ip("203.0.113.7");
        for n in 0..5 {
            assert!(limits.check("/login", a).is_ok(), "request {n}");
        }
        let refused = limits.check("/login", a).unwrap_err();
        assert_eq!(refused.description, "5 per 1 minute");
        assert!((1..=12).contains(&refused.retry_after), "{refused:?}");

        let resp = refused.into_reply();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = resp.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=12).contains(&retry));
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
        assert_eq!(
            body_json(resp),
            json!({ "error": "Rate limit exceeded: 5 per 1 minute" })
        );

        // another client is unaffected, and so are other routes of the same client
        for _ in 0..5 {
            assert!(limits.check("/login", ip("2001:db8::1")).is_ok());
        }
        assert!(limits.check("/login", ip("2001:db8::1")).is_err());
        assert!(limits.check("/register", a).is_ok());
        assert!(limits.check("/me", a).is_ok());
    }

    #[test]
    fn refills_over_the_window_with_exact_retry_after() {
        let (table, clock) = fake(&[("/login", "login_rate_limit", "5/minute")]);
        let a = ip("198.51.100.1");
        for _ in 0..5 {
            table.check("/login", a).unwrap();
        }
        let refused = table.check("/login", a).unwrap_err();
        assert_eq!(refused.retry_after, 12);
        clock.advance(Duration::from_millis(11_500));
        assert_eq!(table.check("/login", a).unwrap_err().retry_after, 1);
        clock.advance(Duration::from_millis(500));
        table.check("/login", a).unwrap();
        assert!(table.check("/login", a).is_err());
        // a whole quiet window gives the full burst back
        clock.advance(Duration::from_secs(60));
        for _ in 0..5 {
            table.check("/login", a).unwrap();
        }
        assert!(table.check("/login", a).is_err());
    }

    #[test]
    fn every_item_is_enforced() {
        let (table, clock) = fake(&[("/login", "login_rate_limit", "2/second;3/minute")]);
        let a = ip("192.0.2.1");
        table.check("/login", a).unwrap();
        table.check("/login", a).unwrap();
        let refused = table.check("/login", a).unwrap_err();
        assert_eq!(refused.description, "2 per 1 second");
        assert_eq!(refused.retry_after, 1);

        clock.advance(Duration::from_secs(1));
        table.check("/login", a).unwrap();
        let refused = table.check("/login", a).unwrap_err();
        assert_eq!(refused.description, "3 per 1 minute");
        assert_eq!(refused.retry_after, 19);

        clock.advance(Duration::from_secs(19));
        table.check("/login", a).unwrap();
        assert_eq!(
            table.check("/login", a).unwrap_err().description,
            "3 per 1 minute"
        );
    }

    #[test]
    fn paths_are_independent() {
        let (table, _clock) = fake(&[
            ("/login", "login_rate_limit", "1/minute"),
            ("/register", "register_rate_limit", "2/minute"),
            ("/phone", "phone_disable_rate_limit", "1/hour"),
        ]);
        let a = ip("192.0.2.9");
        table.check("/login", a).unwrap();
        assert!(table.check("/login", a).is_err());
        table.check("/register", a).unwrap();
        table.check("/register", a).unwrap();
        assert!(table.check("/register", a).is_err());
        table.check("/phone", a).unwrap();
        let refused = table.check("/phone", a).unwrap_err();
        assert_eq!(refused.description, "1 per 1 hour");
        assert_eq!(refused.retry_after, 3600);
        // exact paths only
        for other in [
            "/phone/start",
            "/login/",
            "/LOGIN",
            "/login/mfa-confirm",
            "",
        ] {
            for _ in 0..10 {
                table.check(other, a).unwrap();
            }
        }
    }

    #[test]
    fn ipv4_mapped_addresses_share_the_ipv4_bucket() {
        let (table, _clock) = fake(&[("/login", "login_rate_limit", "1/minute")]);
        table.check("/login", ip("192.0.2.1")).unwrap();
        assert!(table.check("/login", ip("::ffff:192.0.2.1")).is_err());
    }

    #[test]
    fn refilled_buckets_are_dropped() {
        let (table, clock) = fake(&[
            ("/login", "login_rate_limit", "5/minute;20/hour"),
            ("/register", "register_rate_limit", "1/second"),
        ]);
        let mut checks = 0u64;
        for n in 0..3000u32 {
            let client = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            table.check("/login", client).unwrap();
            checks += 1;
        }
        // nothing is stale yet: every client keeps both of its buckets
        assert_eq!(table.tracked(), 6000);
        clock.advance(Duration::from_secs(3600));
        let b = IpAddr::V6(Ipv6Addr::LOCALHOST);
        while !checks.is_multiple_of(CLEANUP_EVERY) {
            let _ = table.check("/register", b);
            checks += 1;
        }
        // only the client of the last stretch is left
        assert_eq!(table.tracked(), 1);
    }

    #[test]
    fn route_limits_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync + fmt::Debug>() {}
        assert_send_sync::<RouteLimits>();
        assert_send_sync::<RateLimitConfigError>();
    }

    #[test]
    fn whole_seconds_rounds_up() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(12)), 12);
        assert_eq!(whole_seconds(Duration::from_millis(12_001)), 13);
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNetwork> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn sock(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_bucket() {
        let (table, _clock) = fake(&[("/login", "login_rate_limit", "2/minute")]);
        table.check("/login", ip("2001:db8:1:2::1")).unwrap();
        table
            .check("/login", ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))
            .unwrap();
        let refused = table
            .check("/login", ip("2001:db8:1:2:abcd::9"))
            .unwrap_err();
        assert_eq!(refused.description, "2 per 1 minute");
        // one bucket, however many addresses of the /64 were used
        assert_eq!(table.tracked(), 1);

        // other /64s are other clients: the next and the previous one, one differing in a
        // higher group, one in the first bit
        for other in [
            "2001:db8:1:3::",
            "2001:db8:1:1:ffff:ffff:ffff:ffff",
            "2001:db8:0:2::1",
            "a001:db8:1:2::1",
        ] {
            let other = ip(other);
            table.check("/login", other).unwrap();
            table.check("/login", other).unwrap();
            assert!(table.check("/login", other).is_err(), "{other}");
        }
        assert_eq!(table.tracked(), 5);
    }

    #[test]
    fn ipv4_addresses_keep_a_bucket_each() {
        let (table, _clock) = fake(&[("/login", "login_rate_limit", "1/minute")]);
        for n in 0..=255u8 {
            table
                .check("/login", IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)))
                .unwrap();
        }
        assert_eq!(table.tracked(), 256);
        assert!(table.check("/login", ip("192.0.2.7")).is_err());
        // IPv4-mapped addresses are IPv4 addresses, not members of the /64 `::ffff:0:0/64`
        assert!(table.check("/login", ip("::ffff:192.0.2.8")).is_err());
        table.check("/login", ip("::ffff:198.51.100.1")).unwrap();
        assert_eq!(table.tracked(), 257);
    }

    #[test]
    fn bucket_keys() {
        for (client, key) in [
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"),
            ("2001:db8:1:2::", "2001:db8:1:2::"),
            ("::1", "::"),
            ("fe80::1", "fe80::"),
            ("192.0.2.1", "192.0.2.1"),
            ("::ffff:192.0.2.1", "192.0.2.1"),
        ] {
            assert_eq!(bucket_key(ip(client)), ip(key), "{client}");
        }
    }

    #[test]
    fn client_ip_without_trusted_proxies_is_the_peer() {
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.1"),
            ("forwarded", "for=203.0.113.2"),
        ]);
        assert_eq!(
            client_ip(&h, sock("192.0.2.10:5000"), &[]),
            Some(ip("192.0.2.10"))
        );
        assert_eq!(client_ip(&h, None, &[]), None);
        assert_eq!(
            client_ip(&h, sock("[2001:db8::5]:443"), &[]),
            Some(ip("2001:db8::5"))
        );
        assert_eq!(
            client_ip(&h, sock("[::ffff:192.0.2.10]:443"), &[]),
            Some(ip("192.0.2.10"))
        );
    }

    #[test]
    fn spoofed_forwarding_headers_from_an_untrusted_peer_are_ignored() {
        let trusted = nets(&["10.0.0.0/8", "::1/128"]);
        let h = headers(&[
            ("x-forwarded-for", "10.0.0.9, 203.0.113.1"),
            ("forwarded", "for=203.0.113.2"),
        ]);
        for (peer, want) in [
            ("192.0.2.10:5000", "192.0.2.10"),
            ("11.0.0.1:80", "11.0.0.1"),
            ("[::2]:80", "::2"),
            ("[2001:db8::7]:80", "2001:db8::7"),
        ] {
            assert_eq!(
                client_ip(&h, sock(peer), &trusted),
                Some(ip(want)),
                "{peer}"
            );
        }
        // without a peer address nothing can be trusted, whatever the headers say
        assert_eq!(client_ip(&h, None, &trusted), None);
    }

    #[test]
    fn client_ip_from_a_trusted_proxy() {
        let trusted = nets(&["10.0.0.0/8", "2001:db8:ffff::/48"]);
        let peer = sock("10.0.0.2:5000");
        type Headers = &'static [(&'static str, &'static str)];
        let cases: &[(Headers, &str)] = &[
            (&[], "10.0.0.2"),
            (&[("x-forwarded-for", "203.0.113.1")], "203.0.113.1"),
            // the rightmost untrusted entry wins; entries left of it are client-written
            (
                &[("x-forwarded-for", "1.1.1.1, 203.0.113.1")],
                "203.0.113.1",
            ),
            (
                &[("x-forwarded-for", "1.1.1.1,203.0.113.1 ")],
                "203.0.113.1",
            ),
            (
                &[
                    ("x-forwarded-for", "1.1.1.1"),
                    ("x-forwarded-for", "203.0.113.1"),
                ],
                "203.0.113.1",
            ),
            // a client-prepended entry never wins, not even one naming a trusted proxy
            (
                &[("x-forwarded-for", "10.0.0.7, 203.0.113.1")],
                "203.0.113.1",
            ),
            (
                &[("x-forwarded-for", "203.0.113.99, 10.0.0.7, 203.0.113.1")],
                "203.0.113.1",
            ),
            // trusted proxies to the right are skipped (a chain of two proxies)
            (
                &[("x-forwarded-for", "203.0.113.1, 10.0.0.3")],
                "203.0.113.1",
            ),
            (
                &[(
                    "x-forwarded-for",
                    "1.1.1.1, 203.0.113.1, 10.9.0.1, 10.0.0.3",
                )],
                "203.0.113.1",
            ),
            (
                &[
                    ("x-forwarded-for", "1.1.1.1, 203.0.113.1"),
                    ("x-forwarded-for", "10.0.0.3"),
                ],
                "203.0.113.1",
            ),
            (
                &[("x-forwarded-for", "203.0.113.1, [2001:db8:ffff:1::5]:443")],
                "203.0.113.1",
            ),
            // every entry a trusted proxy: the leftmost
            (&[("x-forwarded-for", "10.0.0.5, 10.0.0.3")], "10.0.0.5"),
            // a malformed entry ends the walk at the peer, never an entry further left
            (&[("x-forwarded-for", "203.0.113.1, nonsense")], "10.0.0.2"),
            (
                &[("x-forwarded-for", "203.0.113.1, nonsense, 10.0.0.3")],
                "10.0.0.2",
            ),
            (&[("x-forwarded-for", "203.0.113.1,,  ")], "10.0.0.2"),
            (&[("x-forwarded-for", "203.0.113.1, 300.1.1.1")], "10.0.0.2"),
            (&[("x-forwarded-for", "203.0.113.1, unknown")], "10.0.0.2"),
            (&[("x-forwarded-for", "203.0.113.1, _hidden")], "10.0.0.2"),
            (
                &[("x-forwarded-for", "garbage"), ("x-forwarded-for", "")],
                "10.0.0.2",
            ),
            (
                &[
                    ("x-forwarded-for", "203.0.113.1"),
                    ("x-forwarded-for", "bad"),
                ],
                "10.0.0.2",
            ),
            (&[("x-forwarded-for", "fe80::1%eth0")], "10.0.0.2"),
            // ports, brackets, quotes
            (&[("x-forwarded-for", "203.0.113.1:8080")], "203.0.113.1"),
            (&[("x-forwarded-for", "\"203.0.113.1\"")], "203.0.113.1"),
            // IPv6
            (&[("x-forwarded-for", "2001:db8::1")], "2001:db8::1"),
            (
                &[("x-forwarded-for", "1.1.1.1, [2001:db8::1]")],
                "2001:db8::1",
            ),
            (&[("x-forwarded-for", "[2001:db8::1]:443")], "2001:db8::1"),
            (&[("x-forwarded-for", "::ffff:203.0.113.1")], "203.0.113.1"),
            // an IPv4-mapped spelling of a trusted proxy is that proxy
            (
                &[("x-forwarded-for", "203.0.113.1, ::ffff:10.0.0.3")],
                "203.0.113.1",
            ),
            // the Forwarded header is not read
            (&[("forwarded", "for=203.0.113.2")], "10.0.0.2"),
            (
                &[
                    ("x-forwarded-for", "203.0.113.1"),
                    ("forwarded", "for=203.0.113.2"),
                ],
                "203.0.113.1",
            ),
        ];
        for (pairs, want) in cases {
            let h = headers(pairs);
            assert_eq!(client_ip(&h, peer, &trusted), Some(ip(want)), "{pairs:?}");
        }
        // a header value that is not visible ASCII is malformed
        let mut h = headers(&[("x-forwarded-for", "203.0.113.1")]);
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.\xff").unwrap(),
        );
        assert_eq!(client_ip(&h, peer, &trusted), Some(ip("10.0.0.2")));
        // a dual-stack listener's IPv4-mapped peer is the trusted IPv4 proxy
        let h = headers(&[("x-forwarded-for", "203.0.113.1")]);
        assert_eq!(
            client_ip(&h, sock("[::ffff:10.0.0.2]:5000"), &trusted),
            Some(ip("203.0.113.1"))
        );
        // an IPv6 proxy
        assert_eq!(
            client_ip(&h, sock("[2001:db8:ffff:2::1]:5000"), &trusted),
            Some(ip("203.0.113.1"))
        );
    }
}

/// The rate limits as one request sees them: the configured limits and the client's key. A
/// handler calls [`RateLimit::check`] once its request passed authentication and validation,
/// so only requests that reach the flow are counted (as slowapi counts them in 0.9.3).
#[derive(Debug, Clone)]
pub struct RateLimit {
    limits: Option<std::sync::Arc<RouteLimits>>,
    client: IpAddr,
    path: &'static str,
}

impl RateLimit {
    /// The limits of one request from `peer` (the connection's address, `None` when the
    /// front end has none) with these `headers`, under `config`'s proxy rules. Without any
    /// address every such request shares one bucket: the limit still holds, it never runs
    /// open.
    pub fn new(
        limits: &std::sync::Arc<RouteLimits>,
        path: &'static str,
        config: &RegStackConfig,
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Self {
        if limits.is_empty() {
            return RateLimit {
                limits: None,
                client: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                path,
            };
        }
        let trusted_proxies: &[IpNetwork] = if config.behind_proxy {
            &config.trusted_proxies
        } else {
            &[]
        };
        let client = client_ip(headers, peer, trusted_proxies)
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        RateLimit {
            limits: Some(limits.clone()),
            client,
            path,
        }
    }

    /// Count this request against the limits of its route.
    pub fn check(&self) -> Result<(), crate::ApiError> {
        match &self.limits {
            Some(l) => l
                .check(self.path, self.client)
                .map_err(crate::ApiError::RateLimited),
            None => Ok(()),
        }
    }
}
