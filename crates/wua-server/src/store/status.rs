//! Applying a computer's report events to its sparse status rows and to the aggregates, inside
//! the writer's transaction. Every change of a row goes through [`Fleet::set`], which keeps
//! `update_counts` (per update and group), the computer's own counters and its group's
//! counters in step with the rows.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, params};
use wua_types::api::{ReportBody, UpdateState};
use wua_types::{HResult, OperationResultCode, UpdateOperation};

/// How a reported state is stored.
pub(super) fn state_code(s: UpdateState) -> i64 {
    match s {
        UpdateState::Installed => 0,
        UpdateState::Needed => 1,
        UpdateState::Failed => 2,
        UpdateState::PendingReboot => 3,
        // Derived, never stored.
        UpdateState::NotApplicable => 4,
        UpdateState::NoStatus => 5,
    }
}

/// The stored state a code names.
pub(super) fn state_of(code: i64) -> Option<UpdateState> {
    Some(match code {
        0 => UpdateState::Installed,
        1 => UpdateState::Needed,
        2 => UpdateState::Failed,
        3 => UpdateState::PendingReboot,
        _ => return None,
    })
}

/// A stored row: state, HResult, and the time of the event that set it (the agent's clock,
/// Unix seconds): an event older than a row's does not change it, so batches that arrive out
/// of order (a retry overtaken by a newer batch) end in the state of the newest event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Row {
    pub(super) state: UpdateState,
    pub(super) hresult: Option<HResult>,
    pub(super) at: i64,
}

/// One computer's status while a batch of its events is applied.
#[derive(Debug)]
pub(super) struct Fleet {
    computer_id: String,
    group: String,
    scanned: bool,
    reboot_required: bool,
    needed: i64,
    failed: i64,
    before: (bool, bool, bool, bool),
}

impl Fleet {
    /// Loads a computer; `None` when it does not exist.
    pub(super) fn load(conn: &Connection, computer_id: &str) -> rusqlite::Result<Option<Fleet>> {
        conn.prepare_cached("SELECT group_name, scanned, reboot_required, needed, failed FROM computers WHERE id = ?1")?
            .query_row([computer_id], |r| {
                let (scanned, reboot_required, needed, failed): (bool, bool, i64, i64) =
                    (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
                Ok(Fleet {
                    computer_id: computer_id.to_owned(),
                    group: r.get(0)?,
                    scanned,
                    reboot_required,
                    needed,
                    failed,
                    before: (scanned, needed > 0, failed > 0, reboot_required),
                })
            })
            .optional()
    }

    /// The computer's stored rows.
    pub(super) fn rows(&self, conn: &Connection) -> rusqlite::Result<BTreeMap<String, Row>> {
        let mut stmt =
            conn.prepare_cached("SELECT update_id, state, hresult, at FROM computer_updates WHERE computer_id = ?1")?;
        let rows = stmt.query_map([&self.computer_id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, Option<i32>>(2)?, r.get::<_, i64>(3)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (id, code, hresult, at) = row?;
            if let Some(state) = state_of(code) {
                out.insert(id, Row { state, hresult: hresult.map(HResult), at });
            }
        }
        Ok(out)
    }

    fn row(&self, conn: &Connection, update_id: &str) -> rusqlite::Result<Option<Row>> {
        conn.prepare_cached(
            "SELECT state, hresult, at FROM computer_updates WHERE computer_id = ?1 AND update_id = ?2",
        )?
        .query_row(params![self.computer_id, update_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<i32>>(1)?, r.get::<_, i64>(2)?))
        })
        .optional()
        .map(|o| o.and_then(|(c, h, at)| state_of(c).map(|state| Row { state, hresult: h.map(HResult), at })))
    }

    /// Changes one update's row from `old` to `new` (`None`: no row), keeping every aggregate
    /// in step.
    pub(super) fn set(
        &mut self,
        conn: &Connection,
        update_id: &str,
        old: Option<Row>,
        new: Option<Row>,
    ) -> rusqlite::Result<()> {
        if old == new {
            return Ok(());
        }
        match new {
            Some(row) => {
                conn.prepare_cached(
                    "INSERT INTO computer_updates (computer_id, update_id, state, hresult, at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (computer_id, update_id) DO UPDATE SET state = excluded.state, hresult = excluded.hresult, at = excluded.at",
                )?
                .execute(params![self.computer_id, update_id, state_code(row.state), row.hresult.map(|h| h.0), row.at])?;
            }
            None => {
                conn.prepare_cached("DELETE FROM computer_updates WHERE computer_id = ?1 AND update_id = ?2")?
                    .execute(params![self.computer_id, update_id])?;
            }
        }
        let (o, n) = (old.map(|r| r.state), new.map(|r| r.state));
        if o == n {
            return Ok(());
        }
        let mut delta = [0i64; 4];
        for (state, sign) in [(o, -1), (n, 1)] {
            if let Some(s) = state {
                let i = state_code(s) as usize;
                delta[i] += sign;
                match s {
                    UpdateState::Needed => self.needed += sign,
                    UpdateState::Failed => self.failed += sign,
                    _ => {}
                }
            }
        }
        add_counts(conn, update_id, &self.group, delta)
    }

    /// Applies one event that happened at `at` (the agent's clock, Unix seconds).
    pub(super) fn apply(&mut self, conn: &Connection, event: &ReportBody, at: i64) -> rusqlite::Result<()> {
        match event {
            ReportBody::Scan { needed, installed } => {
                let old = self.rows(conn)?;
                let needed: BTreeSet<&str> = needed.iter().map(String::as_str).collect();
                let installed: BTreeSet<&str> = installed.iter().map(String::as_str).collect();
                let mut new: BTreeMap<&str, Row> = BTreeMap::new();
                for id in &needed {
                    // A failure stays a failure until an install succeeds: a scan still finds
                    // the update needed.
                    let prev = old.get(*id).copied();
                    let row = match prev {
                        Some(r) if r.state == UpdateState::Failed || r.at > at => r,
                        _ => Row { state: UpdateState::Needed, hresult: prev.and_then(|r| r.hresult), at },
                    };
                    new.insert(id, row);
                }
                for id in installed.difference(&needed) {
                    let prev = old.get(*id).copied();
                    let row = match prev {
                        Some(r) if r.at > at => r,
                        Some(r) if r.state == UpdateState::PendingReboot && self.reboot_required => r,
                        _ => Row { state: UpdateState::Installed, hresult: prev.and_then(|r| r.hresult), at },
                    };
                    new.insert(id, row);
                }
                for (id, row) in &old {
                    if !new.contains_key(id.as_str()) && row.at <= at {
                        self.set(conn, id, Some(*row), None)?;
                    }
                }
                for (id, row) in new {
                    self.set(conn, id, old.get(id).copied(), Some(row))?;
                }
                self.scanned = true;
            }
            ReportBody::Outcome { update_id, operation, result_code, hresult, reboot_required, .. } => {
                let old = self.row(conn, update_id)?;
                if old.is_some_and(|r| r.at > at) {
                    return Ok(());
                }
                let ok =
                    matches!(result_code, OperationResultCode::Succeeded | OperationResultCode::SucceededWithErrors);
                let new = match (operation, ok) {
                    (UpdateOperation::Installation, true) if *reboot_required => {
                        Some(Row { state: UpdateState::PendingReboot, hresult: Some(*hresult), at })
                    }
                    (UpdateOperation::Installation, true) => {
                        Some(Row { state: UpdateState::Installed, hresult: Some(*hresult), at })
                    }
                    // Uninstalled: what it is now is the next scan's to say.
                    (UpdateOperation::Uninstallation, true) => None,
                    (_, false) => Some(Row { state: UpdateState::Failed, hresult: Some(*hresult), at }),
                };
                self.set(conn, update_id, old, new)?;
                if *reboot_required && ok {
                    self.reboot_required = true;
                }
            }
            ReportBody::Reboot { required } => {
                self.reboot_required = *required;
                if !required {
                    for (id, row) in self.rows(conn)? {
                        if row.state == UpdateState::PendingReboot && row.at <= at {
                            self.set(conn, &id, Some(row), Some(Row { state: UpdateState::Installed, ..row }))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the computer's counters and adjusts its group's.
    pub(super) fn finish(self, conn: &Connection, at: i64) -> rusqlite::Result<()> {
        conn.prepare_cached(
            "UPDATE computers SET scanned = ?2, reboot_required = ?3, needed = ?4, failed = ?5, last_report = ?6 WHERE id = ?1",
        )?
        .execute(params![self.computer_id, self.scanned, self.reboot_required, self.needed, self.failed, at])?;
        let after = (self.scanned, self.needed > 0, self.failed > 0, self.reboot_required);
        let d = |a: bool, b: bool| i64::from(b) - i64::from(a);
        add_group(
            conn,
            &self.group,
            [
                0,
                d(self.before.0, after.0),
                d(self.before.1, after.1),
                d(self.before.2, after.2),
                d(self.before.3, after.3),
            ],
        )
    }

    /// Moves the computer's whole contribution from its group to `group` (or, with `None`,
    /// removes it: the computer is being deleted).
    pub(super) fn leave(self, conn: &Connection, group: Option<&str>) -> rusqlite::Result<()> {
        let rows = self.rows(conn)?;
        for (id, row) in &rows {
            let mut delta = [0i64; 4];
            delta[state_code(row.state) as usize] = 1;
            add_counts(conn, id, &self.group, delta.map(|x| -x))?;
            if let Some(g) = group {
                add_counts(conn, id, g, delta)?;
            }
        }
        let contribution = [
            1,
            i64::from(self.scanned),
            i64::from(self.needed > 0),
            i64::from(self.failed > 0),
            i64::from(self.reboot_required),
        ];
        add_group(conn, &self.group, contribution.map(|x| -x))?;
        if let Some(g) = group {
            add_group(conn, g, contribution)?;
        }
        Ok(())
    }
}

/// Adds `delta` (installed, needed, failed, pending reboot) to an update's counts in a group.
fn add_counts(conn: &Connection, update_id: &str, group: &str, delta: [i64; 4]) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO update_counts (update_id, group_name, installed, needed, failed, pending_reboot) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (update_id, group_name) DO UPDATE SET installed = installed + excluded.installed,
           needed = needed + excluded.needed, failed = failed + excluded.failed, pending_reboot = pending_reboot + excluded.pending_reboot",
    )?
    .execute(params![update_id, group, delta[0], delta[1], delta[2], delta[3]])?;
    Ok(())
}

/// Adds `delta` (computers, scanned, needing, failing, pending reboot) to a group's counters.
pub(super) fn add_group(conn: &Connection, group: &str, delta: [i64; 5]) -> rusqlite::Result<()> {
    if delta == [0; 5] {
        return Ok(());
    }
    conn.prepare_cached(
        "UPDATE groups SET computers = computers + ?2, scanned = scanned + ?3, needing = needing + ?4,
           failing = failing + ?5, pending_reboot = pending_reboot + ?6 WHERE name = ?1",
    )?
    .execute(params![group, delta[0], delta[1], delta[2], delta[3], delta[4]])?;
    Ok(())
}
