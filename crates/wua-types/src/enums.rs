//! WUA's enumerations (reference section 8) with their exact numeric values.
//!
//! In JSON (documents, CLI output) an enum is written by its name without WUA's prefix
//! (`orcSucceeded` is `"Succeeded"`); `value()` gives WUA's number.

macro_rules! wua_enum {
    (
        $(#[$meta:meta])*
        $name:ident($prefix:ident) { $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),* $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[repr(i32)]
        pub enum $name {
            $(
                #[doc = concat!("WUA's `", stringify!($prefix), stringify!($variant), "` (", stringify!($value), ").")]
                $(#[$vmeta])*
                $variant = $value,
            )*
        }

        impl $name {
            /// Every variant, in WUA's order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            /// WUA's numeric value.
            pub fn value(self) -> i32 {
                self as i32
            }

            /// The variant with WUA's numeric value `value`.
            pub fn from_value(value: i32) -> Option<Self> {
                match value {
                    $( $value => Some($name::$variant), )*
                    _ => None,
                }
            }

            /// The variant's name as written in JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => stringify!($variant), )*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

wua_enum! {
    /// `OperationResultCode` (`orc*`).
    OperationResultCode(orc) { NotStarted = 0, InProgress = 1, Succeeded = 2, SucceededWithErrors = 3, Failed = 4, Aborted = 5 }
}
wua_enum! {
    /// `InstallationImpact` (`ii*`).
    InstallationImpact(ii) { Normal = 0, Minor = 1, RequiresExclusiveHandling = 2 }
}
wua_enum! {
    /// `InstallationRebootBehavior` (`irb*`).
    InstallationRebootBehavior(irb) { NeverReboots = 0, AlwaysRequiresReboot = 1, CanRequestReboot = 2 }
}
wua_enum! {
    /// `UpdateType` (`ut*`).
    UpdateType(ut) { Software = 1, Driver = 2 }
}
wua_enum! {
    /// `UpdateOperation` (`uo*`).
    UpdateOperation(uo) { Installation = 1, Uninstallation = 2 }
}
wua_enum! {
    /// `DeploymentAction` (`da*`).
    DeploymentAction(da) { None = 0, Installation = 1, Uninstallation = 2, Detection = 3, OptionalInstallation = 4 }
}
wua_enum! {
    /// `DownloadPriority` (`dp*`).
    DownloadPriority(dp) { Low = 1, Normal = 2, High = 3, ExtraHigh = 4 }
}
wua_enum! {
    /// `DownloadPhase` (`dph*`), 1-based as in the SDK metadata (D-32).
    DownloadPhase(dph) { Initializing = 1, Downloading = 2, Verifying = 3 }
}
wua_enum! {
    /// `UpdateExceptionContext` (`uec*`).
    UpdateExceptionContext(uec) { General = 1, WindowsDriver = 2, WindowsInstaller = 3, SearchIncomplete = 4 }
}
wua_enum! {
    /// `ServerSelection` (`ss*`).
    ServerSelection(ss) { Default = 0, ManagedServer = 1, WindowsUpdate = 2, Others = 3 }
}
wua_enum! {
    /// `AutoSelectionMode` (`as*`).
    AutoSelectionMode(as) { LetWindowsUpdateDecide = 0, AutoSelectIfDownloaded = 1, NeverAutoSelect = 2, AlwaysAutoSelect = 3 }
}
wua_enum! {
    /// `AutoDownloadMode` (`ad*`).
    AutoDownloadMode(ad) { LetWindowsUpdateDecide = 0, NeverAutoDownload = 1, AlwaysAutoDownload = 2 }
}
wua_enum! {
    /// `SearchScope` (`searchScope*`).
    SearchScope(searchScope) { Default = 0, MachineOnly = 1, CurrentUserOnly = 2, MachineAndCurrentUser = 3, MachineAndAllUsers = 4, AllUsers = 5 }
}
wua_enum! {
    /// `AddServiceFlag` (`asf*`), bit flags.
    AddServiceFlag(asf) { AllowPendingRegistration = 1, AllowOnlineRegistration = 2, RegisterServiceWithAU = 4 }
}
wua_enum! {
    /// `UpdateServiceOption` (`uso*`).
    UpdateServiceOption(uso) { NonVolatileService = 1 }
}
wua_enum! {
    /// `UpdateServiceRegistrationState` (`usrs*`).
    UpdateServiceRegistrationState(usrs) { NotRegistered = 1, RegistrationPending = 2, Registered = 3 }
}
wua_enum! {
    /// `UpdateLockdownOption` (`ulo*`).
    UpdateLockdownOption(ulo) { ForWebsiteAccess = 1 }
}
wua_enum! {
    /// `AutomaticUpdatesNotificationLevel` (`aunl*`).
    AutomaticUpdatesNotificationLevel(aunl) { NotConfigured = 0, Disabled = 1, NotifyBeforeDownload = 2, NotifyBeforeInstallation = 3, ScheduledInstallation = 4 }
}
wua_enum! {
    /// `AutomaticUpdatesScheduledInstallationDay` (`ausid*`).
    AutomaticUpdatesScheduledInstallationDay(ausid) { EveryDay = 0, EverySunday = 1, EveryMonday = 2, EveryTuesday = 3, EveryWednesday = 4, EveryThursday = 5, EveryFriday = 6, EverySaturday = 7 }
}
wua_enum! {
    /// `AutomaticUpdatesUserType` (`auut*`).
    AutomaticUpdatesUserType(auut) { CurrentUser = 1, LocalAdministrator = 2 }
}
wua_enum! {
    /// `AutomaticUpdatesPermissionType` (`aupt*`).
    AutomaticUpdatesPermissionType(aupt) { SetNotificationLevel = 1, DisableAutomaticUpdates = 2, SetIncludeRecommendedUpdates = 3, SetFeaturedUpdatesEnabled = 4, SetNonAdministratorsElevated = 5 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_the_reference() {
        assert_eq!(OperationResultCode::Aborted.value(), 5);
        assert_eq!(OperationResultCode::from_value(3), Some(OperationResultCode::SucceededWithErrors));
        assert_eq!(InstallationImpact::RequiresExclusiveHandling.value(), 2);
        assert_eq!(InstallationRebootBehavior::CanRequestReboot.value(), 2);
        assert_eq!(UpdateType::Driver.value(), 2);
        assert_eq!(DeploymentAction::OptionalInstallation.value(), 4);
        assert_eq!(DownloadPhase::Verifying.value(), 3);
        assert_eq!(ServerSelection::Others.value(), 3);
        assert_eq!(SearchScope::AllUsers.value(), 5);
        assert_eq!(AutomaticUpdatesScheduledInstallationDay::EverySaturday.value(), 7);
        assert_eq!(OperationResultCode::from_value(6), None);
    }

    #[test]
    fn json_uses_names() {
        let s = serde_json::to_string(&OperationResultCode::SucceededWithErrors).unwrap();
        assert_eq!(s, "\"SucceededWithErrors\"");
        for v in OperationResultCode::ALL {
            let back: OperationResultCode = serde_json::from_str(&format!("\"{}\"", v.name())).unwrap();
            assert_eq!(back, *v);
        }
    }
}
