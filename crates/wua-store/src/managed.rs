//! What the agent keeps of its registration with a managed server (`wua server`), beside the
//! service record: the computer's id and group, the check-in interval and when it last checked
//! in, and the reboot state it last reported. The token the server issued is a file of its own
//! (`<state>/services/<id>/token`, mode 0600) and never a row here: the datastore is created
//! with the umask and may be readable by others.

use rusqlite::params;

use crate::StoreError;
use crate::tx::Tx;

/// A managed server this agent registered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedServerRecord {
    /// The service it belongs to.
    pub service_id: String,
    /// The server's base URL (`https://host:port`, no trailing slash).
    pub server_url: String,
    /// The computer's id the server issued.
    pub computer_id: String,
    /// The computer's group: it picks the group's signed approvals (D-27).
    pub group: String,
    /// How often the agent checks in.
    pub checkin_interval_seconds: u64,
    /// When it last checked in (RFC 3339); `None` before the first check-in.
    pub last_checkin: Option<String>,
    /// The reboot state last put in the outbox; `None` before the first.
    pub reported_reboot: Option<bool>,
    /// When it registered (RFC 3339).
    pub registered_at: String,
}

const COLUMNS: &str = "service_id, server_url, computer_id, group_name, checkin_interval_seconds, last_checkin, \
                       reported_reboot, registered_at";

impl Tx<'_> {
    /// Records (or replaces) a registration.
    pub fn put_managed_server(&self, record: &ManagedServerRecord) -> Result<(), StoreError> {
        self.tx
            .execute(
                &format!("INSERT OR REPLACE INTO managed_servers ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    record.service_id,
                    record.server_url,
                    record.computer_id,
                    record.group,
                    i64::try_from(record.checkin_interval_seconds).unwrap_or(i64::MAX),
                    record.last_checkin,
                    record.reported_reboot,
                    record.registered_at,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every registration, by service id.
    pub fn managed_servers(&self) -> Result<Vec<ManagedServerRecord>, StoreError> {
        let mut stmt = self
            .tx
            .prepare(&format!("SELECT {COLUMNS} FROM managed_servers ORDER BY service_id"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ManagedServerRecord {
                    service_id: r.get(0)?,
                    server_url: r.get(1)?,
                    computer_id: r.get(2)?,
                    group: r.get(3)?,
                    checkin_interval_seconds: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    last_checkin: r.get(5)?,
                    reported_reboot: r.get(6)?,
                    registered_at: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The registration of one service.
    pub fn managed_server(&self, service_id: &str) -> Result<Option<ManagedServerRecord>, StoreError> {
        Ok(self.managed_servers()?.into_iter().find(|m| m.service_id == service_id))
    }

    /// Records a check-in: the group and interval the server answered, at `at`.
    pub fn set_checkin(
        &self,
        service_id: &str,
        group: &str,
        checkin_interval_seconds: u64,
        at: &str,
    ) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE managed_servers SET group_name = ?2, checkin_interval_seconds = ?3, last_checkin = ?4
                 WHERE service_id = ?1",
                params![service_id, group, i64::try_from(checkin_interval_seconds).unwrap_or(i64::MAX), at],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the reboot state last put in the outbox.
    pub fn set_reported_reboot(&self, service_id: &str, required: bool) -> Result<(), StoreError> {
        self.tx
            .execute(
                "UPDATE managed_servers SET reported_reboot = ?2 WHERE service_id = ?1",
                params![service_id, required],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The ids of the managed-server services, for the reports every history entry queues.
    pub(crate) fn managed_server_ids(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT service_id FROM services WHERE kind = ?1 ORDER BY service_id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![crate::ServiceKind::ManagedServer.as_str()], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}
