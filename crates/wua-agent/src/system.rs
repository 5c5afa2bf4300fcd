//! `ISystemInformation`.

use wua_types::WuError;

use crate::session::UpdateSession;

/// `ISystemInformation`.
#[derive(Clone, Debug)]
pub struct SystemInformation {
    session: UpdateSession,
}

impl SystemInformation {
    pub(crate) fn new(session: UpdateSession) -> Self {
        SystemInformation { session }
    }

    /// `RebootRequired`: any reboot an install or uninstall asked for in this boot, including
    /// `CanRequestReboot` requests (D-9).
    pub fn reboot_required(&self) -> Result<bool, WuError> {
        let boot = self.session.inner.boot_id.current();
        Ok(!self.session.store().read()?.pending_reboots(&boot)?.is_empty())
    }

    /// `OemHardwareSupportLink`: none on Linux.
    pub fn oem_hardware_support_link(&self) -> String {
        String::new()
    }
}
