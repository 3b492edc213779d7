//! Connection slots: a bound on open connections, each connection's idle clock, and the
//! choice of which connection gives way when the bound is reached.
//!
//! A connection holds a [`Slot`] from accept until it closes. When every slot is taken,
//! the connection that has been idle longest (no request in progress: still in its TLS
//! handshake, or between requests) is told to close and its slot goes to the newcomer at
//! once; only when every connection has a request in progress does the accept loop wait
//! (new connections then queue in the kernel's accept backlog). A client therefore cannot
//! lock the server out by holding idle connections: the apiserver's next connection
//! always gets in, and a held connection costs the attacker its place.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How often a full accept loop, with no idle connection to evict, looks again.
const FULL_RECHECK: Duration = Duration::from_millis(100);

/// One connection's state, shared between its task, its requests and the limiter.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Requests in progress.
    in_flight: AtomicUsize,
    /// Milliseconds after the limiter's epoch when the connection last became idle.
    idle_since_ms: AtomicU64,
    /// Set once the limiter has chosen this connection to give way.
    evicted: AtomicBool,
    /// Wakes the connection's task when it is evicted.
    evict: Notify,
    epoch: Instant,
}

impl ConnState {
    fn new(epoch: Instant) -> ConnState {
        ConnState {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(millis(epoch)),
            evicted: AtomicBool::new(false),
            evict: Notify::new(),
            epoch,
        }
    }

    /// Marks a request as started; the returned guard marks it finished when dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long the connection has had no request in progress (`None` while busy).
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::SeqCst);
        Some(Duration::from_millis(
            millis(self.epoch).saturating_sub(since),
        ))
    }

    /// Resolves once the limiter has evicted this connection.
    pub(crate) async fn evicted(&self) {
        if self.evicted.load(Ordering::SeqCst) {
            return;
        }
        self.evict.notified().await;
    }
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A request in progress on a connection.
pub(crate) struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        let state = &self.0;
        state
            .idle_since_ms
            .store(millis(state.epoch), Ordering::SeqCst);
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The bound on open connections.
#[derive(Debug)]
pub(crate) struct ConnLimiter {
    max: usize,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnState>>>,
    freed: Notify,
}

/// A connection's place under the limit; given back when dropped (or when evicted).
pub(crate) struct Slot {
    id: u64,
    state: Arc<ConnState>,
    limiter: Arc<ConnLimiter>,
}

impl Slot {
    /// The connection's shared state.
    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.state
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.limiter.lock().remove(&self.id).is_some() {
            self.limiter.freed.notify_one();
        }
    }
}

impl ConnLimiter {
    /// At most `max` connections (at least one).
    pub(crate) fn new(max: usize) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            max: max.max(1),
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<ConnState>>> {
        // The map stays consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections holding a slot.
    pub(crate) fn open(&self) -> usize {
        self.lock().len()
    }

    /// A slot for a new connection: a free one, else the longest-idle connection's (that
    /// connection is told to close), else waits until a connection closes or goes idle.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Slot {
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut open = self.lock();
                if open.len() >= self.max
                    && let Some(id) = longest_idle(&open)
                    && let Some(victim) = open.remove(&id)
                {
                    victim.evicted.store(true, Ordering::SeqCst);
                    victim.evict.notify_one();
                    crate::metrics::metrics().connection_closed("evicted");
                }
                if open.len() < self.max {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let state = Arc::new(ConnState::new(self.epoch));
                    open.insert(id, state.clone());
                    return Slot {
                        id,
                        state,
                        limiter: self.clone(),
                    };
                }
            }
            // Every connection has a request in progress: wait for one to close, and look
            // again now and then for one that has gone idle.
            let _ = tokio::time::timeout(FULL_RECHECK, freed).await;
        }
    }
}

fn longest_idle(open: &HashMap<u64, Arc<ConnState>>) -> Option<u64> {
    open.iter()
        .filter_map(|(id, s)| s.idle_for().map(|idle| (idle, *id)))
        .max()
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_limiter_evicts_the_longest_idle_connection() {
        let limiter = ConnLimiter::new(2);
        let first = limiter.acquire().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = limiter.acquire().await;
        assert_eq!(limiter.open(), 2);
        let third = limiter.acquire().await;
        assert_eq!(limiter.open(), 2);
        // The oldest idle one gave way and was told so; the others were not.
        tokio::time::timeout(Duration::from_secs(1), first.state().evicted())
            .await
            .unwrap();
        assert!(!second.state().evicted.load(Ordering::SeqCst));
        assert!(!third.state().evicted.load(Ordering::SeqCst));
        drop(first);
        assert_eq!(limiter.open(), 2, "an evicted slot is not given back twice");
    }

    #[tokio::test]
    async fn busy_connections_are_not_evicted_and_the_newcomer_waits() {
        let limiter = ConnLimiter::new(1);
        let only = limiter.acquire().await;
        let busy = only.state().begin();
        let waiting = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.acquire().await }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "took the slot of a busy connection");
        assert!(!only.state().evicted.load(Ordering::SeqCst));
        // Once the request is done the connection is idle, and gives way.
        drop(busy);
        let next = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(only.state().evicted.load(Ordering::SeqCst));
        drop(next);
        assert_eq!(limiter.open(), 0);
    }

    #[test]
    fn idle_time_counts_from_the_last_finished_request() {
        let limiter = ConnLimiter::new(1);
        let state = Arc::new(ConnState::new(limiter.epoch));
        let busy = state.begin();
        assert_eq!(state.idle_for(), None);
        std::thread::sleep(Duration::from_millis(30));
        drop(busy);
        assert!(state.idle_for().unwrap() < Duration::from_millis(25));
    }
}
