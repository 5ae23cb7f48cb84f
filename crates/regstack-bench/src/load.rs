//! The load generator: a fixed number of HTTP/1.1 keep-alive connections on loopback, each
//! driven by its own task (closed loop, or paced at a fixed interval), bounded in requests and
//! in seconds.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Builds the `n`-th request of a scenario (`n` counts from 0 across all connections).
pub type MakeRequest = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

/// One load: what to send, on how many connections, for how long.
#[derive(Clone)]
pub struct Load {
    pub addr: SocketAddr,
    pub conns: usize,
    /// Answers completed before this much time has passed are not counted (the pipeline
    /// fills, connections open).
    pub warmup: Duration,
    /// The measured window after the warm-up; at its end unfinished requests are cancelled.
    pub window: Duration,
    /// No more requests than this are sent.
    pub max_requests: u64,
    /// A request still unanswered after this long counts as an error (`timeout`).
    pub timeout: Duration,
    /// `Some(i)`: each connection sends one request every `i` (after a late answer the next
    /// request leaves at once, no burst to catch up). `None`: closed loop, the next request
    /// leaves as soon as the answer is read. Latency runs from writing the request to reading
    /// the whole answer.
    pub pace: Option<Duration>,
    /// The statuses the specification gives for this request; anything else is an error.
    pub expect: &'static [u16],
    pub make: MakeRequest,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load")
            .field("addr", &self.addr)
            .field("conns", &self.conns)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// What a load measured inside its window.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Answers with an expected status.
    pub ok: u64,
    /// Unexpected statuses, connection failures and timeouts.
    pub errors: u64,
    /// Error kinds (`503 {"detail":...}`, `timeout`, `connect: ...`) and their counts.
    pub error_kinds: BTreeMap<String, u64>,
    /// Latencies of the expected answers, in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// The measured window (shorter than asked when `max_requests` ran out first).
    pub elapsed: Duration,
    /// When the first and the last expected answer inside the window arrived.
    pub first_last: Option<(Instant, Instant)>,
    /// Set by [`Stats::two_windows`]: the mean of the two windows' rates.
    pub windows_rate: Option<f64>,
}

impl Stats {
    /// Answers per second: `ok - 1` intervals over the time from the first to the last answer
    /// inside the window. Counting answers over the whole window instead would be off by up
    /// to one answer: ±2.5 % for the ~40 answers an Argon2-bound window holds. With fewer than
    /// two answers (or all at one instant), the count over the window.
    pub fn rate(&self) -> f64 {
        if let Some(rate) = self.windows_rate {
            return rate;
        }
        if let Some((first, last)) = self.first_last {
            let span = last.saturating_duration_since(first).as_secs_f64();
            if self.ok >= 2 && span > 0.0 {
                return (self.ok - 1) as f64 / span;
            }
        }
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Two windows of the same load taken apart in time, as one line: answers, errors and
    /// latencies together, the rate the mean of the two rates.
    pub fn two_windows(a: Stats, b: Stats) -> Stats {
        let rate = (a.rate() + b.rate()) / 2.0;
        let elapsed = a.elapsed + b.elapsed;
        let mut both = a;
        both.merge(b);
        both.latencies_us.sort_unstable();
        Stats {
            elapsed,
            first_last: None,
            windows_rate: Some(rate),
            ..both
        }
    }

    /// Count an expected answer that arrived at `at`, inside the window.
    pub fn answered(&mut self, at: Instant) {
        self.ok += 1;
        self.first_last = Some(match self.first_last {
            None => (at, at),
            Some((first, last)) => (first.min(at), last.max(at)),
        });
    }

    /// The `q` quantile (0..=1) of the latencies, in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let idx = ((self.latencies_us.len() as f64 - 1.0) * q).round() as usize;
        f64::from(self.latencies_us[idx.min(self.latencies_us.len() - 1)]) / 1000.0
    }

    fn error(&mut self, kind: String) {
        self.errors += 1;
        *self.error_kinds.entry(kind).or_default() += 1;
    }

    fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        self.first_last = match (self.first_last, other.first_last) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, None) | (None, x) => x,
        };
        self.errors += other.errors;
        for (k, n) in other.error_kinds {
            *self.error_kinds.entry(k).or_default() += n;
        }
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Open one HTTP/1.1 connection; its driver runs as a task that ends when the sender drops.
pub async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Send one request and read the whole answer.
pub async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), String> {
    sender.ready().await.map_err(|e| format!("io: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("io: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("io: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// A request with a JSON body (or none), `Host` set, and an optional bearer token.
pub fn request(
    method: Method,
    path: &str,
    bearer: Option<&str>,
    json: Option<String>,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "127.0.0.1");
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let body = match json {
        Some(j) => {
            b = b.header("content-type", "application/json");
            Full::new(Bytes::from(j))
        }
        None => Full::new(Bytes::new()),
    };
    b.body(body)
        .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
}

fn error_kind(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.chars().take(80).collect();
    format!("{status} {snippet}")
}

/// Run a load to its end and return what it measured.
pub async fn run(load: Load) -> Stats {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let deadline = measure_from + load.window;
    let issued = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(load.conns);
    for worker in 0..load.conns {
        let load = load.clone();
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::default();
            // Cancel whatever is still in flight at the deadline (not an error: the client
            // stopped waiting, the server did not fail).
            let work = worker_loop(&load, worker, &issued, measure_from, deadline, &mut stats);
            let finished = tokio::time::timeout_at(deadline.into(), work)
                .await
                .map_or(deadline, |()| Instant::now());
            (stats, finished)
        }));
    }
    let mut total = Stats::default();
    let mut last = measure_from;
    for t in tasks {
        if let Ok((stats, finished)) = t.await {
            total.merge(stats);
            last = last.max(finished);
        }
    }
    total.elapsed = last.min(deadline).saturating_duration_since(measure_from);
    total.latencies_us.sort_unstable();
    total
}

async fn worker_loop(
    load: &Load,
    worker: usize,
    issued: &AtomicU64,
    measure_from: Instant,
    deadline: Instant,
    stats: &mut Stats,
) {
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    // Paced connections start staggered so that arrivals are spread evenly.
    let mut next = load
        .pace
        .map(|p| Instant::now() + p.mul_f64(worker as f64 / load.conns.max(1) as f64));
    loop {
        if Instant::now() >= deadline {
            return;
        }
        if let Some(at) = next {
            tokio::time::sleep_until(at.into()).await;
        }
        let s = match sender.as_mut() {
            Some(s) => s,
            None => match connect(load.addr).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    stats.error(e);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let n = issued.fetch_add(1, Ordering::Relaxed);
        if n >= load.max_requests {
            return;
        }
        let req = (load.make)(n);
        let t0 = Instant::now();
        let result = tokio::time::timeout(load.timeout, send(s, req)).await;
        let done = Instant::now();
        // Answers count inside the window; errors count from the first request on.
        let counted = done >= measure_from && done <= deadline;
        match result {
            Ok(Ok((status, _))) if load.expect.contains(&status) => {
                if counted {
                    stats.answered(done);
                    let us = done.saturating_duration_since(t0).as_micros();
                    stats
                        .latencies_us
                        .push(u32::try_from(us).unwrap_or(u32::MAX));
                }
            }
            Ok(Ok((status, body))) => stats.error(error_kind(status, &body)),
            Ok(Err(e)) => {
                stats.error(e);
                sender = None;
            }
            Err(_) => {
                stats.error("timeout".into());
                sender = None;
            }
        }
        if let (Some(at), Some(p)) = (next.as_mut(), load.pace) {
            *at += p;
            // Fell behind (a slow answer): do not fire a burst to catch up.
            if *at < done {
                *at = done;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(start: Instant, at_ms: &[u64]) -> Stats {
        let mut s = Stats {
            elapsed: Duration::from_secs(4),
            ..Stats::default()
        };
        for ms in at_ms {
            s.answered(start + Duration::from_millis(*ms));
        }
        s
    }

    #[test]
    fn rate_is_intervals_over_the_first_to_last_answer() {
        let t = Instant::now();
        // 5 answers 100 ms apart: 4 intervals in 0.4 s, whatever the window's length.
        let s = answers(t, &[1000, 1100, 1200, 1300, 1400]);
        assert!((s.rate() - 10.0).abs() < 1e-9, "{}", s.rate());
        // Fewer than two answers: the count over the window.
        assert!((answers(t, &[500]).rate() - 0.25).abs() < 1e-9);
        assert_eq!(answers(t, &[]).rate(), 0.0);
    }

    #[test]
    fn workers_of_one_window_merge_into_one_span() {
        let t = Instant::now();
        let mut a = answers(t, &[0, 200, 400]);
        a.merge(answers(t, &[100, 300, 500]));
        assert_eq!(a.ok, 6);
        assert!((a.rate() - 10.0).abs() < 1e-9, "{}", a.rate());
    }

    #[test]
    fn two_windows_rate_is_the_mean_of_their_rates() {
        let t = Instant::now();
        let fast = answers(t, &[0, 100, 200]); // 10/s
        let slow = answers(t + Duration::from_secs(10), &[0, 200, 400]); // 5/s
        let both = Stats::two_windows(fast, slow);
        assert_eq!(both.ok, 6);
        assert!((both.rate() - 7.5).abs() < 1e-9, "{}", both.rate());
        assert_eq!(both.elapsed, Duration::from_secs(8));
    }
}
