//! Update services and the per-service index of their catalogs.
//!
//! A service is a signed repository or an offline export the agent searches. Its index holds
//! what the verified packs of its catalog say, pack by pack (a pack is replaced whole when its
//! hash changes, removed when it is no longer listed), and the snapshot version it reflects;
//! it is kept apart from `update_documents`, which holds only what this machine imported or
//! installed. A managed-server service's index also holds the signed approvals of the
//! computer's group (D-27), replaced whole at each refresh.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, params};
use wua_types::UpdateDocument;
use wua_types::api::ApprovalAction;

use crate::tx::Tx;
use crate::{StoreError, now_rfc3339};

/// What a service reads its catalog from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// A signed repository: an `http(s)://` URL or a directory.
    Repository,
    /// An offline export file (`AddScanPackageService`).
    ScanPackage,
    /// A managed update server (`wua server`): its signed repository at `{server}/repo`, read
    /// as a [`ServiceKind::Repository`] is, plus registration, check-in, approvals for the
    /// computer's group and reports ([`crate::ManagedServerRecord`]).
    ManagedServer,
}

impl ServiceKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Repository => "repository",
            ServiceKind::ScanPackage => "scan_package",
            ServiceKind::ManagedServer => "managed_server",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "repository" => Some(ServiceKind::Repository),
            "scan_package" => Some(ServiceKind::ScanPackage),
            "managed_server" => Some(ServiceKind::ManagedServer),
            _ => None,
        }
    }
}

/// A recorded service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRecord {
    /// Its id (a UUID).
    pub service_id: String,
    /// Its display name.
    pub name: String,
    /// What it reads from.
    pub kind: ServiceKind,
    /// The URL, directory or export file.
    pub source: String,
    /// The root it was added with: the anchor of its trusted state.
    pub trusted_root: Vec<u8>,
    /// A PEM file of root certificates for its HTTPS server, besides the platform's.
    pub ca_bundle: Option<String>,
    /// Marked as the default service.
    pub is_default: bool,
    /// When it was added (RFC 3339).
    pub added_at: String,
}

/// What one pack of a catalog says, as the index keeps it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PackEntries {
    /// Its documents.
    pub documents: Vec<UpdateDocument>,
    /// The revisions it declines.
    pub declined: BTreeSet<(String, i32)>,
    /// Lines that were skipped (D-42).
    pub warnings: Vec<String>,
}

impl Tx<'_> {
    // --- services ---------------------------------------------------------------------------

    /// Records a service (replacing one with its id); marking it default unmarks the others.
    pub fn put_service(&self, service: &ServiceRecord) -> Result<(), StoreError> {
        if service.is_default {
            self.tx.execute("UPDATE services SET is_default = 0", []).map_err(|e| self.err(e))?;
        }
        self.tx
            .execute(
                "INSERT OR REPLACE INTO services
                 (service_id, name, kind, source, trusted_root, ca_bundle, is_default, added_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    service.service_id,
                    service.name,
                    service.kind.as_str(),
                    service.source,
                    service.trusted_root,
                    service.ca_bundle,
                    service.is_default,
                    service.added_at,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes a service, its index and, for a managed server, its registration, the reports
    /// not yet sent and those the server refused; true when it was recorded.
    pub fn remove_service(&self, service_id: &str) -> Result<bool, StoreError> {
        self.clear_index(service_id)?;
        for table in ["managed_servers", "outbox", "dead_letters"] {
            self.tx
                .execute(&format!("DELETE FROM {table} WHERE service_id = ?1"), params![service_id])
                .map_err(|e| self.err(e))?;
        }
        let n = self
            .tx
            .execute("DELETE FROM services WHERE service_id = ?1", params![service_id])
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every recorded service, in the order they were added.
    pub fn services(&self) -> Result<Vec<ServiceRecord>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(
                "SELECT service_id, name, kind, source, trusted_root, ca_bundle, is_default, added_at
                 FROM services ORDER BY added_at, service_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, bool>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (service_id, name, kind, source, trusted_root, ca_bundle, is_default, added_at) =
                row.map_err(|e| self.err(e))?;
            let kind = ServiceKind::parse(&kind)
                .ok_or_else(|| self.corrupt(format!("service {service_id}: kind {kind:?}")))?;
            out.push(ServiceRecord { service_id, name, kind, source, trusted_root, ca_bundle, is_default, added_at });
        }
        Ok(out)
    }

    /// One recorded service.
    pub fn service(&self, service_id: &str) -> Result<Option<ServiceRecord>, StoreError> {
        Ok(self.services()?.into_iter().find(|s| s.service_id == service_id))
    }

    // --- the per-service index --------------------------------------------------------------

    /// The snapshot version the service's index reflects, if it was ever filled.
    pub fn index_version(&self, service_id: &str) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = self
            .tx
            .query_row("SELECT snapshot_version FROM service_index WHERE service_id = ?1", params![service_id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(v.map(|v| v as u64))
    }

    /// Records the snapshot version the service's index now reflects.
    pub fn set_index_version(&self, service_id: &str, snapshot_version: u64) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT OR REPLACE INTO service_index (service_id, snapshot_version, refreshed_at) VALUES (?1, ?2, ?3)",
                params![service_id, snapshot_version as i64, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The packs in the service's index, by name, with their SHA-256.
    pub fn index_packs(&self, service_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let mut stmt =
            self.tx.prepare("SELECT pack, sha256 FROM index_packs WHERE service_id = ?1").map_err(|e| self.err(e))?;
        let rows = stmt.query_map(params![service_id], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Replaces what the index holds of one pack with `entries` (the pack's hash is now
    /// `sha256`).
    pub fn put_index_pack(
        &self,
        service_id: &str,
        pack: &str,
        sha256: &str,
        entries: &PackEntries,
    ) -> Result<(), StoreError> {
        self.remove_index_pack(service_id, pack)?;
        self.tx
            .execute(
                "INSERT INTO index_packs (service_id, pack, sha256) VALUES (?1, ?2, ?3)",
                params![service_id, pack, sha256],
            )
            .map_err(|e| self.err(e))?;
        let mut docs = self
            .tx
            .prepare_cached(
                "INSERT INTO index_documents (service_id, pack, update_id, revision, document) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|e| self.err(e))?;
        for doc in &entries.documents {
            let json = serde_json::to_string(doc).map_err(|e| self.corrupt(e.to_string()))?;
            docs.execute(params![service_id, pack, doc.update_id, doc.revision_number, json])
                .map_err(|e| self.err(e))?;
        }
        let mut declines = self
            .tx
            .prepare_cached(
                "INSERT INTO index_declines (service_id, pack, update_id, revision) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| self.err(e))?;
        for (id, revision) in &entries.declined {
            declines.execute(params![service_id, pack, id, revision]).map_err(|e| self.err(e))?;
        }
        let mut warnings = self
            .tx
            .prepare_cached("INSERT INTO index_warnings (service_id, pack, message) VALUES (?1, ?2, ?3)")
            .map_err(|e| self.err(e))?;
        for message in &entries.warnings {
            warnings.execute(params![service_id, pack, message]).map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Removes what the index holds of one pack.
    pub fn remove_index_pack(&self, service_id: &str, pack: &str) -> Result<(), StoreError> {
        for table in ["index_packs", "index_documents", "index_declines", "index_warnings"] {
            self.tx
                .execute(&format!("DELETE FROM {table} WHERE service_id = ?1 AND pack = ?2"), params![service_id, pack])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// Empties the service's index.
    pub fn clear_index(&self, service_id: &str) -> Result<(), StoreError> {
        for table in
            ["service_index", "index_packs", "index_documents", "index_declines", "index_warnings", "index_approvals"]
        {
            self.tx
                .execute(&format!("DELETE FROM {table} WHERE service_id = ?1"), params![service_id])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// What the service's index offers: the newest revision of each update id that no pack
    /// declines, and the warnings of every pack (D-42).
    pub fn index_offered(&self, service_id: &str) -> Result<(Vec<UpdateDocument>, Vec<String>), StoreError> {
        let mut stmt = self
            .tx
            .prepare(
                "SELECT d.update_id, d.revision, d.document FROM index_documents d
                 WHERE d.service_id = ?1 AND NOT EXISTS (
                     SELECT 1 FROM index_declines x
                     WHERE x.service_id = d.service_id AND x.update_id = d.update_id AND x.revision = d.revision)",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![service_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?, r.get::<_, String>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut newest: BTreeMap<String, (i32, String)> = BTreeMap::new();
        for row in rows {
            let (id, revision, json) = row.map_err(|e| self.err(e))?;
            match newest.get(&id) {
                Some((r, _)) if *r >= revision => {}
                _ => {
                    newest.insert(id, (revision, json));
                }
            }
        }
        let mut docs = Vec::with_capacity(newest.len());
        for (id, (_, json)) in newest {
            docs.push(serde_json::from_str(&json).map_err(|e| self.corrupt(format!("indexed document {id}: {e}")))?);
        }
        let mut stmt = self
            .tx
            .prepare("SELECT message FROM index_warnings WHERE service_id = ?1 ORDER BY pack, rowid")
            .map_err(|e| self.err(e))?;
        let warnings = stmt
            .query_map(params![service_id], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        Ok((docs, warnings))
    }

    /// One revision from the service's index, declined or not (an installed revision stays
    /// visible after a decline).
    pub fn index_document(
        &self,
        service_id: &str,
        update_id: &str,
        revision: i32,
    ) -> Result<Option<UpdateDocument>, StoreError> {
        let json: Option<String> = self
            .tx
            .query_row(
                "SELECT document FROM index_documents WHERE service_id = ?1 AND update_id = ?2 AND revision = ?3",
                params![service_id, update_id, revision],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| self.corrupt(format!("indexed document {update_id}: {e}"))))
            .transpose()
    }

    /// Replaces the approvals the service's index holds with `approvals`, those of `group`
    /// (D-27): what the approvals role signed for the computer's group at this refresh.
    pub fn put_index_approvals(
        &self,
        service_id: &str,
        group: &str,
        approvals: &[IndexApproval],
    ) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM index_approvals WHERE service_id = ?1", params![service_id])
            .map_err(|e| self.err(e))?;
        let mut insert = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO index_approvals (service_id, group_name, update_id, action, deadline)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(|e| self.err(e))?;
        for a in approvals {
            insert
                .execute(params![service_id, group, a.update_id, action_str(a.action), a.deadline])
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    /// The approvals of `group` in the service's index, by update id. Approvals indexed for
    /// another group (the computer moved since the last refresh) are none of this group's.
    pub fn index_approvals(
        &self,
        service_id: &str,
        group: &str,
    ) -> Result<BTreeMap<String, IndexApproval>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(
                "SELECT update_id, action, deadline FROM index_approvals WHERE service_id = ?1 AND group_name = ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![service_id, group], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (update_id, action, deadline) = row.map_err(|e| self.err(e))?;
            let action = parse_action(&action)
                .ok_or_else(|| self.corrupt(format!("approval of {update_id}: action {action:?}")))?;
            out.insert(update_id.clone(), IndexApproval { update_id, action, deadline });
        }
        Ok(out)
    }
}

/// One approval of the computer's group, as the index keeps it (D-27).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexApproval {
    /// The update.
    pub update_id: String,
    /// What the group's computers are asked to do with it.
    pub action: ApprovalAction,
    /// An RFC 3339 deadline; it wins over the document's.
    pub deadline: Option<String>,
}

fn action_str(action: ApprovalAction) -> &'static str {
    match action {
        ApprovalAction::Install => "install",
        ApprovalAction::Uninstall => "uninstall",
        ApprovalAction::Optional => "optional",
    }
}

fn parse_action(text: &str) -> Option<ApprovalAction> {
    match text {
        "install" => Some(ApprovalAction::Install),
        "uninstall" => Some(ApprovalAction::Uninstall),
        "optional" => Some(ApprovalAction::Optional),
        _ => None,
    }
}
