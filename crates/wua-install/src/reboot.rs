//! Pending-reboot detection (D-9): a reboot request is tied to the boot id it was made in;
//! after a reboot the id differs and the request is satisfied.

use std::path::PathBuf;

use wua_store::{PendingReboot, Tx};
use wua_types::{UpdateDocument, UpdateOperation};

use crate::Target;
use crate::error::InstallError;

/// Where the current boot id comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootIdSource {
    /// Linux's `/proc/sys/kernel/random/boot_id`.
    System,
    /// A file holding the id (tests simulate a reboot by rewriting it).
    File(PathBuf),
    /// A fixed id.
    Fixed(String),
}

impl BootIdSource {
    /// The current boot id; an unreadable source yields `"unknown"`, which never matches a
    /// recorded id once the source is readable again (a conservative "rebooted").
    pub fn current(&self) -> String {
        let read = |p: &std::path::Path| std::fs::read_to_string(p).map(|s| s.trim().to_owned()).ok();
        match self {
            BootIdSource::System => read("/proc/sys/kernel/random/boot_id".as_ref()),
            BootIdSource::File(p) => read(p),
            BootIdSource::Fixed(id) => Some(id.clone()),
        }
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
    }
}

/// Records, in the operation's transaction, that `doc`'s install or uninstall asked for a
/// reboot in this boot: it blocks further installs until the machine reboots (D-9).
pub(crate) fn record_pending_reboot(
    tx: &Tx<'_>,
    target: &Target<'_>,
    doc: &UpdateDocument,
    operation: UpdateOperation,
) -> Result<(), InstallError> {
    tx.add_pending_reboot(&PendingReboot {
        update_id: doc.update_id.clone(),
        operation,
        boot_id: target.boot_id.to_owned(),
        blocking: true,
    })?;
    Ok(())
}
