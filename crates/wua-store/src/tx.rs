//! Typed access inside one transaction.

use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use wua_types::{Origin, ServerSelection, UpdateDocument, UpdateHistoryEntry, UpdateOperation};

use crate::{StoreError, now_rfc3339};

/// A transaction on the datastore. Dropping it without [`Tx::commit`] rolls back.
#[derive(Debug)]
pub struct Tx<'a> {
    pub(crate) tx: rusqlite::Transaction<'a>,
    pub(crate) path: &'a Path,
}

/// The installed state of one update id (D-40: one revision per id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledRecord {
    /// The update id.
    pub update_id: String,
    /// The installed revision.
    pub revision: i32,
    /// When it was installed (RFC 3339).
    pub installed_at: String,
    /// Directories (relative to the root) the install created, deepest last.
    pub created_dirs: Vec<String>,
}

impl InstalledRecord {
    /// `doc`'s revision, installed now, owning `created_dirs`.
    pub fn now(doc: &UpdateDocument, created_dirs: Vec<String>) -> Self {
        InstalledRecord {
            update_id: doc.update_id.clone(),
            revision: doc.revision_number,
            installed_at: now_rfc3339(),
            created_dirs,
        }
    }
}

/// Who owns a file under the root (D-39), and what it replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOwner {
    /// The path relative to the root.
    pub path: String,
    /// The owning update id.
    pub update_id: String,
    /// SHA-256 of what the owner placed there.
    pub sha256: String,
    /// Where the previous content was kept (relative to the root), if the path existed before.
    pub backup: Option<String>,
}

/// The phase a journaled operation has reached (see `wua-install`'s journal module).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalPhase {
    /// Staging content; nothing in the root has changed. Recovery rolls back.
    Staging,
    /// Intent committed: recovery rolls forward.
    Intent,
    /// The operation completed; only the removal of leftovers remains.
    Cleanup,
}

impl JournalPhase {
    fn as_str(self) -> &'static str {
        match self {
            JournalPhase::Staging => "staging",
            JournalPhase::Intent => "intent",
            JournalPhase::Cleanup => "cleanup",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "staging" => Some(JournalPhase::Staging),
            "intent" => Some(JournalPhase::Intent),
            "cleanup" => Some(JournalPhase::Cleanup),
            _ => None,
        }
    }
}

/// One journaled operation in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalRecord {
    /// Unique id of the operation.
    pub op_id: String,
    /// Install or uninstall.
    pub operation: UpdateOperation,
    /// The update id.
    pub update_id: String,
    /// The revision being installed or removed.
    pub revision: i32,
    /// How far it got.
    pub phase: JournalPhase,
    /// The handler's plan (JSON, owned by `wua-install`).
    pub plan: String,
    /// The caller's `ClientApplicationID`.
    pub client_application_id: String,
    /// The `ServerSelection` its update was found with (`Others` in older records).
    pub server_selection: ServerSelection,
    /// The service its update came from (empty for a standalone package, and in older records).
    pub service_id: String,
    /// When it started.
    pub started_at: String,
    /// The identity of the target root it works on (`None` in records written before roots
    /// had identities).
    pub root_id: Option<String>,
    /// The document of the revision it installs or removes, so recovery never depends on
    /// what else is recorded (`None` in records written before records carried it).
    pub document: Option<UpdateDocument>,
}

impl JournalRecord {
    /// The record of operation `op_id` starting now on `doc` in the root `root_id`.
    pub fn start(
        op_id: &str,
        operation: UpdateOperation,
        doc: &UpdateDocument,
        root_id: &str,
        phase: JournalPhase,
        plan: String,
        origin: &Origin<'_>,
    ) -> Self {
        JournalRecord {
            op_id: op_id.to_owned(),
            operation,
            update_id: doc.update_id.clone(),
            revision: doc.revision_number,
            phase,
            plan,
            client_application_id: origin.client_application_id.to_owned(),
            server_selection: origin.server_selection,
            service_id: origin.service_id.to_owned(),
            started_at: now_rfc3339(),
            root_id: Some(root_id.to_owned()),
            document: Some(doc.clone()),
        }
    }
}

/// The target root a state directory belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootBinding {
    /// The root's identity (the id in `<root>/var/lib/wua/root-id`).
    pub root_id: String,
    /// Its canonical path when last used, for messages.
    pub root_path: String,
}

/// A reboot an install or uninstall asked for, tied to the boot it happened in (D-9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingReboot {
    /// The update id.
    pub update_id: String,
    /// Install or uninstall.
    pub operation: UpdateOperation,
    /// The boot id when it was recorded.
    pub boot_id: String,
    /// True when it blocks further installs (`AlwaysRequiresReboot` or a handler's request),
    /// false for a `CanRequestReboot` request that only shows in `SystemInformation`.
    pub blocking: bool,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(tx: rusqlite::Transaction<'a>, path: &'a Path) -> Self {
        Tx { tx, path }
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: self.path.to_path_buf(), source }
    }

    pub(crate) fn corrupt(&self, detail: impl Into<String>) -> StoreError {
        StoreError::Corrupt { path: PathBuf::from(self.path), detail: detail.into() }
    }

    /// Commits; durable when it returns.
    pub fn commit(self) -> Result<(), StoreError> {
        let path = self.path.to_path_buf();
        self.tx.commit().map_err(|source| StoreError::Sqlite { path, source })
    }

    // --- update documents -------------------------------------------------------------------

    /// Records a document. A revision is immutable: recording the same document again does
    /// nothing, a different one under a recorded identity is [`StoreError::RevisionConflict`].
    pub fn put_document(&self, doc: &UpdateDocument) -> Result<(), StoreError> {
        if let Some(existing) = self.document(&doc.update_id, doc.revision_number)? {
            if existing == *doc {
                return Ok(());
            }
            return Err(StoreError::RevisionConflict {
                path: self.path.to_path_buf(),
                update_id: doc.update_id.clone(),
                revision: doc.revision_number,
            });
        }
        let json = serde_json::to_string(doc).map_err(|e| self.corrupt(e.to_string()))?;
        self.tx
            .execute(
                "INSERT INTO update_documents (update_id, revision, document, recorded_at) VALUES (?1, ?2, ?3, ?4)",
                params![doc.update_id, doc.revision_number, json, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A recorded document.
    pub fn document(&self, update_id: &str, revision: i32) -> Result<Option<UpdateDocument>, StoreError> {
        let json: Option<String> = self
            .tx
            .query_row(
                "SELECT document FROM update_documents WHERE update_id = ?1 AND revision = ?2",
                params![update_id, revision],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        json.map(|j| serde_json::from_str(&j).map_err(|e| self.corrupt(format!("document {update_id}: {e}"))))
            .transpose()
    }

    /// The newest recorded revision of an update id.
    pub fn latest_document(&self, update_id: &str) -> Result<Option<UpdateDocument>, StoreError> {
        let rev: Option<i32> = self
            .tx
            .query_row("SELECT MAX(revision) FROM update_documents WHERE update_id = ?1", params![update_id], |r| {
                r.get(0)
            })
            .map_err(|e| self.err(e))?;
        match rev {
            Some(rev) => self.document(update_id, rev),
            None => Ok(None),
        }
    }

    /// Every recorded document, newest revision of each id, ordered by title.
    pub fn latest_documents(&self) -> Result<Vec<UpdateDocument>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(
                "SELECT d.document FROM update_documents d
                 WHERE d.revision = (SELECT MAX(revision) FROM update_documents e WHERE e.update_id = d.update_id)",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let mut docs = Vec::new();
        for row in rows {
            let json = row.map_err(|e| self.err(e))?;
            docs.push(serde_json::from_str::<UpdateDocument>(&json).map_err(|e| self.corrupt(e.to_string()))?);
        }
        docs.sort_by(|a, b| a.title.cmp(&b.title).then(a.update_id.cmp(&b.update_id)));
        Ok(docs)
    }

    // --- installed state and file ownership -------------------------------------------------

    /// The installed record of an update id.
    pub fn installed(&self, update_id: &str) -> Result<Option<InstalledRecord>, StoreError> {
        let row: Option<(String, i32, String, String)> = self
            .tx
            .query_row(
                "SELECT update_id, revision, installed_at, created_dirs FROM installed WHERE update_id = ?1",
                params![update_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        row.map(|(update_id, revision, installed_at, dirs)| {
            let created_dirs = serde_json::from_str(&dirs).map_err(|e| self.corrupt(e.to_string()))?;
            Ok(InstalledRecord { update_id, revision, installed_at, created_dirs })
        })
        .transpose()
    }

    /// Every installed record, by update id.
    pub fn all_installed(&self) -> Result<Vec<InstalledRecord>, StoreError> {
        let mut stmt =
            self.tx.prepare("SELECT update_id FROM installed ORDER BY update_id").map_err(|e| self.err(e))?;
        let ids: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(self.installed(&id)?);
        }
        Ok(out)
    }

    /// Records an update id as installed at `revision` (replacing an older revision's record).
    pub fn set_installed(&self, record: &InstalledRecord) -> Result<(), StoreError> {
        let dirs = serde_json::to_string(&record.created_dirs).map_err(|e| self.corrupt(e.to_string()))?;
        self.tx
            .execute(
                "INSERT OR REPLACE INTO installed (update_id, revision, installed_at, created_dirs) VALUES (?1, ?2, ?3, ?4)",
                params![record.update_id, record.revision, record.installed_at, dirs],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets an update id's installed record.
    pub fn remove_installed(&self, update_id: &str) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM installed WHERE update_id = ?1", params![update_id]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The owner of a path, if any.
    pub fn file_owner(&self, path: &str) -> Result<Option<FileOwner>, StoreError> {
        self.tx
            .query_row("SELECT path, update_id, sha256, backup FROM file_owners WHERE path = ?1", params![path], |r| {
                Ok(FileOwner { path: r.get(0)?, update_id: r.get(1)?, sha256: r.get(2)?, backup: r.get(3)? })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every file an update owns, by path.
    pub fn files_of(&self, update_id: &str) -> Result<Vec<FileOwner>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT path, update_id, sha256, backup FROM file_owners WHERE update_id = ?1 ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![update_id], |r| {
                Ok(FileOwner { path: r.get(0)?, update_id: r.get(1)?, sha256: r.get(2)?, backup: r.get(3)? })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Sets (or moves) ownership of a path.
    pub fn put_file_owner(&self, owner: &FileOwner) -> Result<(), StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached(
                "INSERT OR REPLACE INTO file_owners (path, update_id, sha256, backup) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(|e| self.err(e))?;
        stmt.execute(params![owner.path, owner.update_id, owner.sha256, owner.backup]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets the ownership of one path.
    pub fn remove_file_owner(&self, path: &str) -> Result<(), StoreError> {
        let mut stmt = self.tx.prepare_cached("DELETE FROM file_owners WHERE path = ?1").map_err(|e| self.err(e))?;
        stmt.execute(params![path]).map_err(|e| self.err(e))?;
        Ok(())
    }

    // --- journal ----------------------------------------------------------------------------

    /// Inserts or updates a journal record.
    pub fn put_journal(&self, rec: &JournalRecord) -> Result<(), StoreError> {
        let document = match &rec.document {
            Some(doc) => Some(serde_json::to_string(doc).map_err(|e| self.corrupt(e.to_string()))?),
            None => None,
        };
        self.tx
            .execute(
                "INSERT OR REPLACE INTO journal (op_id, operation, update_id, revision, phase, plan, client_application_id, started_at, root_id, document, server_selection, service_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    rec.op_id,
                    rec.operation.value(),
                    rec.update_id,
                    rec.revision,
                    rec.phase.as_str(),
                    rec.plan,
                    rec.client_application_id,
                    rec.started_at,
                    rec.root_id,
                    document,
                    rec.server_selection.value(),
                    rec.service_id
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Moves a journal record to another phase.
    pub fn set_journal_phase(&self, op_id: &str, phase: JournalPhase) -> Result<(), StoreError> {
        self.tx
            .execute("UPDATE journal SET phase = ?2 WHERE op_id = ?1", params![op_id, phase.as_str()])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes a finished journal record.
    pub fn remove_journal(&self, op_id: &str) -> Result<(), StoreError> {
        self.tx.execute("DELETE FROM journal WHERE op_id = ?1", params![op_id]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every journal record, oldest first.
    pub fn journal(&self) -> Result<Vec<JournalRecord>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(
                "SELECT op_id, operation, update_id, revision, phase, plan, client_application_id, started_at, root_id, document,
                        server_selection, service_id
                 FROM journal ORDER BY started_at, op_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i32>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<i32>>(10)?,
                    r.get::<_, Option<String>>(11)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (
                op_id,
                op,
                update_id,
                revision,
                phase,
                plan,
                client_application_id,
                started_at,
                root_id,
                document,
                server_selection,
                service_id,
            ) = row.map_err(|e| self.err(e))?;
            let server_selection = match server_selection {
                None => ServerSelection::Others,
                Some(v) => ServerSelection::from_value(v)
                    .ok_or_else(|| self.corrupt(format!("journal {op_id} server selection {v}")))?,
            };
            let document = document
                .map(|j| serde_json::from_str(&j).map_err(|e| self.corrupt(format!("journal {op_id} document: {e}"))))
                .transpose()?;
            out.push(JournalRecord {
                operation: UpdateOperation::from_value(op)
                    .ok_or_else(|| self.corrupt(format!("journal operation {op}")))?,
                phase: JournalPhase::parse(&phase).ok_or_else(|| self.corrupt(format!("journal phase {phase}")))?,
                op_id,
                update_id,
                revision,
                plan,
                client_application_id,
                server_selection,
                service_id: service_id.unwrap_or_default(),
                started_at,
                root_id,
                document,
            });
        }
        Ok(out)
    }

    // --- the target root ----------------------------------------------------------------------

    /// The root this state directory belongs to, once it has been used.
    pub fn root_binding(&self) -> Result<Option<RootBinding>, StoreError> {
        self.tx
            .query_row("SELECT root_id, root_path FROM root_binding WHERE singleton = 1", [], |r| {
                Ok(RootBinding { root_id: r.get(0)?, root_path: r.get(1)? })
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Records (or updates the path of) the root this state directory belongs to.
    pub fn set_root_binding(&self, binding: &RootBinding) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO root_binding (singleton, root_id, root_path, bound_at) VALUES (1, ?1, ?2, ?3)
                 ON CONFLICT (singleton) DO UPDATE SET root_id = excluded.root_id, root_path = excluded.root_path",
                params![binding.root_id, binding.root_path, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    // --- history ----------------------------------------------------------------------------

    /// Appends a history entry and, in the same transaction, queues its `outcome` report for
    /// every managed-server service (D-17: the outcome and its report commit together). Every
    /// writer of history goes through here.
    pub fn append_history(&self, entry: &UpdateHistoryEntry) -> Result<(), StoreError> {
        let json = serde_json::to_string(entry).map_err(|e| self.corrupt(e.to_string()))?;
        let mut stmt = self
            .tx
            .prepare_cached("INSERT INTO history (update_id, date, entry) VALUES (?1, ?2, ?3)")
            .map_err(|e| self.err(e))?;
        stmt.execute(params![entry.update_identity.update_id, entry.date, json]).map_err(|e| self.err(e))?;
        self.enqueue_outcome(entry)
    }

    /// `count` entries starting at `start`, newest first (D-35).
    pub fn history(&self, start: u64, count: u64) -> Result<Vec<UpdateHistoryEntry>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT entry FROM history ORDER BY id DESC LIMIT ?1 OFFSET ?2")
            .map_err(|e| self.err(e))?;
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        let offset = i64::try_from(start).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![limit, offset], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let json = row.map_err(|e| self.err(e))?;
            out.push(serde_json::from_str(&json).map_err(|e| self.corrupt(format!("history entry: {e}")))?);
        }
        Ok(out)
    }

    /// The number of history entries.
    pub fn history_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.tx.query_row("SELECT COUNT(*) FROM history", [], |r| r.get(0)).map_err(|e| self.err(e))?;
        Ok(n as u64)
    }

    // --- hidden flags and EULAs -------------------------------------------------------------

    /// Whether an update id is hidden (D-36).
    pub fn is_hidden(&self, update_id: &str) -> Result<bool, StoreError> {
        self.tx
            .query_row("SELECT 1 FROM hidden WHERE update_id = ?1", params![update_id], |_| Ok(()))
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }

    /// Every hidden update id (a search reads them at once).
    pub fn hidden_ids(&self) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let mut stmt = self.tx.prepare("SELECT update_id FROM hidden").map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Every accepted (update id, EULA text hash) pair (a search reads them at once).
    pub fn accepted_eulas(&self) -> Result<std::collections::BTreeSet<(String, String)>, StoreError> {
        let mut stmt =
            self.tx.prepare("SELECT update_id, eula_sha256 FROM eula_acceptance").map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Sets or clears the hidden flag.
    pub fn set_hidden(&self, update_id: &str, hidden: bool) -> Result<(), StoreError> {
        let sql = if hidden {
            "INSERT OR IGNORE INTO hidden (update_id) VALUES (?1)"
        } else {
            "DELETE FROM hidden WHERE update_id = ?1"
        };
        self.tx.execute(sql, params![update_id]).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Whether the EULA with this text hash was accepted for an update id (D-14).
    pub fn eula_accepted(&self, update_id: &str, eula_sha256: &str) -> Result<bool, StoreError> {
        self.tx
            .query_row(
                "SELECT 1 FROM eula_acceptance WHERE update_id = ?1 AND eula_sha256 = ?2",
                params![update_id, eula_sha256],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(|e| self.err(e))
    }

    /// Records EULA acceptance.
    pub fn accept_eula(&self, update_id: &str, eula_sha256: &str) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT OR IGNORE INTO eula_acceptance (update_id, eula_sha256, accepted_at) VALUES (?1, ?2, ?3)",
                params![update_id, eula_sha256, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    // --- reboots ----------------------------------------------------------------------------

    /// Records a reboot request.
    pub fn add_pending_reboot(&self, reboot: &PendingReboot) -> Result<(), StoreError> {
        self.tx
            .execute(
                "INSERT INTO pending_reboots (update_id, operation, boot_id, blocking, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![reboot.update_id, reboot.operation.value(), reboot.boot_id, reboot.blocking, now_rfc3339()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Reboot requests recorded during the boot `boot_id` (still pending).
    pub fn pending_reboots(&self, boot_id: &str) -> Result<Vec<PendingReboot>, StoreError> {
        let mut stmt = self
            .tx
            .prepare("SELECT update_id, operation, boot_id, blocking FROM pending_reboots WHERE boot_id = ?1")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![boot_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?, r.get::<_, String>(2)?, r.get::<_, bool>(3)?))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (update_id, op, boot_id, blocking) = row.map_err(|e| self.err(e))?;
            let operation =
                UpdateOperation::from_value(op).ok_or_else(|| self.corrupt(format!("reboot operation {op}")))?;
            out.push(PendingReboot { update_id, operation, boot_id, blocking });
        }
        Ok(out)
    }

    /// Forgets reboot requests of earlier boots (they were satisfied by the reboot).
    pub fn clear_reboots_not_of(&self, boot_id: &str) -> Result<(), StoreError> {
        self.tx
            .execute("DELETE FROM pending_reboots WHERE boot_id <> ?1", params![boot_id])
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
