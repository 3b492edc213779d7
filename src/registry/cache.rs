//! Bounded caches: tag→digest for a short TTL, digest→evidence for longer (weighted by
//! bytes), failures briefly. Concurrent lookups of one key share one computation.

use super::config::RegistryConfig;
use super::error::RegistryError;
use super::types::{Discovery, PlatformDigest, Resolved};
use moka::future::Cache;
use std::future::Future;
use std::sync::Arc;

pub(crate) struct Caches {
    tags: Cache<String, Resolved>,
    discoveries: Cache<String, Arc<Discovery>>,
    platforms: Cache<String, Arc<Vec<PlatformDigest>>>,
    failures: Cache<String, RegistryError>,
}

impl Caches {
    pub(crate) fn new(cfg: &RegistryConfig) -> Caches {
        let entries = cfg.cache_max_entries.max(1);
        Caches {
            tags: Cache::builder()
                .max_capacity(entries)
                .time_to_live(cfg.tag_cache_ttl)
                .build(),
            discoveries: Cache::builder()
                .max_capacity(cfg.cache_max_bytes.max(1))
                .weigher(|_k: &String, v: &Arc<Discovery>| {
                    u32::try_from(v.weight()).unwrap_or(u32::MAX)
                })
                .time_to_live(cfg.evidence_cache_ttl)
                .build(),
            platforms: Cache::builder()
                .max_capacity(entries)
                .time_to_live(cfg.evidence_cache_ttl)
                .build(),
            failures: Cache::builder()
                .max_capacity(entries)
                .time_to_live(cfg.failure_cache_ttl)
                .build(),
        }
    }

    /// The cached value for `key`, or the result of the future `init` makes, run once
    /// for all concurrent callers; failures are remembered briefly. `init` is only
    /// called on a miss: the lookup future is large (the whole HTTP exchange), and
    /// building and boxing it for every hit was a fifth of a warm review's CPU.
    async fn get_or<V, F, Fut>(
        &self,
        cache: &Cache<String, V>,
        key: String,
        init: F,
    ) -> Result<V, RegistryError>
    where
        V: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, RegistryError>>,
    {
        // The key's prefix names the cache (`tag|…`, `discover|…`, `platforms|…`).
        let name = key.split('|').next().unwrap_or("other");
        if let Some(err) = self.failures.get(&key).await {
            return Err(err);
        }
        if let Some(v) = cache.get(&key).await {
            crate::metrics::metrics().cache_request(name, "hit");
            return Ok(v);
        }
        // A miss is a call whose own `init` ran; a coalesced waiter counts as a hit.
        let missed = std::sync::atomic::AtomicBool::new(false);
        // Boxed: the lookup future is large in debug builds and nests deeply.
        let init = Box::pin(async {
            missed.store(true, std::sync::atomic::Ordering::Relaxed);
            init().await
        });
        let answer = cache.try_get_with(key.clone(), init).await;
        let hit = !missed.load(std::sync::atomic::Ordering::Relaxed);
        crate::metrics::metrics().cache_request(name, if hit { "hit" } else { "miss" });
        match answer {
            Ok(v) => Ok(v),
            Err(err) => {
                let err = (*err).clone();
                if !matches!(err, RegistryError::Config(_)) {
                    self.failures.insert(key, err.clone()).await;
                }
                Err(err)
            }
        }
    }

    pub(crate) async fn tag<F, Fut>(&self, key: String, init: F) -> Result<Resolved, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Resolved, RegistryError>>,
    {
        self.get_or(&self.tags, format!("tag|{key}"), init).await
    }

    pub(crate) async fn discovery<F, Fut>(
        &self,
        key: String,
        init: F,
    ) -> Result<Arc<Discovery>, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Discovery>, RegistryError>>,
    {
        self.get_or(&self.discoveries, format!("discover|{key}"), init)
            .await
    }

    pub(crate) async fn platforms<F, Fut>(
        &self,
        key: String,
        init: F,
    ) -> Result<Arc<Vec<PlatformDigest>>, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Arc<Vec<PlatformDigest>>, RegistryError>>,
    {
        self.get_or(&self.platforms, format!("platforms|{key}"), init)
            .await
    }

    /// Forgets everything (tests, and after pushing new evidence).
    pub(crate) fn clear(&self) {
        self.tags.invalidate_all();
        self.discoveries.invalidate_all();
        self.platforms.invalidate_all();
        self.failures.invalidate_all();
    }

    /// Forgets what is known about one digest (after attaching evidence to it).
    pub(crate) async fn forget_digest(&self, key: &str) {
        self.discoveries
            .invalidate(&format!("discover|{key}"))
            .await;
        self.failures.invalidate(&format!("discover|{key}")).await;
    }
}
