//! The `files` handler: places an update's files under the root, all or nothing (D-17).
//!
//! The journal protocol, per update:
//!
//! 1. **plan** (nothing changes): resolve every target under the root, check ownership (D-39)
//!    and types, decide where replaced files go.
//! 2. **stage**: a `Staging` journal record is committed, then every file is copied from the
//!    cache to a hidden name beside its target while it is hashed (D-13); `syncfs` once per
//!    filesystem.
//! 3. **intent**: the record moves to `Intent` (a durable SQLite commit). From here recovery
//!    rolls forward.
//! 4. **rename**: replaced files move to the backup area, staged files are renamed into place;
//!    `syncfs` again.
//! 5. **commit**: installed state, file ownership, history and the reboot record commit in one
//!    transaction; the record moves to `Cleanup`.
//! 6. **cleanup**: discarded files are deleted and the record is removed.
//!
//! Every step is idempotent (it checks what is on disk), so recovery can redo it after a crash
//! at any instant. Recovery ([`recover`]) of a `Staging` record rolls back; of an `Intent`
//! record rolls forward; of a `Cleanup` record finishes the cleanup.
//!
//! One [`Operation`] owns an operation's state (target, datastore, document, operation id) and
//! has a method per step, in the shape of a transaction whose log is the durable journal.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;
use wua_store::{FileOwner, InstalledRecord, JournalPhase, JournalRecord, Store};
use wua_types::{
    HResult, InstallationRebootBehavior, OperationResultCode, UpdateDocument, UpdateInstallationResult,
    UpdateOperation, WuError,
};

use crate::cache::ContentCache;
use crate::crash_point;
use crate::error::InstallError;
use crate::fsops::{self, CopyOutcome, Kind, Resolver, SyncSet, under};
use crate::history::history_entry;
use crate::lock::InstallLock;
use crate::monitor::Monitor;
use crate::plan::{InstallPlan, PlaceFile, RemoveFile, UninstallPlan};
use crate::reboot::record_pending_reboot;
use crate::recovery::RecoveredOperation;
use crate::{ADMIN_DIR, Target};

/// 256 KiB: few system calls per file; any size copies the same bytes.
pub(crate) const BUF_SIZE: usize = 262_144;

/// Installs a `files` update. Every outcome is a per-update result (D-1); the history entry is
/// written in the same transaction as the state it describes. An abort (D-23) is honoured
/// between staged files and before the intent commit; after that the update completes.
pub fn install(
    target: &Target<'_>,
    store: &mut Store,
    _lock: &InstallLock,
    doc: &UpdateDocument,
    monitor: &mut dyn Monitor,
) -> UpdateInstallationResult {
    Operation::new(target, store, doc, uuid::Uuid::new_v4().to_string()).install(monitor)
}

/// Uninstalls a `files` update. An abort (D-23) is honoured before the intent commit.
pub fn uninstall(
    target: &Target<'_>,
    store: &mut Store,
    _lock: &InstallLock,
    doc: &UpdateDocument,
    monitor: &mut dyn Monitor,
) -> UpdateInstallationResult {
    Operation::new(target, store, doc, uuid::Uuid::new_v4().to_string()).uninstall(monitor)
}

/// Finishes or undoes the interrupted operation `rec` of the `files` update `doc` (D-17):
/// a `Staging` install is rolled back (one `Failed` history entry, marked recovered), an
/// `Intent` install or any uninstall is rolled forward, a `Cleanup` is finished.
pub(crate) fn recover(
    target: &Target<'_>,
    store: &mut Store,
    _lock: &InstallLock,
    rec: &JournalRecord,
    doc: &UpdateDocument,
) -> Result<RecoveredOperation, InstallError> {
    let bad = |e: serde_json::Error| InstallError::BadJournal { op_id: rec.op_id.clone(), detail: e.to_string() };
    let mut op = Operation::new(target, store, doc, rec.op_id.clone());
    let mut rolled_forward = true;
    match (rec.operation, rec.phase) {
        (UpdateOperation::Installation, phase) => {
            let plan: InstallPlan = serde_json::from_str(&rec.plan).map_err(bad)?;
            match phase {
                JournalPhase::Staging => {
                    op.remove_staged(&plan)?;
                    let result = UpdateInstallationResult::failed(
                        HResult::WUA_E_OPERATION_INTERRUPTED,
                        "the install was interrupted before its intent was committed and was rolled back",
                    );
                    op.store.transact(|tx| -> Result<(), InstallError> {
                        tx.remove_journal(&op.op_id)?;
                        tx.append_history(&history_entry(doc, rec.operation, &result, &target.origin, true))?;
                        Ok(())
                    })?;
                    crash_point("recovered");
                    rolled_forward = false;
                }
                JournalPhase::Intent => {
                    op.roll_forward_install(&plan, true)?;
                }
                JournalPhase::Cleanup => op.cleanup(&plan.discarded(), &plan.areas())?,
            }
        }
        (UpdateOperation::Uninstallation, phase) => {
            let plan: UninstallPlan = serde_json::from_str(&rec.plan).map_err(bad)?;
            match phase {
                JournalPhase::Staging | JournalPhase::Intent => {
                    op.roll_forward_uninstall(&plan, true)?;
                }
                JournalPhase::Cleanup => op.cleanup(&plan.discarded(), &plan.op_dirs)?,
            }
        }
    }
    Ok(RecoveredOperation {
        op_id: rec.op_id.clone(),
        operation: rec.operation,
        update_id: rec.update_id.clone(),
        rolled_forward,
    })
}

/// One journaled operation on one update: where it works, the datastore its journal lives in,
/// the update's document and the operation's id. Each method is a step of the protocol (see
/// the module); each step checks the disk before acting, so recovery can redo it.
struct Operation<'a, 't> {
    target: &'a Target<'t>,
    store: &'a mut Store,
    doc: &'a UpdateDocument,
    op_id: String,
}

impl<'a, 't> Operation<'a, 't> {
    fn new(target: &'a Target<'t>, store: &'a mut Store, doc: &'a UpdateDocument, op_id: String) -> Self {
        Operation { target, store, doc, op_id }
    }

    fn install(mut self, monitor: &mut dyn Monitor) -> UpdateInstallationResult {
        let operation = UpdateOperation::Installation;
        let plan = match self.plan_install() {
            Ok(plan) => plan,
            Err(e) => return self.finish(operation, false, failure(e)),
        };
        crash_point("plan");
        if let Err(e) = self.begin(operation, JournalPhase::Staging, &plan) {
            return self.finish(operation, false, failure(e.into()));
        }
        crash_point("stage-begin");

        match self.stage(&plan, monitor) {
            Ok(Staged::Done) => {}
            Ok(Staged::Mismatch(mismatch)) => {
                let err = WuError::new(HResult::WU_E_DM_INCORRECTFILEHASH, mismatch);
                return self.roll_back(&plan, failure(err));
            }
            Ok(Staged::Aborted) => return self.roll_back(&plan, aborted("while staging")),
            Err(e) => return self.roll_back(&plan, failure(e.into())),
        }
        let synced = self.sync_for(&plan.entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>());
        if let Err(e) = synced.and_then(|s| s.sync()) {
            return self.roll_back(&plan, failure(e.into()));
        }
        crash_point("staged-synced");
        // The last safe point: once the intent commits, the update completes.
        if monitor.abort_requested() {
            return self.roll_back(&plan, aborted("before its intent was committed"));
        }

        if let Err(e) = self.set_phase(JournalPhase::Intent) {
            return self.roll_back(&plan, failure(e.into()));
        }
        crash_point("intent");

        match self.roll_forward_install(&plan, false) {
            Ok(result) => {
                monitor.progress(100);
                result
            }
            Err(e) => {
                // The intent is committed; try to undo the renames so the root is as before. If
                // that fails too, the record stays at `Intent` and the next locked operation
                // rolls forward.
                let err: WuError = e.into();
                match self.undo_renames(&plan) {
                    Ok(()) => self.roll_back(&plan, failure(err)),
                    Err(undo) => UpdateInstallationResult::failed(
                        err.hresult,
                        format!("{}; undoing it failed too ({undo}); recovery will complete it", err.message),
                    ),
                }
            }
        }
    }

    fn uninstall(mut self, monitor: &mut dyn Monitor) -> UpdateInstallationResult {
        let operation = UpdateOperation::Uninstallation;
        let plan = match self.plan_uninstall() {
            Ok(plan) => plan,
            Err(e) => return self.finish(operation, false, failure(e)),
        };
        crash_point("plan");
        if monitor.abort_requested() {
            return self.finish(operation, false, aborted("before its intent was committed"));
        }
        if let Err(e) = self.begin(operation, JournalPhase::Intent, &plan) {
            return self.finish(operation, false, failure(e.into()));
        }
        crash_point("intent");
        monitor.progress(10);
        match self.roll_forward_uninstall(&plan, false) {
            Ok(result) => {
                monitor.progress(100);
                result
            }
            // An uninstall is only ever rolled forward: the record stays at `Intent`.
            Err(e) => {
                let err: WuError = e.into();
                UpdateInstallationResult::failed(
                    err.hresult,
                    format!("{}; recovery will complete the uninstall", err.message),
                )
            }
        }
    }

    /// Commits the operation's journal record with its plan, at `phase` (a durable commit).
    fn begin(
        &mut self,
        operation: UpdateOperation,
        phase: JournalPhase,
        plan: &impl Serialize,
    ) -> Result<(), InstallError> {
        let plan = serde_json::to_string(plan)
            .map_err(|e| InstallError::BadJournal { op_id: self.op_id.clone(), detail: e.to_string() })?;
        let target = self.target;
        let record =
            JournalRecord::start(&self.op_id, operation, self.doc, target.root_id, phase, plan, &target.origin);
        self.store.transact(|tx| tx.put_journal(&record))?;
        Ok(())
    }

    /// Moves the journal record to `phase` (a durable commit).
    fn set_phase(&mut self, phase: JournalPhase) -> Result<(), InstallError> {
        let op_id = &self.op_id;
        self.store.transact(|tx| tx.set_journal_phase(op_id, phase))?;
        Ok(())
    }

    // --- planning -----------------------------------------------------------------------------

    fn plan_install(&mut self) -> Result<InstallPlan, WuError> {
        let (root, doc) = (self.target.root, self.doc);
        let tx = self.store.read()?;
        let previous = tx.installed(&doc.update_id)?;
        let previous_files = match &previous {
            Some(_) => tx.files_of(&doc.update_id)?,
            None => vec![],
        };
        let mut areas = Areas::new(root, &self.op_id)?;
        let short = &self.op_id[..8];
        let mut resolver = Resolver::new(root);
        let mut plan = InstallPlan { op_dir: areas.admin_area(), ..Default::default() };
        let mut created: BTreeSet<String> = BTreeSet::new();
        let mut placed: BTreeSet<String> = BTreeSet::new();

        for (n, c) in doc.content.iter().enumerate() {
            let (dir, name) = c.path.rsplit_once('/').unwrap_or(("", c.path.as_str()));
            let resolved = resolver.resolve(dir)?;
            for m in &resolved.missing {
                if created.insert(m.clone()) {
                    plan.created_dirs.push(m.clone());
                }
            }
            let path = if resolved.real.is_empty() { name.to_owned() } else { format!("{}/{name}", resolved.real) };
            if !placed.insert(path.clone()) {
                return Err(WuError::new(
                    HResult::WUA_E_PACKAGE_DUPLICATE_PATH,
                    format!("content path {:?} lands on {path:?}, which another content path already uses", c.path),
                ));
            }
            if path == ADMIN_DIR || path.starts_with(&format!("{ADMIN_DIR}/")) {
                return Err(WuError::new(
                    HResult::WUA_E_PACKAGE_UNSAFE_PATH,
                    format!("content path {:?} lands in {ADMIN_DIR}, which is reserved for wua", c.path),
                ));
            }
            let staged_name = format!(".wua-{short}-{n}");
            let staged =
                if resolved.real.is_empty() { staged_name } else { format!("{}/{staged_name}", resolved.real) };
            let abs = under(root, &path);
            let (moved, keep_moved, backup) = match fsops::kind(&abs)? {
                Kind::Missing => (None, false, None),
                Kind::Dir => {
                    return Err(WuError::new(
                        HResult::WUA_E_TARGET_TYPE_CONFLICT,
                        format!("{} is a directory, but content {:?} is a file", abs.display(), c.path),
                    ));
                }
                Kind::File => {
                    let moved = format!("{}/{n}", areas.for_dir(&resolved.real)?);
                    match tx.file_owner(&path)? {
                        None => (Some(moved.clone()), true, Some(moved)),
                        Some(owner) if owner.update_id == doc.update_id => (Some(moved), false, owner.backup),
                        Some(owner) if doc.superseded_update_ids.contains(&owner.update_id) => {
                            (Some(moved), false, owner.backup)
                        }
                        Some(owner) => {
                            return Err(WuError::new(
                                HResult::WUA_E_FILE_CONFLICT,
                                format!("{path} belongs to installed update {}", owner.update_id),
                            ));
                        }
                    }
                }
            };
            plan.entries.push(PlaceFile {
                path,
                staged,
                sha256: c.sha256.clone(),
                size: c.size,
                mode: c.mode,
                uid: c.uid,
                gid: c.gid,
                link_target: c.link_target.clone(),
                moved,
                keep_moved,
                backup,
            });
        }
        // A replaced revision's files that the new one does not place are taken away (D-40).
        for (n, f) in previous_files.iter().filter(|f| !placed.contains(&f.path)).enumerate() {
            plan.removals.push(removal(root, f, &mut areas, &format!("r{n}"))?);
        }
        plan.areas = areas.used();
        // The replaced revision's directories that hold none of the new files go once empty, as
        // dpkg does; the rest stay the update's own.
        let needed = |dir: &String| plan.entries.iter().any(|e| e.path.starts_with(&format!("{dir}/")));
        let (kept, stale): (Vec<String>, Vec<String>) =
            previous.map(|p| p.created_dirs).unwrap_or_default().into_iter().partition(needed);
        let mut owned: BTreeSet<String> = kept.into_iter().collect();
        owned.extend(plan.created_dirs.iter().cloned());
        plan.owned_dirs = owned.into_iter().collect();
        plan.stale_dirs = stale;
        plan.stale_dirs.sort_by(|a, b| b.cmp(a)); // deepest (longest, in reverse order) first
        Ok(plan)
    }

    fn plan_uninstall(&mut self) -> Result<UninstallPlan, WuError> {
        let (root, doc) = (self.target.root, self.doc);
        let tx = self.store.read()?;
        let installed = tx.installed(&doc.update_id)?;
        let files = tx.files_of(&doc.update_id)?;
        let mut areas = Areas::new(root, &self.op_id)?;
        let mut plan = UninstallPlan::default();
        let mut op_dirs = BTreeSet::new();
        for (n, f) in files.iter().enumerate() {
            let r = removal(root, f, &mut areas, &n.to_string())?;
            // The area a restored backup leaves is removed once empty.
            if let Some(area) = r.restore.as_deref().and_then(area_of) {
                op_dirs.insert(area.to_owned());
            }
            plan.removals.push(r);
        }
        op_dirs.extend(areas.used());
        plan.dirs = installed.map(|i| i.created_dirs).unwrap_or_default();
        plan.dirs.sort_by(|a, b| b.cmp(a)); // deepest (longest, in reverse order) first
        plan.op_dirs = op_dirs.into_iter().collect();
        Ok(plan)
    }

    // --- executing ----------------------------------------------------------------------------

    /// Creates directories and copies every file to its staged name, asking about an abort
    /// before each file.
    fn stage(&self, plan: &InstallPlan, monitor: &mut dyn Monitor) -> Result<Staged, InstallError> {
        let target = self.target;
        let cache = ContentCache::new(target.state_dir);
        for d in &plan.created_dirs {
            fsops::create_dir_if_missing(&under(target.root, d))?;
        }
        for area in &plan.areas {
            fs_err::create_dir_all(under(target.root, area)).map_err(|e| InstallError::io(area, e))?;
        }
        let mut buf = vec![0u8; BUF_SIZE];
        let total = plan.entries.len().max(1);
        let mut last = 0;
        for (i, e) in plan.entries.iter().enumerate() {
            if monitor.abort_requested() {
                return Ok(Staged::Aborted);
            }
            if let Some(link) = &e.link_target {
                // Its target is in the signed document: nothing to fetch or verify.
                fsops::stage_link(link, &under(target.root, &e.staged), (e.uid, e.gid))?;
                crash_point("stage");
                continue;
            }
            let outcome = fsops::stage_verified(
                &cache.path(&e.sha256),
                &under(target.root, &e.staged),
                &e.sha256,
                e.size,
                e.mode,
                (e.uid, e.gid),
                &mut buf,
            )?;
            crash_point("stage");
            if let CopyOutcome::Mismatch(why) = outcome {
                return Ok(Staged::Mismatch(format!("content for {}: {why}", e.path)));
            }
            let pct = ((i + 1) * 95 / total) as u32;
            if pct != last {
                last = pct;
                monitor.progress(pct);
            }
        }
        Ok(Staged::Done)
    }

    /// The filesystems of the targets' directories and of the backup area.
    fn sync_for(&self, paths: &[&str]) -> Result<SyncSet, InstallError> {
        let root = self.target.root;
        let mut set = SyncSet::default();
        set.add(&under(root, ADMIN_DIR))?;
        let mut dirs = BTreeSet::new();
        for p in paths {
            dirs.insert(p.rsplit_once('/').map_or("", |(d, _)| d));
        }
        for d in dirs {
            let dir = under(root, d);
            if dir.is_dir() {
                set.add(&dir)?;
            }
        }
        Ok(set)
    }

    /// Steps 4 to 6 of an install; also recovery's roll-forward of an `Intent` record.
    fn roll_forward_install(
        &mut self,
        plan: &InstallPlan,
        recovered: bool,
    ) -> Result<UpdateInstallationResult, InstallError> {
        let (target, doc) = (self.target, self.doc);
        let root = target.root;
        for e in &plan.entries {
            let staged = under(root, &e.staged);
            if fsops::kind(&staged)? == Kind::Missing {
                continue; // already renamed into place
            }
            let path = under(root, &e.path);
            if let Some(moved) = &e.moved {
                let moved = under(root, moved);
                if fsops::kind(&path)? != Kind::Missing && fsops::kind(&moved)? == Kind::Missing {
                    fsops::rename_if_present(&path, &moved)?;
                    crash_point("rename");
                }
            }
            fsops::rename_if_present(&staged, &path)?;
            crash_point("rename");
        }
        let mut warnings = Vec::new();
        apply_removals(root, &plan.removals, &mut warnings)?;
        for d in &plan.stale_dirs {
            fsops::remove_dir_if_empty(&under(root, d))?;
        }
        let mut paths: Vec<&str> = plan.entries.iter().map(|e| e.path.as_str()).collect();
        paths.extend(plan.removals.iter().map(|r| r.path.as_str()));
        paths.extend(plan.stale_dirs.iter().map(String::as_str));
        self.sync_for(&paths)?.sync()?;
        crash_point("renamed-synced");

        let always = doc.installation_behavior.reboot_behavior == InstallationRebootBehavior::AlwaysRequiresReboot;
        let result = succeeded(warnings, always, recovered);
        let op_id = &self.op_id;
        self.store.transact(|tx| -> Result<(), InstallError> {
            tx.set_installed(&InstalledRecord::now(doc, plan.owned_dirs.clone()))?;
            for r in &plan.removals {
                tx.remove_file_owner(&r.path)?;
            }
            for e in &plan.entries {
                tx.put_file_owner(&FileOwner {
                    path: e.path.clone(),
                    update_id: doc.update_id.clone(),
                    sha256: e.sha256.clone(),
                    backup: e.backup.clone(),
                })?;
            }
            if always {
                record_pending_reboot(tx, target, doc, UpdateOperation::Installation)?;
            }
            let operation = UpdateOperation::Installation;
            tx.append_history(&history_entry(doc, operation, &result, &target.origin, recovered))?;
            tx.set_journal_phase(op_id, JournalPhase::Cleanup)?;
            Ok(())
        })?;
        crash_point("commit");

        self.cleanup(&plan.discarded(), &plan.areas())?;
        Ok(result)
    }

    /// Steps of an uninstall after its intent; also recovery's roll-forward.
    fn roll_forward_uninstall(
        &mut self,
        plan: &UninstallPlan,
        recovered: bool,
    ) -> Result<UpdateInstallationResult, InstallError> {
        let (target, doc) = (self.target, self.doc);
        let root = target.root;
        let mut warnings = Vec::new();
        apply_removals(root, &plan.removals, &mut warnings)?;
        for d in &plan.dirs {
            fsops::remove_dir_if_empty(&under(root, d))?;
        }
        let mut paths: Vec<&str> = plan.removals.iter().map(|r| r.path.as_str()).collect();
        paths.extend(plan.dirs.iter().map(String::as_str));
        self.sync_for(&paths)?.sync()?;
        crash_point("renamed-synced");

        let always = doc.uninstallation_behavior.reboot_behavior == InstallationRebootBehavior::AlwaysRequiresReboot;
        let result = succeeded(warnings, always, recovered);
        let op_id = &self.op_id;
        self.store.transact(|tx| -> Result<(), InstallError> {
            tx.remove_installed(&doc.update_id)?;
            for r in &plan.removals {
                tx.remove_file_owner(&r.path)?;
            }
            if always {
                record_pending_reboot(tx, target, doc, UpdateOperation::Uninstallation)?;
            }
            let operation = UpdateOperation::Uninstallation;
            tx.append_history(&history_entry(doc, operation, &result, &target.origin, recovered))?;
            tx.set_journal_phase(op_id, JournalPhase::Cleanup)?;
            Ok(())
        })?;
        crash_point("commit");

        self.cleanup(&plan.discarded(), &plan.op_dirs)?;
        Ok(result)
    }

    /// Step 6: deletes discarded files and empty operation areas, then forgets the record.
    fn cleanup(&mut self, discard: &[&str], dirs: &[String]) -> Result<(), InstallError> {
        let root = self.target.root;
        for d in discard {
            fsops::remove_file_if_present(&under(root, d))?;
            crash_point("cleanup");
        }
        for d in dirs {
            remove_area_if_empty(root, d)?;
        }
        let op_id = &self.op_id;
        self.store.transact(|tx| tx.remove_journal(op_id))?;
        crash_point("done");
        Ok(())
    }

    /// Undoes a staging: removes staged files and the directories this operation created. Also
    /// recovery's rollback of a `Staging` record.
    fn remove_staged(&self, plan: &InstallPlan) -> Result<(), InstallError> {
        let root = self.target.root;
        for e in &plan.entries {
            fsops::remove_file_if_present(&under(root, &e.staged))?;
        }
        for d in plan.created_dirs.iter().rev() {
            fsops::remove_dir_if_empty(&under(root, d))?;
        }
        for area in plan.areas() {
            remove_area_if_empty(root, &area)?;
        }
        self.sync_for(&plan.entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>())?.sync()
    }

    /// Puts the root back as it was before the renames of an install (error path after intent).
    fn undo_renames(&self, plan: &InstallPlan) -> Result<(), InstallError> {
        let root = self.target.root;
        for r in plan.removals.iter().rev().filter(|r| !r.modified) {
            let path = under(root, &r.path);
            let trash = under(root, &r.trash);
            if fsops::kind(&trash)? == Kind::Missing {
                continue;
            }
            if let Some(backup) = &r.restore {
                let backup = under(root, backup);
                if fsops::kind(&backup)? == Kind::Missing {
                    fsops::rename_if_present(&path, &backup)?;
                }
            }
            fsops::rename_if_present(&trash, &path)?;
        }
        for e in plan.entries.iter().rev() {
            let staged = under(root, &e.staged);
            let path = under(root, &e.path);
            if fsops::kind(&staged)? == Kind::Missing && fsops::kind(&path)? != Kind::Missing {
                fsops::rename_if_present(&path, &staged)?;
            }
            if let Some(moved) = &e.moved {
                fsops::rename_if_present(&under(root, moved), &path)?;
            }
        }
        Ok(())
    }

    /// Undoes a staging and records `result` (a failure or an abort).
    fn roll_back(&mut self, plan: &InstallPlan, result: UpdateInstallationResult) -> UpdateInstallationResult {
        if let Err(e) = self.remove_staged(plan) {
            tracing::warn!(op_id = %self.op_id, error = %e, "rolling back an install left files behind; recovery will retry");
            return UpdateInstallationResult {
                message: format!("{} (rollback incomplete: {e})", result.message),
                ..result
            };
        }
        self.finish(UpdateOperation::Installation, true, result)
    }

    /// Records an outcome that changed nothing in the root: removes the journal record (when
    /// one was `journaled`) and writes the history entry in one transaction.
    fn finish(
        &mut self,
        operation: UpdateOperation,
        journaled: bool,
        result: UpdateInstallationResult,
    ) -> UpdateInstallationResult {
        let (target, doc, op_id) = (self.target, self.doc, &self.op_id);
        let written = self.store.transact(|tx| -> Result<(), InstallError> {
            if journaled {
                tx.remove_journal(op_id)?;
            }
            tx.append_history(&history_entry(doc, operation, &result, &target.origin, false))?;
            Ok(())
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "could not record a failed operation");
        }
        result
    }
}

/// How staging ended.
enum Staged {
    /// Every file is staged and verified.
    Done,
    /// A content mismatch (D-13).
    Mismatch(String),
    /// An abort was requested (D-23).
    Aborted,
}

/// A completed operation's result.
fn succeeded(warnings: Vec<String>, reboot_required: bool, recovered: bool) -> UpdateInstallationResult {
    let mut result = UpdateInstallationResult::new(OperationResultCode::Succeeded, HResult::S_OK);
    result.warnings = warnings;
    result.reboot_required = reboot_required;
    if recovered {
        result.message = "completed by recovery after an interruption".into();
    }
    result
}

/// Taking away an owned file: it moves to `name` in the area of its filesystem.
fn removal(root: &Path, owner: &FileOwner, areas: &mut Areas<'_>, name: &str) -> Result<RemoveFile, WuError> {
    let current = fsops::sha256_of(&under(root, &owner.path))?;
    let dir = owner.path.rsplit_once('/').map_or("", |(d, _)| d);
    Ok(RemoveFile {
        path: owner.path.clone(),
        trash: format!("{}/{name}", areas.for_dir(dir)?),
        restore: owner.backup.clone(),
        modified: current.as_deref() != Some(owner.sha256.as_str()),
    })
}

/// Takes files away (uninstall, or what a new revision dropped): the file moves to its trash
/// name and its backup, if any, moves back. A changed file is left alone with a warning (D-39).
fn apply_removals(root: &Path, removals: &[RemoveFile], warnings: &mut Vec<String>) -> Result<(), InstallError> {
    for r in removals {
        let path = under(root, &r.path);
        if r.modified {
            let kept =
                r.restore.as_deref().map(|b| format!("; the previous content is kept at {}", under(root, b).display()));
            warnings.push(format!(
                "{} changed since it was installed and was left in place{}",
                path.display(),
                kept.unwrap_or_default()
            ));
            continue;
        }
        let trash = under(root, &r.trash);
        if fsops::kind(&trash)? == Kind::Missing && fsops::kind(&path)? != Kind::Missing {
            if let Some(parent) = trash.parent() {
                fs_err::create_dir_all(parent).map_err(|e| InstallError::io(parent, e))?;
            }
            fsops::rename_if_present(&path, &trash)?;
            crash_point("rename");
        }
        if let Some(backup) = &r.restore {
            if fsops::rename_if_present(&under(root, backup), &path)? {
                crash_point("rename");
            }
        }
    }
    Ok(())
}

/// Where an operation keeps the files it moves away (replaced files, backups, trash): one area
/// per filesystem, so every move is a rename and nothing lands in the user's directories.
/// On the filesystem of `<root>/var/lib/wua` the area is `var/lib/wua/backup/<op>`; on any
/// other (a separate `/opt` mounted inside the root) it is `<top>/.wua-backup/<op>`, `<top>`
/// being that filesystem's highest directory inside the root. The plan records the paths, so
/// recovery after a reboot needs no device numbers.
pub(crate) struct Areas<'a> {
    root: &'a Path,
    op_id: &'a str,
    admin_dev: u64,
    by_dev: HashMap<u64, String>,
    used: BTreeSet<String>,
}

/// The directory name of an area on a filesystem other than the backup area's.
const OTHER_FS_AREA: &str = ".wua-backup";

impl<'a> Areas<'a> {
    fn new(root: &'a Path, op_id: &'a str) -> Result<Self, InstallError> {
        let admin_dev = SyncSet::dev_of(&under(root, ADMIN_DIR))?;
        Ok(Areas { root, op_id, admin_dev, by_dev: HashMap::new(), used: BTreeSet::new() })
    }

    fn admin_area(&self) -> String {
        format!("{ADMIN_DIR}/backup/{}", self.op_id)
    }

    /// The area for files in `dir` (relative, real). A directory that does not exist (a file
    /// already gone) gets the backup area: nothing will move.
    fn for_dir(&mut self, dir: &str) -> Result<String, InstallError> {
        let dev = match std::fs::metadata(under(self.root, dir)) {
            Ok(m) => m.dev(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => self.admin_dev,
            Err(e) => return Err(InstallError::io(under(self.root, dir), e)),
        };
        let area = match self.by_dev.get(&dev) {
            Some(area) => area.clone(),
            None => {
                let area = if dev == self.admin_dev { self.admin_area() } else { self.other_area(dir, dev)? };
                self.by_dev.insert(dev, area.clone());
                area
            }
        };
        self.used.insert(area.clone());
        Ok(area)
    }

    /// `<top>/.wua-backup/<op>` for the filesystem `dev` that holds `dir`.
    fn other_area(&self, dir: &str, dev: u64) -> Result<String, InstallError> {
        let parts: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
        for i in 0..=parts.len() {
            let top = parts[..i].join("/");
            if SyncSet::dev_of(&under(self.root, &top))? == dev {
                let base = if top.is_empty() { OTHER_FS_AREA.to_owned() } else { format!("{top}/{OTHER_FS_AREA}") };
                return Ok(format!("{base}/{}", self.op_id));
            }
        }
        // The last prefix is the directory itself: only a mount that changed under the plan
        // gets here.
        let changed = std::io::Error::other("its filesystem changed while the operation was planned");
        Err(InstallError::io(under(self.root, dir), changed))
    }

    fn used(&self) -> Vec<String> {
        self.used.iter().cloned().collect()
    }
}

/// The area a backup lives in, if it is in one (backups of older agents may sit elsewhere).
fn area_of(backup: &str) -> Option<&str> {
    let (area, _) = backup.rsplit_once('/')?;
    let parent = area.rsplit_once('/').map_or("", |(p, _)| p);
    let is_area = parent == format!("{ADMIN_DIR}/backup")
        || parent == OTHER_FS_AREA
        || parent.ends_with(&format!("/{OTHER_FS_AREA}"));
    is_area.then_some(area)
}

/// Removes an empty area, and an emptied `.wua-backup` directory above it.
fn remove_area_if_empty(root: &Path, area: &str) -> Result<(), InstallError> {
    fsops::remove_dir_if_empty(&under(root, area))?;
    if let Some((parent, _)) = area.rsplit_once('/') {
        if parent == OTHER_FS_AREA || parent.ends_with(&format!("/{OTHER_FS_AREA}")) {
            fsops::remove_dir_if_empty(&under(root, parent))?;
        }
    }
    Ok(())
}

fn failure(err: WuError) -> UpdateInstallationResult {
    UpdateInstallationResult::failed(err.hresult, err.message)
}

fn aborted(when: &str) -> UpdateInstallationResult {
    UpdateInstallationResult::aborted(format!("an abort was requested; the update was rolled back {when}"))
}

#[cfg(test)]
#[path = "files_tests.rs"]
mod tests;
