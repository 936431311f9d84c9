//! [`LocalAccount`]: the local provider behind the [`Provider`] trait. It owns the account's parse
//! cache: loaded from the account's `AccountState` blob on the first fetch, saved back when a fetch
//! changed it, and (when opened with `keep_in_memory`, as the daemon does) kept decoded between
//! fetches so an unchanged vdir costs one stat per file. File work runs on the blocking pool.
use super::{FileCache, LocalProvider, LocalSettings};
use crate::providers::{
    BoxFuture, NewSeries, OccurrenceWrite, OpenContext, Progress, Provider, ProviderError,
    SeriesWrite, Snapshot, Window, WriteOutcome,
};
use crate::store::AccountState;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use tracing::{debug, info, warn};

/// The blob key of the parse cache.
const CACHE_KEY: &str = "local-file-cache";

/// A local account: a vdir read and written through [`LocalProvider`].
pub struct LocalAccount {
    inner: Arc<Inner>,
}

struct Inner {
    provider: LocalProvider,
    settings: LocalSettings,
    state: AccountState,
    keep_in_memory: bool,
    /// The decoded parse cache between fetches (`keep_in_memory`), else `None`.
    cache: Mutex<Option<FileCache>>,
    default_tz: chrono_tz::Tz,
}

impl LocalAccount {
    pub fn open(name: &str, settings: &LocalSettings, ctx: OpenContext) -> LocalAccount {
        LocalAccount {
            inner: Arc::new(Inner {
                provider: LocalProvider::new(name, settings.path.clone(), ctx.default_tz)
                    .with_owners(&settings.owners),
                settings: settings.clone(),
                state: ctx.state,
                keep_in_memory: ctx.keep_in_memory,
                cache: Mutex::new(None),
                default_tz: ctx.default_tz,
            }),
        }
    }

    /// Run blocking file work on the blocking pool; a panic there is an error of this account.
    fn blocking<T: Send + 'static>(
        &self,
        what: &'static str,
        f: impl FnOnce(&Inner) -> Result<T, ProviderError> + Send + 'static,
    ) -> BoxFuture<'_, Result<T, ProviderError>> {
        let inner = self.inner.clone();
        Box::pin(async move {
            let account = inner.provider.account().to_string();
            match tokio::task::spawn_blocking(move || f(&inner)).await {
                Ok(r) => r,
                Err(e) => Err(ProviderError::Unavailable {
                    what: format!("account {account}"),
                    reason: format!("the {what} task failed: {e}"),
                }),
            }
        })
    }
}

impl Inner {
    fn fetch(&self, window: Window) -> Result<Snapshot, ProviderError> {
        let t = std::time::Instant::now();
        let account = self.provider.account();
        let mut slot = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (mut cache, had_cache) = match slot.take() {
            Some(c) => (c, true),
            None => self.load_cache(),
        };
        let loaded_ms = t.elapsed().as_millis() as u64;
        let result = self.provider.fetch(window, &mut cache);
        let fetched_ms = t.elapsed().as_millis() as u64;
        if result.is_ok()
            && (cache.last_fetch_changed() || !had_cache)
            && let Err(e) = self.state.write_blob(CACHE_KEY, &cache.to_bytes())
        {
            warn!(account, error = %e, "cannot save the file cache");
        }
        debug!(
            account,
            rss_mb = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map_or(0, |pages| pages * 4096 / (1024 * 1024)),
            cache_load_ms = loaded_ms,
            fetch_ms = fetched_ms - loaded_ms,
            save_ms = t.elapsed().as_millis() as u64 - fetched_ms,
            files_read = cache.last_fetch_reads(),
            "local fetch"
        );
        if self.keep_in_memory {
            *slot = Some(cache);
        }
        result
    }

    /// The persisted cache, and whether there was one.
    fn load_cache(&self) -> (FileCache, bool) {
        match self.state.read_blob(CACHE_KEY) {
            Ok(Some(bytes)) => (FileCache::from_bytes(&bytes), true),
            Ok(None) => (FileCache::default(), false),
            Err(e) => {
                warn!(account = self.provider.account(), error = %e, "cannot read the file cache; reading every file");
                (FileCache::default(), false)
            }
        }
    }
}

impl Provider for LocalAccount {
    fn account(&self) -> &str {
        self.inner.provider.account()
    }

    fn writes_notify_attendees(&self) -> bool {
        false
    }

    fn prepare(&self, now: DateTime<Utc>) -> BoxFuture<'_, Result<Option<String>, ProviderError>> {
        self.blocking("example", move |inner| {
            if !inner.settings.example {
                return Ok(None);
            }
            let path = &inner.settings.path;
            let tz = inner.default_tz;
            let today = now.with_timezone(&tz).date_naive();
            match crate::example::ensure(path, today, tz) {
                Ok(true) => {
                    info!(account = inner.provider.account(), path = %path.display(), "generated the example organisation");
                    Ok(Some(format!(
                        "generated the example organisation in {}",
                        path.display()
                    )))
                }
                Ok(false) => Ok(None),
                Err(e) => Err(ProviderError::Io {
                    what: format!("the example calendars in {}", path.display()),
                    source: e,
                }),
            }
        })
    }

    fn fetch<'a>(
        &'a self,
        window: Window,
        progress: &'a Progress,
    ) -> BoxFuture<'a, Result<Snapshot, ProviderError>> {
        progress.add_calendars(1);
        let fut = self.blocking("fetch", move |inner| inner.fetch(window));
        Box::pin(async move {
            let r = fut.await;
            progress.calendar_done();
            r
        })
    }

    fn write_occurrence<'a>(
        &'a self,
        w: &'a OccurrenceWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        let w = w.clone();
        self.blocking("write", move |inner| inner.provider.write_occurrence(&w))
    }

    fn write_series<'a>(
        &'a self,
        w: &'a SeriesWrite,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        let w = w.clone();
        self.blocking("write", move |inner| inner.provider.write_series(&w))
    }

    fn create_series<'a>(
        &'a self,
        s: &'a NewSeries,
    ) -> BoxFuture<'a, Result<WriteOutcome, ProviderError>> {
        let s = s.clone();
        self.blocking("create", move |inner| inner.provider.create_series(&s))
    }
}
