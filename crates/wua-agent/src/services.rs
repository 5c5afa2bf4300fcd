//! `IUpdateServiceManager`: the update services a session searches, and the refresh of a
//! service's catalog into its index.
//!
//! A service is a signed repository (an `http(s)://` URL or a directory) with the `root.json`
//! it is trusted by and an optional CA bundle, an offline export file
//! (`add_scan_package_service`), or a managed server (`add_managed_server`, [`crate::managed`]),
//! whose repository is read as a repository's is. Each keeps its trusted TUF state and cache under
//! `<state>/services/<id>/`; services added with `NonVolatileService` are recorded in the
//! datastore, the others last as long as the session. A refresh verifies the service's
//! repository (`wua_trust::verify`), reads only the packs whose hash the index does not have
//! yet, and writes them into the service's index in one transaction, with the snapshot
//! version it reflects and, for a managed server, the signed approvals of the computer's group
//! (D-27).

use std::path::{Path, PathBuf};

use wua_store::{IndexApproval, ManagedServerRecord, PackEntries, ServiceKind, ServiceRecord};
use wua_trust::verify::{self, RefreshOptions, Source};
use wua_types::{HResult, ServerSelection, WuError, lock_unpoisoned};

use crate::session::UpdateSession;

/// `IUpdateService`, as wua knows services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateService {
    /// `ServiceID`.
    pub service_id: String,
    /// `Name`.
    pub name: String,
    /// `ServiceUrl`: the repository's URL or directory, or the export file.
    pub service_url: String,
    /// `IsScanPackageService`.
    pub is_scan_package_service: bool,
    /// `IsManaged`: a managed update server (`wua server`).
    pub is_managed: bool,
    /// `IsDefaultAUService`: the service marked default.
    pub is_default_au_service: bool,
    /// Recorded in the datastore (`NonVolatileService`), not only for this session.
    pub non_volatile: bool,
    /// The CA bundle its HTTPS server is verified with, besides the platform's roots.
    pub ca_bundle: Option<PathBuf>,
    /// A managed server's id for this computer.
    pub computer_id: Option<String>,
    /// A managed server's group for this computer, as last heard.
    pub group: Option<String>,
}

impl UpdateService {
    /// The service of `record`; a managed server's `service_url` is the server's URL (its
    /// repository is `{server_url}/repo`).
    pub(crate) fn of(record: &ServiceRecord, non_volatile: bool, managed: Option<&ManagedServerRecord>) -> Self {
        UpdateService {
            service_id: record.service_id.clone(),
            name: record.name.clone(),
            service_url: managed.map_or_else(|| record.source.clone(), |m| m.server_url.clone()),
            is_scan_package_service: record.kind == ServiceKind::ScanPackage,
            is_managed: record.kind == ServiceKind::ManagedServer,
            is_default_au_service: record.is_default,
            non_volatile,
            ca_bundle: record.ca_bundle.as_ref().map(PathBuf::from),
            computer_id: managed.map(|m| m.computer_id.clone()),
            group: managed.map(|m| m.group.clone()),
        }
    }
}

/// `UpdateServiceOption` flags: `NonVolatileService` (1) records the service in the datastore.
pub const NON_VOLATILE_SERVICE: i32 = wua_types::UpdateServiceOption::NonVolatileService as i32;

/// `IUpdateServiceManager`.
#[derive(Clone, Debug)]
pub struct UpdateServiceManager {
    pub(crate) session: UpdateSession,
}

impl UpdateServiceManager {
    pub(crate) fn new(session: UpdateSession) -> Self {
        UpdateServiceManager { session }
    }

    /// `Services`: the recorded services, then this session's, in the order they were added.
    pub fn services(&self) -> Result<Vec<UpdateService>, WuError> {
        let mut out: Vec<UpdateService> = {
            let mut store = self.session.store();
            let tx = store.read()?;
            let managed = tx.managed_servers()?;
            let of =
                |r: &ServiceRecord| UpdateService::of(r, true, managed.iter().find(|m| m.service_id == r.service_id));
            tx.services()?.iter().map(of).collect()
        };
        out.extend(lock_unpoisoned(&self.session.inner.services).iter().map(|r| UpdateService::of(r, false, None)));
        Ok(out)
    }

    /// Adds a signed repository as a service: `source` is an `http(s)://` URL or a directory,
    /// `trusted_root` the `root.json` it is trusted by (the anchor of its trusted state),
    /// `ca_bundle` a PEM file of root certificates for its HTTPS server. `flags` as
    /// `AddScanPackageService`'s (`NON_VOLATILE_SERVICE` records it). Nothing is fetched yet.
    pub fn add_repository_service(
        &self,
        name: &str,
        source: &str,
        trusted_root: &[u8],
        ca_bundle: Option<&Path>,
        flags: i32,
    ) -> Result<UpdateService, WuError> {
        Source::parse(source).map_err(|e| invalid(format!("service source {source}: {e}")))?;
        self.add(name, ServiceKind::Repository, source, trusted_root, ca_bundle, flags)
    }

    /// `AddScanPackageService`: an offline export file (`wua repo export`) as a service,
    /// trusted by `trusted_root`; searched with no network. Nothing is read yet.
    pub fn add_scan_package_service(
        &self,
        name: &str,
        scan_file: &Path,
        trusted_root: &[u8],
        flags: i32,
    ) -> Result<UpdateService, WuError> {
        let file = fs_err::canonicalize(scan_file).map_err(|e| invalid(format!("scan package: {e}")))?;
        if !file.is_file() {
            return Err(invalid(format!("scan package {} is not a file", file.display())));
        }
        self.add(name, ServiceKind::ScanPackage, &file.to_string_lossy(), trusted_root, None, flags)
    }

    fn add(
        &self,
        name: &str,
        kind: ServiceKind,
        source: &str,
        trusted_root: &[u8],
        ca_bundle: Option<&Path>,
        flags: i32,
    ) -> Result<UpdateService, WuError> {
        if flags & !NON_VOLATILE_SERVICE != 0 {
            return Err(invalid(format!("unknown service option flags {flags:#x}")));
        }
        check_root(trusted_root)?;
        let ca_bundle = match ca_bundle {
            Some(path) => {
                let path = fs_err::canonicalize(path).map_err(|e| invalid(format!("CA bundle: {e}")))?;
                Some(path.to_string_lossy().into_owned())
            }
            None => None,
        };
        let record = ServiceRecord {
            service_id: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
            kind,
            source: source.to_owned(),
            trusted_root: trusted_root.to_vec(),
            ca_bundle,
            is_default: false,
            added_at: wua_store::now_rfc3339(),
        };
        let non_volatile = flags & NON_VOLATILE_SERVICE != 0;
        if non_volatile {
            self.session.require_writable("add a service")?;
            self.session.store().transact(|tx| tx.put_service(&record))?;
        } else {
            lock_unpoisoned(&self.session.inner.services).push(record.clone());
        }
        Ok(UpdateService::of(&record, non_volatile, None))
    }

    /// `RemoveService`: the service, its index, its trusted state and cache. An unknown id ->
    /// `WU_E_UNKNOWN_SERVICE`.
    pub fn remove_service(&self, service_id: &str) -> Result<(), WuError> {
        let volatile = {
            let mut services = lock_unpoisoned(&self.session.inner.services);
            let before = services.len();
            services.retain(|s| s.service_id != service_id);
            services.len() != before
        };
        if !volatile {
            self.session.require_writable("remove a service")?;
            if !self.session.store().transact(|tx| tx.remove_service(service_id))? {
                return Err(unknown(service_id));
            }
        }
        remove_state(&self.session.service_dir(service_id))
    }

    /// Marks a recorded service as the default (`IsDefaultAUService`), unmarking the others.
    pub fn set_default(&self, service_id: &str) -> Result<(), WuError> {
        self.session.require_writable("mark the default service")?;
        let mut record = self.session.store().read()?.service(service_id)?.ok_or_else(|| unknown(service_id))?;
        record.is_default = true;
        Ok(self.session.store().transact(|tx| tx.put_service(&record))?)
    }

    /// Clears a service's trusted state, cache and index (what `WUA_E_TRUST_IDENTITY` asks for
    /// after a repository was re-created): the next refresh trusts the root the service was
    /// added with again, as on first use. A managed server keeps its registration and token.
    pub fn reset_service(&self, service_id: &str) -> Result<(), WuError> {
        self.session.service(service_id)?.ok_or_else(|| unknown(service_id))?;
        self.session.require_writable("reset a service")?;
        self.session.store().transact(|tx| tx.clear_index(service_id))?;
        remove_state_but_token(&self.session.service_dir(service_id))
    }
}

impl UpdateSession {
    /// `CreateUpdateServiceManager`.
    pub fn create_update_service_manager(&self) -> UpdateServiceManager {
        UpdateServiceManager::new(self.clone())
    }

    /// Where a service keeps its trusted TUF state and cache.
    pub(crate) fn service_dir(&self, service_id: &str) -> PathBuf {
        self.inner.state_dir.join("services").join(service_id)
    }

    /// A service by id, recorded or of this session.
    pub(crate) fn service(&self, service_id: &str) -> Result<Option<ServiceRecord>, WuError> {
        if let Some(s) = lock_unpoisoned(&self.inner.services).iter().find(|s| s.service_id == service_id) {
            return Ok(Some(s.clone()));
        }
        Ok(self.store().read()?.service(service_id)?)
    }

    /// The service a search or download uses (reference, service manager): `Default` -> the
    /// managed server when the agent is registered with one (as WUA under a WSUS policy), else
    /// the service marked default, else the only one; `WindowsUpdate` -> the service marked
    /// default, else the only one, among services that are not managed; `ManagedServer` -> the
    /// managed server; `Others` -> `service_id`.
    pub(crate) fn select_service(
        &self,
        selection: ServerSelection,
        service_id: &str,
    ) -> Result<(ServiceRecord, ServerSelection), WuError> {
        let mut all = self.store().read()?.services()?;
        all.extend(lock_unpoisoned(&self.inner.services).iter().cloned());
        let managed = all.iter().find(|s| s.kind == ServiceKind::ManagedServer).cloned();
        let pick = |all: Vec<ServiceRecord>| -> Option<ServiceRecord> {
            if let Some(d) = all.iter().find(|s| s.is_default) {
                return Some(d.clone());
            }
            (all.len() == 1).then(|| all.into_iter().next()).flatten()
        };
        let none = |what: &str| {
            WuError::new(
                HResult::WU_E_NO_SERVICE,
                format!("no service for {what}: add one (`wua service add`), mark one default, or name one"),
            )
        };
        match selection {
            ServerSelection::Default => managed
                .or_else(|| pick(all))
                .map(|s| (s, selection))
                .ok_or_else(|| none(&format!("server selection {selection}"))),
            ServerSelection::WindowsUpdate => {
                let unmanaged = all.into_iter().filter(|s| s.kind != ServiceKind::ManagedServer).collect();
                pick(unmanaged).map(|s| (s, selection)).ok_or_else(|| none(&format!("server selection {selection}")))
            }
            ServerSelection::ManagedServer => {
                managed.map(|s| (s, selection)).ok_or_else(crate::managed::no_managed_server)
            }
            ServerSelection::Others => {
                if service_id.is_empty() {
                    return Err(WuError::new(HResult::E_INVALIDARG, "server selection Others needs a service id"));
                }
                let found = all.into_iter().find(|s| s.service_id == service_id);
                found.map(|s| (s, selection)).ok_or_else(|| unknown(service_id))
            }
        }
    }

    /// Refreshes a service's verified catalog into its index (D-29): verifies its repository,
    /// reads the packs whose hash the index lacks, and writes what changed in one transaction.
    /// A failed refresh changes neither the trusted state nor the index, and a refresh that
    /// ends after another one indexed newer metadata leaves that index as it is. Returns the
    /// snapshot version this refresh verified.
    pub(crate) fn refresh_service(&self, service: &ServiceRecord) -> Result<u64, WuError> {
        self.require_writable("refresh a service's catalog")?;
        let started = std::time::Instant::now();
        let dir = self.service_dir(&service.service_id);
        let known = self.store().read()?.index_packs(&service.service_id)?;
        let options = RefreshOptions {
            ca_bundles: service.ca_bundle.iter().map(PathBuf::from).collect(),
            known_packs: known,
            ..Default::default()
        };
        let refreshed = crate::runtime::block_on(async {
            match service.kind {
                ServiceKind::Repository | ServiceKind::ManagedServer => {
                    let source = Source::parse(&service.source)?;
                    verify::refresh_with(&service.trusted_root, &dir, &source, &options).await
                }
                ServiceKind::ScanPackage => {
                    verify::refresh_offline_with(&service.trusted_root, &dir, Path::new(&service.source), &options)
                        .await
                }
            }
        })?
        .map_err(WuError::from)?;
        wua_fs::crash_point("service refresh: verified, not yet indexed");
        let id = &service.service_id;
        self.store().transact(|tx| {
            // Another refresh (another process) may have indexed newer metadata since this one
            // read the index: that index stays; an older one is never written over it.
            if tx.index_version(id)?.is_some_and(|v| v > refreshed.snapshot_version) {
                return Ok(());
            }
            let indexed = tx.index_packs(id)?;
            for pack in &refreshed.packs {
                if let Some(entries) = &pack.entries {
                    let entries = PackEntries {
                        documents: entries.documents.clone(),
                        declined: entries.declined.clone(),
                        warnings: entries.warnings.clone(),
                    };
                    tx.put_index_pack(id, &pack.name, &pack.sha256, &entries)?;
                }
            }
            for gone in indexed.keys().filter(|k| !refreshed.packs.iter().any(|p| &p.name == *k)) {
                tx.remove_index_pack(id, gone)?;
            }
            // D-27: a managed server's group picks its signed approvals; no approval data from
            // the server's API is used, only what the approvals role signed.
            if service.kind == ServiceKind::ManagedServer {
                if let Some(managed) = tx.managed_server(id)? {
                    let approvals: Vec<IndexApproval> = refreshed
                        .approvals
                        .get(&managed.group)
                        .into_iter()
                        .flatten()
                        .map(|a| IndexApproval {
                            update_id: a.update_id.clone(),
                            action: a.action,
                            deadline: a.deadline.clone(),
                        })
                        .collect();
                    tx.put_index_approvals(id, &managed.group, &approvals)?;
                }
            }
            tx.set_index_version(id, refreshed.snapshot_version)
        })?;
        tracing::debug!(
            service = %service.service_id,
            snapshot = refreshed.snapshot_version,
            packs = refreshed.packs.len(),
            packs_fetched = refreshed.packs.iter().filter(|p| p.entries.is_some()).count(),
            ms = started.elapsed().as_millis() as u64,
            "refresh: the service's catalog verified and indexed"
        );
        Ok(refreshed.snapshot_version)
    }
}

pub(crate) fn check_root(bytes: &[u8]) -> Result<(), WuError> {
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("the trusted root is not JSON: {e}")))?;
    if doc["signed"]["_type"] != "root" || !doc["signed"]["version"].is_u64() {
        return Err(invalid("the trusted root is not a TUF root (signed._type \"root\" with a version)"));
    }
    Ok(())
}

/// Removes a service's trusted state and cache but keeps its token, if it has one (a reset
/// does not undo a registration).
fn remove_state_but_token(dir: &Path) -> Result<(), WuError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(WuError::new(HResult::WUA_E_STATE_DIR, format!("{}: {e}", dir.display()))),
    };
    let mut kept = false;
    for entry in entries {
        let entry = entry.map_err(|e| WuError::new(HResult::WUA_E_STATE_DIR, format!("{}: {e}", dir.display())))?;
        if entry.file_name() == crate::token::TOKEN_FILE {
            kept = true;
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        match removed {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(WuError::new(HResult::WUA_E_STATE_DIR, format!("{}: {e}", path.display()))),
        }
    }
    if kept { Ok(()) } else { remove_state(dir) }
}

fn remove_state(dir: &Path) -> Result<(), WuError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(WuError::new(HResult::WUA_E_STATE_DIR, format!("{}: {e}", dir.display()))),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> WuError {
    WuError::new(HResult::E_INVALIDARG, message)
}

pub(crate) fn unknown(service_id: &str) -> WuError {
    WuError::new(HResult::WU_E_UNKNOWN_SERVICE, format!("no service {service_id} is registered"))
}
