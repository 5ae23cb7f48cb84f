//! Group concurrent look-ups into batches: one query answers many waiting callers.
//!
//! Bearer authentication asks the store one small question per request. Under load, handing
//! each question to the database on its own costs far more than answering it: on SQLite two
//! thread hand-offs per query (sqlx runs every connection on a thread of its own), on
//! PostgreSQL a network round trip plus sqlx's pings and a wake-up of a server process
//! (`docs/benchmarks.md`). A [`Batcher`] lets a backend answer everything that is waiting with
//! one query:
//!
//! - A caller queues its key and waits for its own answer.
//! - While fewer than `max_running` batches are in flight, a caller that finds no batch
//!   starting starts one at once, so a lone caller waits for nothing but its own query.
//! - A running batch, when its query returns, takes whatever queued up meanwhile (up to
//!   `max_batch`) as its next batch, until the queue is empty. Before taking the queue it
//!   yields once to the tasks already runnable on its worker, so requests that have just
//!   arrived join it.
//! - Batches run in tasks of their own: a caller that goes away (a client hung up) cancels
//!   only its own wait, never the query others are waiting for. A key whose caller is gone
//!   before its batch starts is left out.
//!
//! Every answer comes from a query that started after its caller queued, so a batch never
//! answers from before a write its caller could have seen: batching adds no staleness.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

/// The query behind a [`Batcher`]: the answers to `keys`, one per key, in the same order.
pub type BatchFn<K, V> = dyn Fn(Vec<K>) -> BoxFuture<'static, StoreResult<Vec<V>>> + Send + Sync;

/// Runs look-ups of keys `K` with answers `V` in batches (see the module documentation).
pub struct Batcher<K, V> {
    inner: Arc<Inner<K, V>>,
}

struct Inner<K, V> {
    run: Box<BatchFn<K, V>>,
    max_running: usize,
    max_batch: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    queue: VecDeque<Waiting<K, V>>,
    running: usize,
}

struct Waiting<K, V> {
    key: K,
    answer: oneshot::Sender<StoreResult<V>>,
}

impl<K, V> Clone for Batcher<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batcher")
            .field("max_running", &self.inner.max_running)
            .field("max_batch", &self.inner.max_batch)
            .finish_non_exhaustive()
    }
}

impl<K: Send + 'static, V: Send + 'static> Batcher<K, V> {
    /// At most `max_running` batches at once (use the number of connections the backend can
    /// give them), each of at most `max_batch` keys; both at least 1.
    pub fn new(
        max_running: usize,
        max_batch: usize,
        run: impl Fn(Vec<K>) -> BoxFuture<'static, StoreResult<Vec<V>>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                run: Box::new(run),
                max_running: max_running.max(1),
                max_batch: max_batch.max(1),
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    running: 0,
                }),
            }),
        }
    }

    /// The answer for `key`, from the next batch that starts. Needs a tokio runtime.
    pub async fn load(&self, key: K) -> StoreResult<V> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = self.inner.lock();
            state.queue.push_back(Waiting { key, answer });
            let start = state.running < self.inner.max_running;
            if start {
                state.running += 1;
            }
            start
        };
        if start {
            tokio::spawn(Inner::drain(self.inner.clone()));
        }
        answered
            .await
            .unwrap_or_else(|_| Err(batch_failed("the batch ended without an answer")))
    }
}

impl<K: Send + 'static, V: Send + 'static> Inner<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One running batch: query for everything waiting, answer, repeat until nothing waits.
    async fn drain(this: Arc<Self>) {
        // Counts this batch out however it ends, a panic in the query included; a queue left
        // behind by a panic gets a batch of its own.
        let mut running = Running {
            inner: this.clone(),
            done: false,
        };
        loop {
            // Let the tasks already runnable on this worker (requests that have just arrived)
            // run first, so they join this batch instead of waiting a whole round trip for the
            // next one. Alone on its worker the task resumes at once. The figures are in
            // `docs/benchmarks.md`.
            tokio::task::yield_now().await;
            let batch: Vec<Waiting<K, V>> = {
                let mut state = this.lock();
                state.queue.retain(|w| !w.answer.is_closed());
                if state.queue.is_empty() {
                    state.running -= 1;
                    running.done = true;
                    return;
                }
                let n = state.queue.len().min(this.max_batch);
                state.queue.drain(..n).collect()
            };
            let (keys, answers): (Vec<K>, Vec<_>) =
                batch.into_iter().map(|w| (w.key, w.answer)).unzip();
            let expected = keys.len();
            match (this.run)(keys).await {
                Ok(values) if values.len() == expected => {
                    for (answer, value) in answers.into_iter().zip(values) {
                        let _ = answer.send(Ok(value));
                    }
                }
                Ok(values) => {
                    let e = format!("{} answers for {expected} keys", values.len());
                    for answer in answers {
                        let _ = answer.send(Err(StoreError::Corrupt(e.clone())));
                    }
                }
                Err(e) => {
                    let e = Arc::new(e);
                    for answer in answers {
                        let _ = answer.send(Err(share(&e)));
                    }
                }
            }
        }
    }
}

/// Decrements the running count when a batch task ends without reaching the empty queue
/// (a panic, or the runtime shutting down), and restarts draining if keys are waiting.
struct Running<K: Send + 'static, V: Send + 'static> {
    inner: Arc<Inner<K, V>>,
    /// The task counted itself out on the normal path.
    done: bool,
}

impl<K: Send + 'static, V: Send + 'static> Drop for Running<K, V> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let inner = &self.inner;
        let restart = {
            let mut state = inner.lock();
            state.running -= 1;
            let restart = !state.queue.is_empty() && state.running < inner.max_running;
            if restart {
                state.running += 1;
            }
            restart
        };
        if restart {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(Inner::drain(inner.clone()));
            } else {
                // No runtime left: the waiting callers are gone with it.
                let mut state = inner.lock();
                state.running -= 1;
                state.queue.clear();
            }
        }
    }
}

/// The answers of one batch, which a backend may read back in any order, put back in the order
/// of its keys: each key's answer exactly once.
#[derive(Debug)]
pub struct InKeyOrder<V> {
    slots: Vec<Option<V>>,
}

impl<V> InKeyOrder<V> {
    /// Room for the answers of `keys` keys.
    pub fn new(keys: usize) -> Self {
        let mut slots = Vec::with_capacity(keys);
        slots.resize_with(keys, || None);
        Self { slots }
    }

    /// The answer for the key at `index` (0-based); an index out of range or answered twice is
    /// a corrupt answer.
    pub fn put(&mut self, index: usize, answer: V) -> StoreResult<()> {
        match self.slots.get_mut(index) {
            Some(slot @ None) => {
                *slot = Some(answer);
                Ok(())
            }
            Some(Some(_)) => Err(StoreError::Corrupt(format!("batch answer {index} twice"))),
            None => Err(StoreError::Corrupt(format!(
                "batch answer {index} for {} keys",
                self.slots.len()
            ))),
        }
    }

    /// Every answer in key order; a key left without one is a corrupt answer.
    pub fn finish(self) -> StoreResult<Vec<V>> {
        self.slots
            .into_iter()
            .enumerate()
            .map(|(i, a)| a.ok_or_else(|| StoreError::Corrupt(format!("batch answer {i} missing"))))
            .collect()
    }
}

/// One error for every caller of a failed batch.
fn share(e: &Arc<StoreError>) -> StoreError {
    match &**e {
        StoreError::Conflict(what) => StoreError::Conflict(what),
        StoreError::Corrupt(what) => StoreError::Corrupt(what.clone()),
        StoreError::Schema(what) => StoreError::Schema(what.clone()),
        StoreError::Backend(_) => StoreError::Backend(Box::new(Shared(e.clone()))),
    }
}

fn batch_failed(why: &'static str) -> StoreError {
    StoreError::Backend(why.into())
}

/// A batch's backend error, shared by its callers; displays and chains as the original.
#[derive(Debug)]
struct Shared(Arc<StoreError>);

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            StoreError::Backend(source) => fmt::Display::fmt(source, f),
            other => fmt::Display::fmt(other, f),
        }
    }
}

impl std::error::Error for Shared {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &*self.0 {
            StoreError::Backend(source) => source.source(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::FutureExt as _;

    use super::*;

    #[test]
    fn answers_go_back_in_key_order_each_exactly_once() {
        let mut a = InKeyOrder::new(3);
        a.put(2, "c").unwrap();
        a.put(0, "a").unwrap();
        a.put(1, "b").unwrap();
        assert_eq!(a.finish().unwrap(), vec!["a", "b", "c"]);

        let mut twice = InKeyOrder::new(2);
        twice.put(1, 1).unwrap();
        assert!(matches!(twice.put(1, 1), Err(StoreError::Corrupt(_))));
        assert!(matches!(twice.put(2, 1), Err(StoreError::Corrupt(_))));
        assert!(matches!(twice.finish(), Err(StoreError::Corrupt(_))));
        assert!(InKeyOrder::<u8>::new(0).finish().unwrap().is_empty());
    }

    /// The keys of every batch run, in order.
    type Seen = Arc<Mutex<Vec<Vec<u32>>>>;

    /// `b.load(key)` in a task of its own (a caller that can be aborted).
    fn spawn_load(b: &Batcher<u32, u32>, key: u32) -> tokio::task::JoinHandle<StoreResult<u32>> {
        let b = b.clone();
        tokio::spawn(async move { b.load(key).await })
    }

    /// Wait (at most 5 s) until no batch task is counted as running. A batch task counts
    /// itself out when it finds the queue empty, which can be just after its last callers
    /// have their answers.
    async fn all_batches_end<K: Send + 'static, V: Send + 'static>(b: &Batcher<K, V>) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while b.inner.lock().running != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a batch task never ended"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A batcher that answers `k * 10` after `delay`, recording every batch's keys.
    fn times_ten(
        max_running: usize,
        max_batch: usize,
        delay: Duration,
    ) -> (Batcher<u32, u32>, Seen) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let b = Batcher::new(max_running, max_batch, move |keys: Vec<u32>| {
            seen.lock().unwrap().push(keys.clone());
            async move {
                tokio::time::sleep(delay).await;
                Ok(keys.into_iter().map(|k| k * 10).collect())
            }
            .boxed()
        });
        (b, batches)
    }

    #[tokio::test]
    async fn a_lone_caller_gets_its_answer_in_a_batch_of_one() {
        let (b, batches) = times_ten(2, 64, Duration::ZERO);
        assert_eq!(b.load(7).await.unwrap(), 70);
        assert_eq!(b.load(8).await.unwrap(), 80);
        assert_eq!(*batches.lock().unwrap(), vec![vec![7], vec![8]]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_callers_share_batches_and_each_gets_its_own_answer() {
        let (b, batches) = times_ten(2, 16, Duration::from_millis(20));
        let calls: Vec<_> = (0..200u32)
            .map(|k| {
                let b = b.clone();
                tokio::spawn(async move { (k, b.load(k).await.unwrap()) })
            })
            .collect();
        for call in calls {
            let (k, v) = call.await.unwrap();
            assert_eq!(v, k * 10);
        }
        {
            let batches = batches.lock().unwrap();
            let mut keys: Vec<u32> = batches.iter().flatten().copied().collect();
            keys.sort_unstable();
            assert_eq!(keys, (0..200).collect::<Vec<_>>(), "every key exactly once");
            assert!(batches.iter().all(|b| b.len() <= 16), "max_batch holds");
            assert!(
                batches.len() < 200,
                "keys were grouped: {} batches",
                batches.len()
            );
        }
        all_batches_end(&b).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_max_running_batches_at_once() {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (n, m) = (now.clone(), most.clone());
        let b = Batcher::new(3, 1, move |keys: Vec<u32>| {
            let (n, m) = (n.clone(), m.clone());
            async move {
                let running = n.fetch_add(1, Ordering::SeqCst) + 1;
                m.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                Ok(keys)
            }
            .boxed()
        });
        let calls: Vec<_> = (0..30u32).map(|k| spawn_load(&b, k)).collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_cancels_only_its_own_wait() {
        let (b, batches) = times_ten(1, 64, Duration::from_millis(50));
        // The first caller starts a batch and hangs up while its query runs.
        let first = spawn_load(&b, 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
        // These two queue behind it; one of them hangs up before its batch starts.
        let second = spawn_load(&b, 2);
        let third = spawn_load(&b, 3);
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.abort();
        second.abort();
        assert_eq!(third.await.unwrap().unwrap(), 30);
        assert_eq!(
            *batches.lock().unwrap(),
            vec![vec![1], vec![3]],
            "the running query finished; the abandoned key was left out"
        );
    }

    #[tokio::test]
    async fn a_failed_batch_fails_each_of_its_callers_with_the_error() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let b: Batcher<u32, u32> = Batcher::new(1, 8, move |_keys| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(StoreError::backend(std::io::Error::other("disk on fire")))
                } else {
                    Ok(vec![5])
                }
            }
            .boxed()
        });
        let e = b.load(1).await.unwrap_err();
        assert!(matches!(e, StoreError::Backend(_)));
        let source = std::error::Error::source(&e).expect("source").to_string();
        assert_eq!(source, "disk on fire");
        assert_eq!(b.load(1).await.unwrap(), 5, "the next batch runs");
    }

    #[tokio::test]
    async fn a_wrong_number_of_answers_is_corrupt_not_a_mix_up() {
        let b: Batcher<u32, u32> = Batcher::new(1, 8, |_keys| async { Ok(vec![1, 2]) }.boxed());
        assert!(matches!(b.load(1).await, Err(StoreError::Corrupt(_))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_query_fails_its_callers_and_the_queue_moves_on() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let b: Batcher<u32, u32> = Batcher::new(1, 1, move |keys| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                assert!(n != 0, "query panicked");
                Ok(keys)
            }
            .boxed()
        });
        let first = spawn_load(&b, 1);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let second = spawn_load(&b, 2);
        assert!(first.await.unwrap().is_err());
        assert_eq!(second.await.unwrap().unwrap(), 2);
        all_batches_end(&b).await;
    }
}
