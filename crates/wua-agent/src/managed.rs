//! A managed server (`wua server`) as a service: registration with an enrolment key, check-in,
//! the reports the agent queues for it, and its state.
//!
//! Registering sends the machine id ([`crate::machine_id`]), the host name and the group the
//! agent's configuration asks for; the server answers with the computer's id, a token and the
//! computer's configuration (its group and check-in interval). The service is recorded as a
//! repository service is (its repository is `{server}/repo`, trusted by the root given), with
//! the registration beside it in the datastore and the token in its own file
//! ([`crate::token`]). One managed server per agent: registering again with the same server
//! keeps the service (and, the machine id being the same, the computer's identity on the
//! server) and replaces the token; another server is refused until the first is removed.
//!
//! Nothing the API answers decides what is installed: the group only picks which signed
//! approvals apply (D-27, `verify::refresh`).

use std::path::{Path, PathBuf};

use wua_store::{ManagedServerRecord, ServiceKind, ServiceRecord};
use wua_types::api::{AgentConfig, RegisterRequest, ReportBody};
use wua_types::{HResult, WuError};

use crate::server_client::{ServerClient, server_limits};
use crate::server_url::ServerUrl;
use crate::services::{UpdateService, UpdateServiceManager, check_root, invalid, unknown};
use crate::session::UpdateSession;

/// What [`UpdateServiceManager::add_managed_server`] registers with.
#[derive(Clone)]
pub struct ManagedServerRegistration {
    /// A name for people; by default `managed server <host>`.
    pub name: Option<String>,
    /// The server's base URL (`https://host:port`; plain `http://` only to loopback).
    pub server_url: String,
    /// The `root.json` the server's repository is trusted by.
    pub trusted_root: Vec<u8>,
    /// The enrolment key an administrator made (`wua_e_...`).
    pub enrolment_key: String,
    /// A PEM file of root certificates for the server's HTTPS, besides the platform's.
    pub ca_bundle: Option<PathBuf>,
    /// The group the agent asks for (client-side targeting), honoured when the key allows it.
    pub requested_group: Option<String>,
}

impl std::fmt::Debug for ManagedServerRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagedServerRegistration")
            .field("name", &self.name)
            .field("server_url", &self.server_url)
            .field("enrolment_key", &"<redacted>")
            .field("ca_bundle", &self.ca_bundle)
            .field("requested_group", &self.requested_group)
            .finish_non_exhaustive()
    }
}

/// The managed server this agent is registered with, as the agent last heard from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedServer {
    /// Its service's id.
    pub service_id: String,
    /// The server's base URL.
    pub server_url: String,
    /// The computer's id on the server.
    pub computer_id: String,
    /// The computer's group (it picks the signed approvals, D-27).
    pub group: String,
    /// How often the agent checks in.
    pub checkin_interval_seconds: u64,
    /// When it last checked in (RFC 3339); `None` before the first check-in.
    pub last_checkin: Option<String>,
    /// When it registered.
    pub registered_at: String,
    /// Reports waiting in the outbox.
    pub pending_reports: u64,
    /// Reports the server refused for good, kept as dead letters
    /// ([`UpdateServiceManager::dead_letters`]).
    pub dead_letters: u64,
}

impl ManagedServer {
    fn of(record: ManagedServerRecord, pending_reports: u64, dead_letters: u64) -> Self {
        ManagedServer {
            service_id: record.service_id,
            server_url: record.server_url,
            computer_id: record.computer_id,
            group: record.group,
            checkin_interval_seconds: record.checkin_interval_seconds,
            last_checkin: record.last_checkin,
            registered_at: record.registered_at,
            pending_reports,
            dead_letters,
        }
    }

    /// Whether a check-in is due at `now`: never checked in, the interval has passed since
    /// the last one, or the last one is in the future (the clock moved back) or unreadable.
    pub fn checkin_due(&self, now: time::OffsetDateTime) -> bool {
        let Some(last) = &self.last_checkin else { return true };
        let Ok(last) = time::OffsetDateTime::parse(last, &time::format_description::well_known::Rfc3339) else {
            return true;
        };
        let interval = time::Duration::seconds(i64::try_from(self.checkin_interval_seconds).unwrap_or(i64::MAX));
        last > now || last.saturating_add(interval) <= now
    }
}

impl UpdateServiceManager {
    /// Registers with a managed server and records it as a service (always non-volatile: its
    /// token outlives the session). A plain `http://` URL to a host that is not loopback is
    /// refused with `WUA_E_SERVER_INSECURE_URL` before any connection; a key the server
    /// refuses is its `WUA_E_SERVER_ENROLMENT`. Registering again with the same server keeps
    /// the service and replaces its token; another managed server is refused
    /// (`E_INVALIDARG`) until this one is removed.
    pub fn add_managed_server(&self, registration: &ManagedServerRegistration) -> Result<UpdateService, WuError> {
        let url = ServerUrl::parse(&registration.server_url, "an enrolment key")?;
        check_root(&registration.trusted_root)?;
        if registration.enrolment_key.trim().is_empty() {
            return Err(invalid("the enrolment key is empty"));
        }
        if let Some(group) = &registration.requested_group {
            if !wua_types::api::is_group_name(group) {
                return Err(invalid(format!(
                    "group {group:?}: use letters, digits, '.', '-', '_' (at most 64, not starting with '.')"
                )));
            }
        }
        let session = &self.session;
        session.require_writable("register with a managed server")?;
        let ca_bundle = match &registration.ca_bundle {
            Some(path) => Some(fs_err::canonicalize(path).map_err(|e| invalid(format!("CA bundle: {e}")))?),
            None => None,
        };
        let (existing, existing_record) = {
            let mut store = session.store();
            let tx = store.read()?;
            let managed = tx.managed_servers()?;
            if let Some(other) = managed.iter().find(|m| m.server_url != url.as_str()) {
                return Err(invalid(format!(
                    "this agent is registered with the managed server {} (service {}); remove that service \
                     first (`wua service remove {}`)",
                    other.server_url, other.service_id, other.service_id
                )));
            }
            let existing = managed.into_iter().next();
            let record = match &existing {
                Some(m) => tx.service(&m.service_id)?,
                None => None,
            };
            (existing, record)
        };
        let request = RegisterRequest {
            enrolment_key: registration.enrolment_key.trim().to_owned(),
            machine_id: crate::machine_id::machine_id(session.root(), session.state_dir())?,
            hostname: hostname(session.root()),
            requested_group: registration.requested_group.clone(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let client = ServerClient::new(&url, ca_bundle.clone(), server_limits())?;
        let answer = crate::runtime::block_on(client.register(&request))??;
        let service_id = match &existing {
            Some(m) => m.service_id.clone(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let dir = session.service_dir(&service_id);
        crate::token::write(&dir, &answer.token)?;
        let now = wua_store::now_rfc3339();
        let record = ServiceRecord {
            service_id: service_id.clone(),
            name: registration
                .name
                .clone()
                .or_else(|| existing_record.as_ref().map(|r| r.name.clone()))
                .unwrap_or_else(|| format!("managed server {}", host_of(&url))),
            kind: ServiceKind::ManagedServer,
            source: url.repository(),
            trusted_root: registration.trusted_root.clone(),
            ca_bundle: ca_bundle.map(|p| p.to_string_lossy().into_owned()),
            is_default: existing_record.as_ref().is_some_and(|r| r.is_default),
            added_at: existing_record.as_ref().map_or_else(|| now.clone(), |r| r.added_at.clone()),
        };
        let managed = ManagedServerRecord {
            service_id: service_id.clone(),
            server_url: url.as_str().to_owned(),
            computer_id: answer.computer_id.clone(),
            group: answer.config.group.clone(),
            checkin_interval_seconds: answer.config.checkin_interval_seconds,
            // The first scheduled run checks in (and scans) at once.
            last_checkin: None,
            reported_reboot: existing.as_ref().and_then(|m| m.reported_reboot),
            registered_at: now,
        };
        let recorded = session.store().transact(|tx| {
            tx.put_service(&record)?;
            tx.put_managed_server(&managed)
        });
        if let Err(e) = recorded {
            if existing.is_none() {
                // No service owns the token written above.
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Err(e.into());
        }
        tracing::info!(
            service = %service_id,
            server = %url.as_str(),
            computer = %answer.computer_id,
            group = %answer.config.group,
            "registered with a managed server"
        );
        Ok(UpdateService::of(&record, true, Some(&managed)))
    }

    /// The managed server this agent is registered with, if any.
    pub fn managed_server(&self) -> Result<Option<ManagedServer>, WuError> {
        let mut store = self.session.store();
        let tx = store.read()?;
        match tx.managed_servers()?.into_iter().next() {
            Some(record) => {
                let pending = tx.outbox_len(&record.service_id)?;
                let dead = tx.dead_letter_count(&record.service_id)?;
                Ok(Some(ManagedServer::of(record, pending, dead)))
            }
            None => Ok(None),
        }
    }

    /// Checks in with the managed server `service_id`: reads the computer's configuration and
    /// records its group and check-in interval, and the time.
    pub fn check_in(&self, service_id: &str) -> Result<AgentConfig, WuError> {
        self.session.require_writable("check in with a managed server")?;
        let (record, managed) = self.session.managed(service_id)?;
        let token = crate::token::read(&self.session.service_dir(service_id))?;
        let client = client_of(&record, &managed)?;
        let config = crate::runtime::block_on(client.config(&token))??;
        if config.computer_id != managed.computer_id {
            tracing::warn!(
                service = %service_id,
                recorded = %managed.computer_id,
                answered = %config.computer_id,
                "the server answered for another computer id"
            );
        }
        let now = wua_store::now_rfc3339();
        self.session
            .store()
            .transact(|tx| tx.set_checkin(service_id, &config.group, config.checkin_interval_seconds, &now))?;
        tracing::info!(service = %service_id, group = %config.group, "checked in with the managed server");
        Ok(config)
    }

    /// Queues a report for the managed server `service_id` (sent by the next
    /// [`UpdateServiceManager::flush_outbox`]); returns its idempotency key. Outcomes are
    /// queued by the history itself, in the transaction of the install or uninstall.
    pub fn enqueue_report(&self, service_id: &str, body: &ReportBody) -> Result<String, WuError> {
        self.session.require_writable("queue a report")?;
        self.session.managed(service_id)?;
        Ok(self.session.store().transact(|tx| tx.enqueue_event(service_id, body))?)
    }

    /// Queues a `reboot` report when `required` differs from the reboot state last queued for
    /// `service_id` (in one transaction); true when it queued one.
    pub fn report_reboot_state(&self, service_id: &str, required: bool) -> Result<bool, WuError> {
        self.session.require_writable("queue a report")?;
        self.session.managed(service_id)?;
        Ok(self.session.store().transact(|tx| {
            let last = tx.managed_server(service_id)?.and_then(|m| m.reported_reboot);
            if last == Some(required) {
                return Ok::<_, wua_store::StoreError>(false);
            }
            tx.enqueue_event(service_id, &ReportBody::Reboot { required })?;
            tx.set_reported_reboot(service_id, required)?;
            Ok(true)
        })?)
    }
}

impl UpdateSession {
    /// The service `service_id` and its registration; `WU_E_UNKNOWN_SERVICE` when there is no
    /// such service, `E_INVALIDARG` when it is not a managed server.
    pub(crate) fn managed(&self, service_id: &str) -> Result<(ServiceRecord, ManagedServerRecord), WuError> {
        let mut store = self.store();
        let tx = store.read()?;
        let record = tx.service(service_id)?.ok_or_else(|| unknown(service_id))?;
        let managed = tx
            .managed_server(service_id)?
            .filter(|_| record.kind == ServiceKind::ManagedServer)
            .ok_or_else(|| invalid(format!("service {service_id} is not a managed server")))?;
        Ok((record, managed))
    }
}

/// A client of the managed server of `record`, its URL checked again (the datastore is input
/// too).
pub(crate) fn client_of(record: &ServiceRecord, managed: &ManagedServerRecord) -> Result<ServerClient, WuError> {
    let url = ServerUrl::parse(&managed.server_url, "a token")?;
    Ok(ServerClient::new(&url, record.ca_bundle.as_ref().map(PathBuf::from), server_limits())?)
}

/// The host name, for people: the target root's `/etc/hostname`, else the kernel's.
fn hostname(root: &Path) -> String {
    [root.join("etc/hostname"), PathBuf::from("/proc/sys/kernel/hostname")]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|t| t.trim().to_owned())
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

fn host_of(url: &ServerUrl) -> String {
    url::Url::parse(url.as_str()).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

/// `WU_E_NO_SERVICE` for `ServerSelection::ManagedServer` with none registered.
pub(crate) fn no_managed_server() -> WuError {
    WuError::new(
        HResult::WU_E_NO_SERVICE,
        "no managed update server is configured on this machine (`wua service add --server URL ...`)",
    )
}
