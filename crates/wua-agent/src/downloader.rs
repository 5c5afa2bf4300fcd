//! `IUpdateDownloader`: fetches the content of updates a search found into the content cache
//! (D-5, D-31).
//!
//! A blob is fetched from the update's service at the URL its SHA-256 names, into a partial
//! file apart from the cache (`<state>/cache/partial/`), its length and SHA-256 checked while
//! it streams; only a blob that matched is renamed into the cache, so a partial or corrupt
//! file is never taken for content. Two processes fetching the same blob each write their own
//! partial file and both end with the one good copy. Downloads take no D-8 lock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use wua_fetch::{FetchLimits, Fetcher};
use wua_install::ContentCache;
use wua_store::ServiceKind;
use wua_trust::verify::Source;
use wua_types::{
    ContentEntry, DownloadPriority, DownloadResult, HResult, OperationResultCode, Update, UpdateCollection,
    UpdateDownloadResult, WuError, lock_unpoisoned,
};

use crate::session::UpdateSession;

/// `IUpdateDownloader`. Clones share their settings.
#[derive(Clone, Debug)]
pub struct UpdateDownloader {
    session: UpdateSession,
    settings: Arc<Mutex<Settings>>,
}

#[derive(Clone, Debug)]
struct Settings {
    updates: UpdateCollection,
    is_forced: bool,
    priority: DownloadPriority,
    client_application_id: String,
}

impl UpdateDownloader {
    pub(crate) fn new(session: UpdateSession) -> Self {
        let settings = Settings {
            updates: UpdateCollection::new(),
            is_forced: false,
            priority: DownloadPriority::Normal,
            client_application_id: session.client_application_id(),
        };
        UpdateDownloader { session, settings: Arc::new(Mutex::new(settings)) }
    }

    fn settings(&self) -> Settings {
        lock_unpoisoned(&self.settings).clone()
    }

    /// `Updates`.
    pub fn updates(&self) -> UpdateCollection {
        self.settings().updates
    }

    /// Sets `Updates`.
    pub fn set_updates(&self, updates: UpdateCollection) {
        lock_unpoisoned(&self.settings).updates = updates;
    }

    /// `IsForced` (default false, D-34): fetch again what the cache already holds.
    pub fn is_forced(&self) -> bool {
        self.settings().is_forced
    }

    /// Sets `IsForced`.
    pub fn set_is_forced(&self, forced: bool) {
        lock_unpoisoned(&self.settings).is_forced = forced;
    }

    /// `Priority` (default `Normal`, D-34).
    pub fn priority(&self) -> DownloadPriority {
        self.settings().priority
    }

    /// Sets `Priority`.
    pub fn set_priority(&self, priority: DownloadPriority) {
        lock_unpoisoned(&self.settings).priority = priority;
    }

    /// `ClientApplicationID`.
    pub fn client_application_id(&self) -> String {
        self.settings().client_application_id
    }

    /// Sets `ClientApplicationID`.
    pub fn set_client_application_id(&self, id: impl Into<String>) {
        lock_unpoisoned(&self.settings).client_application_id = id.into();
    }

    /// `Download`: fetches the content of each update into the cache, one outcome per update
    /// (D-1): `Succeeded`, with `WU_S_ALREADY_DOWNLOADED` when the cache held it all and
    /// `is_forced` is false (D-5), or `Failed` with the fetch's code (`WU_E_PT_*`,
    /// `WU_E_NO_CONNECTION`, `WU_E_DM_INCORRECTFILEHASH`). No updates -> `WU_E_NO_UPDATE`.
    pub fn download(&self) -> Result<DownloadResult, WuError> {
        let settings = self.settings();
        if settings.updates.is_empty() {
            return Err(WuError::new(HResult::WU_E_NO_UPDATE, "the downloader has no updates to download"));
        }
        self.session.require_writable("download updates")?;
        let cache = ContentCache::new(self.session.state_dir());
        cache.ensure()?;
        let partial = self.session.state_dir().join("cache").join("partial");
        fs_err::create_dir_all(&partial).map_err(|e| cache_error(&partial, e))?;
        let mut results = Vec::with_capacity(settings.updates.count());
        for update in settings.updates.iter() {
            let outcome = self.one(update, &cache, &partial, settings.is_forced);
            results.push(outcome.unwrap_or_else(|e| UpdateDownloadResult {
                result_code: OperationResultCode::Failed,
                hresult: e.hresult,
                message: e.message,
            }));
        }
        Ok(DownloadResult::aggregate(results, false))
    }

    fn one(
        &self,
        update: &Update,
        cache: &ContentCache,
        partial: &Path,
        is_forced: bool,
    ) -> Result<UpdateDownloadResult, WuError> {
        let doc = update.document();
        let missing: Vec<&ContentEntry> =
            doc.content.iter().filter(|c| is_forced || !cache.contains(&c.sha256, c.size)).collect();
        if missing.is_empty() {
            return Ok(UpdateDownloadResult {
                result_code: OperationResultCode::Succeeded,
                hresult: HResult::WU_S_ALREADY_DOWNLOADED,
                message: String::new(),
            });
        }
        let service_id = update.service_id().ok_or_else(|| {
            WuError::new(
                HResult::WU_E_DM_NOTDOWNLOADED,
                format!("update {} comes from no service; its content can only be imported", doc.update_id),
            )
        })?;
        let service = self.session.service(service_id)?.ok_or_else(|| {
            WuError::new(HResult::WU_E_UNKNOWN_SERVICE, format!("service {service_id} is no longer registered"))
        })?;
        if service.kind == ServiceKind::ScanPackage {
            return Err(WuError::new(
                HResult::WU_E_DM_NOTDOWNLOADED,
                format!("service {} is a scan package: it holds no content", service.name),
            ));
        }
        let source = Source::parse(&service.source).map_err(WuError::from)?;
        let ca: Vec<PathBuf> = service.ca_bundle.iter().map(PathBuf::from).collect();
        crate::runtime::block_on(async {
            let fetcher = Fetcher::new(download_limits(), &ca).map_err(|e| WuError::new(e.hresult(), e.to_string()))?;
            for entry in missing {
                fetch_blob(&fetcher, &source, entry, cache, partial).await?;
            }
            Ok::<_, WuError>(())
        })??;
        Ok(UpdateDownloadResult {
            result_code: OperationResultCode::Succeeded,
            hresult: HResult::S_OK,
            message: String::new(),
        })
    }
}

/// The bounds of a download: the minimum rate and retries of a refresh, and no total deadline
/// worth the name (a large blob on a slow link takes what it takes while it keeps moving).
fn download_limits() -> FetchLimits {
    FetchLimits { total_deadline: std::time::Duration::from_secs(24 * 3600), ..FetchLimits::default() }
}

/// Fetches one blob into a partial file of this process, checking its length and SHA-256 as
/// it streams (D-31), then renames it into the cache.
async fn fetch_blob(
    fetcher: &Fetcher,
    source: &Source,
    entry: &ContentEntry,
    cache: &ContentCache,
    partial: &Path,
) -> Result<(), WuError> {
    use sha2::Digest;
    let url = source.blob_url(&entry.sha256).map_err(WuError::from)?;
    let path = partial.join(format!("{}.{}", entry.sha256, std::process::id()));
    let fetch_error = |e: wua_fetch::FetchError| WuError::new(e.hresult(), e.to_string());
    let result = async {
        let mut stream = fetcher.stream(&url, entry.size).await.map_err(fetch_error)?;
        let mut file = std::fs::File::create(&path).map_err(|e| cache_error(&path, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut got = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(fetch_error)?;
            got += chunk.len() as u64;
            hasher.update(&chunk);
            file.write_all(&chunk).map_err(|e| cache_error(&path, e))?;
        }
        let sha = hex::encode(hasher.finalize());
        if got != entry.size || sha != entry.sha256 {
            return Err(WuError::new(
                HResult::WU_E_DM_INCORRECTFILEHASH,
                format!(
                    "blob {} from {url}: {got} bytes with SHA-256 {sha}, {} bytes listed",
                    entry.sha256, entry.size
                ),
            ));
        }
        cache.adopt(&path, &entry.sha256).map_err(WuError::from)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

fn cache_error(path: &Path, e: std::io::Error) -> WuError {
    WuError::new(HResult::WUA_E_CACHE_IO, format!("{}: {e}", path.display()))
}

impl UpdateSession {
    /// `CreateUpdateDownloader`.
    pub fn create_update_downloader(&self) -> UpdateDownloader {
        UpdateDownloader::new(self.clone())
    }
}
