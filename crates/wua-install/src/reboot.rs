//! Pending-reboot detection (D-9): a reboot request is tied to the boot id it was made in;
//! after a reboot the id differs and the request is satisfied.

use std::path::PathBuf;

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
