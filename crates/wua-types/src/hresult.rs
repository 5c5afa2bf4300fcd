//! `HResult`: WUA's status codes, their names and short messages, and wua's own block.
//!
//! Values are exactly WUA's (reference section 9). Codes wua invents set the HRESULT customer
//! bit (`0xA024xxxx`, decisions D-2), one block per component:
//!
//! | block | component |
//! |---|---|
//! | `0xA0241xxx` | package, manifest and metadata document |
//! | `0xA0242xxx` | journal and handlers (changes to the target root) |
//! | `0xA0243xxx` | agent datastore and state directory |
//! | `0xA0244xxx` | trust and the signed repository |
//! | `0xA0245xxx` | server API |
//!
//! `docs/hresults.md` lists every code of the table below; a test keeps the two in step.

use std::fmt;

/// A 32-bit HRESULT, signed as WUA's `LONG` fields are (`0x80240016` is `-2145124330`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HResult(pub i32);

macro_rules! hresults {
    ($( $name:ident = $value:literal, $msg:literal; )*) => {
        impl HResult {
            $(
                #[doc = $msg]
                pub const $name: HResult = HResult($value as u32 as i32);
            )*
        }

        /// Every named code: (code, name, short message).
        pub(crate) const ALL_CODES: &[(HResult, &str, &str)] = &[
            $( (HResult::$name, stringify!($name), $msg), )*
        ];
    };
}

hresults! {
    // Generic COM codes the reference cites.
    S_OK = 0x0000_0000, "success";
    E_POINTER = 0x8000_4003, "invalid pointer";
    E_INVALIDARG = 0x8007_0057, "invalid argument";
    E_ACCESSDENIED = 0x8007_0005, "access denied";
    COR_E_DIRECTORYNOTFOUND = 0x8007_0003, "directory not found";
    STG_E_PATHNOTFOUND = 0x8003_0003, "path not found";
    TYPE_E_ELEMENTNOTFOUND = 0x8002_802B, "element not found";

    // 9.1 success codes.
    WU_S_SERVICE_STOP = 0x0024_0001, "the agent stopped cleanly";
    WU_S_SELFUPDATE = 0x0024_0002, "the agent updated itself";
    WU_S_UPDATE_ERROR = 0x0024_0003, "the operation finished but some updates had errors";
    WU_S_MARKED_FOR_DISCONNECT = 0x0024_0004, "callback disconnect deferred while a callback was running";
    WU_S_REBOOT_REQUIRED = 0x0024_0005, "a restart is needed to finish installing";
    WU_S_ALREADY_INSTALLED = 0x0024_0006, "the update to install is already installed";
    WU_S_ALREADY_UNINSTALLED = 0x0024_0007, "the update to remove is not installed";
    WU_S_ALREADY_DOWNLOADED = 0x0024_0008, "the update to download is already downloaded";
    WU_S_UH_INSTALLSTILLPENDING = 0x0024_2015, "the installation of the update is still pending";

    // 9.2 general errors.
    WU_E_NO_SERVICE = 0x8024_0001, "the agent could not provide the service";
    WU_E_MAX_CAPACITY_REACHED = 0x8024_0002, "the service capacity is exceeded";
    WU_E_UNKNOWN_ID = 0x8024_0003, "an ID was not found";
    WU_E_NOT_INITIALIZED = 0x8024_0004, "the object could not be initialized";
    WU_E_RANGEOVERLAP = 0x8024_0005, "a handler asked for an overlapping byte range";
    WU_E_TOOMANYRANGES = 0x8024_0006, "more byte ranges than 2^31-1";
    WU_E_INVALIDINDEX = 0x8024_0007, "invalid collection index";
    WU_E_ITEMNOTFOUND = 0x8024_0008, "the key of the queried item was not found";
    WU_E_OPERATIONINPROGRESS = 0x8024_0009, "a conflicting operation is running";
    WU_E_COULDNOTCANCEL = 0x8024_000A, "cancellation was refused";
    WU_E_CALL_CANCELLED = 0x8024_000B, "the operation was cancelled";
    WU_E_NOOP = 0x8024_000C, "nothing to do";
    WU_E_XML_MISSINGDATA = 0x8024_000D, "required data is missing from the update metadata";
    WU_E_XML_INVALID = 0x8024_000E, "invalid data in the update metadata";
    WU_E_CYCLE_DETECTED = 0x8024_000F, "circular update relationships";
    WU_E_TOO_DEEP_RELATION = 0x8024_0010, "the relationship chain is too deep";
    WU_E_INVALID_RELATIONSHIP = 0x8024_0011, "invalid update relationship";
    WU_E_REG_VALUE_INVALID = 0x8024_0012, "an invalid registry value was read";
    WU_E_DUPLICATE_ITEM = 0x8024_0013, "a duplicate was added to a list";
    WU_E_INVALID_INSTALL_REQUESTED = 0x8024_0014, "the requested updates cannot be installed by the caller";
    WU_E_INSTALL_NOT_ALLOWED = 0x8024_0016, "installation is not allowed now (another one is running or a restart is pending)";
    WU_E_NOT_APPLICABLE = 0x8024_0017, "no applicable updates";
    WU_E_NO_USERTOKEN = 0x8024_0018, "a required user token is missing";
    WU_E_EXCLUSIVE_INSTALL_CONFLICT = 0x8024_0019, "an update that needs exclusive handling was combined with others";
    WU_E_POLICY_NOT_SET = 0x8024_001A, "a policy value is not set";
    WU_E_SELFUPDATE_IN_PROGRESS = 0x8024_001B, "the agent is updating itself";
    WU_E_INVALID_UPDATE = 0x8024_001D, "the update metadata is invalid";
    WU_E_SERVICE_STOP = 0x8024_001E, "the service or system is shutting down";
    WU_E_NO_CONNECTION = 0x8024_001F, "the network is not available";
    WU_E_NO_INTERACTIVE_USER = 0x8024_0020, "no interactive user is logged on";
    WU_E_TIME_OUT = 0x8024_0021, "the operation timed out";
    WU_E_ALL_UPDATES_FAILED = 0x8024_0022, "the operation failed for every update";
    WU_E_EULAS_DECLINED = 0x8024_0023, "the license terms were not accepted";
    WU_E_NO_UPDATE = 0x8024_0024, "there are no updates (the collection is unset or empty)";
    WU_E_USER_ACCESS_DISABLED = 0x8024_0025, "policy blocks access to updates";
    WU_E_INVALID_UPDATE_TYPE = 0x8024_0026, "invalid update type";
    WU_E_URL_TOO_LONG = 0x8024_0027, "the URL is too long";
    WU_E_UNINSTALL_NOT_ALLOWED = 0x8024_0028, "uninstall is not allowed";
    WU_E_INVALID_PRODUCT_LICENSE = 0x8024_0029, "the search may be incomplete because of an unlicensed product";
    WU_E_MISSING_HANDLER = 0x8024_002A, "a detection component is missing";
    WU_E_LEGACYSERVER = 0x8024_002B, "a newer server is needed";
    WU_E_BIN_SOURCE_ABSENT = 0x8024_002C, "a delta update needs its source";
    WU_E_SOURCE_ABSENT = 0x8024_002D, "a full-file update needs its source";
    WU_E_WU_DISABLED = 0x8024_002E, "access to the unmanaged server is not allowed";
    WU_E_CALL_CANCELLED_BY_POLICY = 0x8024_002F, "the call was cancelled by policy";
    WU_E_INVALID_PROXY_SERVER = 0x8024_0030, "malformed proxy list";
    WU_E_INVALID_FILE = 0x8024_0031, "the file is in the wrong format";
    WU_E_INVALID_CRITERIA = 0x8024_0032, "invalid search criteria";
    WU_E_EULA_UNAVAILABLE = 0x8024_0033, "the license terms could not be found";
    WU_E_DOWNLOAD_FAILED = 0x8024_0034, "the update failed to download";
    WU_E_UPDATE_NOT_PROCESSED = 0x8024_0035, "the update was not processed";
    WU_E_INVALID_OPERATION = 0x8024_0036, "the object's state does not allow the operation";
    WU_E_NOT_SUPPORTED = 0x8024_0037, "the functionality is not supported";
    WU_E_TOO_MANY_RESYNC = 0x8024_0039, "the server asked for too many resyncs";
    WU_E_NO_SERVER_CORE_SUPPORT = 0x8024_0040, "the method is not available on this edition";
    WU_E_SYSPREP_IN_PROGRESS = 0x8024_0041, "not available while the system is being prepared";
    WU_E_UNKNOWN_SERVICE = 0x8024_0042, "the service is no longer registered";
    WU_E_NO_UI_SUPPORT = 0x8024_0043, "no user interface is supported";
    WU_E_PER_MACHINE_UPDATE_ACCESS_DENIED = 0x8024_0044, "only administrators may act on per-machine updates";
    WU_E_UNSUPPORTED_SEARCHSCOPE = 0x8024_0045, "the search scope is not supported";
    WU_E_BAD_FILE_URL = 0x8024_0046, "the URL is not a file";
    WU_E_NOTSUPPORTED = 0x8024_0047, "the requested operation is not supported";
    WU_E_INVALID_NOTIFICATION_INFO = 0x8024_0048, "invalid notification information";
    WU_E_OUTOFRANGE = 0x8024_0049, "data out of range";
    WU_E_SETUP_IN_PROGRESS = 0x8024_004A, "operating system setup is running";
    WU_E_UNEXPECTED = 0x8024_0FFF, "an unexpected failure";

    // 9.3 supplementary codes.
    WU_E_DM_URLNOTAVAILABLE = 0x8024_6001, "the file has no URL";
    WU_E_DM_INCORRECTFILEHASH = 0x8024_6002, "the content does not match its hash or size";
    WU_E_DM_NONETWORK = 0x8024_6005, "a download was attempted without network";
    WU_E_DM_NOTDOWNLOADED = 0x8024_6007, "the update is not downloaded";
    WU_E_DM_BITSTRANSFERERROR = 0x8024_6009, "a transfer error";
    WU_E_DM_CONTENTCHANGED = 0x8024_600B, "the revision changed; restart the download";
    WU_E_DM_UNEXPECTED = 0x8024_6FFF, "an unexpected download error";
    WU_E_UH_UNKNOWNHANDLER = 0x8024_2002, "the installation handler is not recognized";
    WU_E_UH_DOESNOTSUPPORTACTION = 0x8024_2004, "the update does not support the requested action";
    WU_E_UH_WRONGHANDLER = 0x8024_2005, "the wrong handler";
    WU_E_UH_INVALIDMETADATA = 0x8024_2006, "invalid metadata for the handler";
    WU_E_UH_INSTALLERHUNG = 0x8024_2007, "the installer exceeded its time limit";
    WU_E_UH_OPERATIONCANCELLED = 0x8024_2008, "the handler's operation was cancelled";
    WU_E_UH_BADHANDLERXML = 0x8024_2009, "the handler-specific metadata is invalid";
    WU_E_UH_CANREQUIREINPUT = 0x8024_200A, "the update may need user input";
    WU_E_UH_INSTALLERFAILURE = 0x8024_200B, "the installer failed";
    WU_E_UH_FALLBACKTOSELFCONTAINED = 0x8024_200C, "use the full content instead of a delta";
    WU_E_UH_NEEDANOTHERDOWNLOAD = 0x8024_200D, "download again, then reinstall";
    WU_E_UH_NOTIFYFAILURE = 0x8024_200E, "the handler could not report its status";
    WU_E_UH_POSTREBOOTSTILLPENDING = 0x8024_2014, "the post-restart phase is still running";
    WU_E_UH_POSTREBOOTRESULTUNKNOWN = 0x8024_2015, "the post-restart outcome is unknown";
    WU_E_UH_NEW_SERVICING_STACK_REQUIRED = 0x8024_2017, "a servicing stack update is needed first";
    WU_E_UH_CALLED_BACK_FAILURE = 0x8024_2018, "a handler callback failed";
    WU_E_UH_UNEXPECTED = 0x8024_2FFF, "an unexpected handler error";
    WU_E_DS_SERVICEEXPIRED = 0x8024_8015, "the service authorization has expired";
    WU_E_DS_DECLINENOTALLOWED = 0x8024_8016, "a mandatory update or one with a deadline cannot be hidden";
    WU_E_DS_INVALIDOPERATION = 0x8024_801A, "the state change contradicts the service authorization";
    WU_E_AU_NOSERVICE = 0x8024_A000, "automatic updates is not available";
    WU_E_AU_PAUSED = 0x8024_A004, "automatic updates is paused";
    WU_E_REBOOT_IN_PROGRESS = 0x8024_A007, "a restart is in progress";

    // Networking codes (WUA Networking Error Codes): an HTTP error status, as WUA reports it.
    WU_E_PT_HTTP_STATUS_BAD_REQUEST = 0x8024_4016, "HTTP 400: the server could not process the request";
    WU_E_PT_HTTP_STATUS_DENIED = 0x8024_4017, "HTTP 401: the resource requires authentication";
    WU_E_PT_HTTP_STATUS_FORBIDDEN = 0x8024_4018, "HTTP 403: the server declines to fulfil the request";
    WU_E_PT_HTTP_STATUS_NOT_FOUND = 0x8024_4019, "HTTP 404: the server cannot find the requested URI";
    WU_E_PT_HTTP_STATUS_BAD_METHOD = 0x8024_401A, "HTTP 405: the HTTP method is not allowed";
    WU_E_PT_HTTP_STATUS_PROXY_AUTH_REQ = 0x8024_401B, "HTTP 407: proxy authentication is required";
    WU_E_PT_HTTP_STATUS_REQUEST_TIMEOUT = 0x8024_401C, "HTTP 408: the server timed out waiting for the request";
    WU_E_PT_HTTP_STATUS_CONFLICT = 0x8024_401D, "HTTP 409: a conflict with the current state of the resource";
    WU_E_PT_HTTP_STATUS_GONE = 0x8024_401E, "HTTP 410: the resource is no longer available";
    WU_E_PT_HTTP_STATUS_SERVER_ERROR = 0x8024_401F, "HTTP 500: an internal server error";
    WU_E_PT_HTTP_STATUS_NOT_SUPPORTED = 0x8024_4020, "HTTP 501: the server does not support the function";
    WU_E_PT_HTTP_STATUS_BAD_GATEWAY = 0x8024_4021, "HTTP 502: a bad response from an upstream server";
    WU_E_PT_HTTP_STATUS_SERVICE_UNAVAIL = 0x8024_4022, "HTTP 503: the service is temporarily overloaded";
    WU_E_PT_HTTP_STATUS_GATEWAY_TIMEOUT = 0x8024_4023, "HTTP 504: the request timed out waiting for a gateway";
    WU_E_PT_HTTP_STATUS_VERSION_NOT_SUP = 0x8024_4024, "HTTP 505: the HTTP version is not supported";
    WU_E_PT_HTTP_STATUS_NOT_MAPPED = 0x8024_402B, "the HTTP request failed for a reason no WU_E_PT_HTTP_STATUS_* code names";

    // WinHTTP and WinINet codes WUA reports as they are (HRESULT_FROM_WIN32).
    WININET_E_TIMEOUT = 0x8007_2EE2, "the server did not answer in time (a time-out, or a transfer slower than the minimum rate)";

    // wua's own block, package (0xA0241xxx).
    WUA_E_PACKAGE_TRUNCATED = 0xA024_1001, "the package file is truncated";
    WUA_E_PACKAGE_MALFORMED = 0xA024_1002, "the package file is not a valid wua package";
    WUA_E_PACKAGE_UNSAFE_PATH = 0xA024_1003, "a content path is unsafe (absolute, '..', empty or reserved)";
    WUA_E_PACKAGE_DUPLICATE_PATH = 0xA024_1004, "two content entries have the same path";
    WUA_E_PACKAGE_PATH_CONFLICT = 0xA024_1005, "a content path is used both as a file and as a directory";
    WUA_E_PACKAGE_HASH_MISMATCH = 0xA024_1006, "a blob does not match the SHA-256 or size its document gives";
    WUA_E_PACKAGE_MISSING_BLOB = 0xA024_1007, "a blob the document lists is not in the package";
    WUA_E_MANIFEST_INVALID = 0xA024_1008, "the publishing manifest is invalid";
    WUA_E_DOCUMENT_INVALID = 0xA024_1009, "the update metadata document is invalid";
    WUA_E_PAYLOAD_INVALID = 0xA024_100A, "the payload directory cannot be packaged";
    WUA_E_PACKAGE_TOO_LARGE = 0xA024_100B, "the package declares more content than the size limit or the free space allows";

    // wua's own block, journal and handlers (0xA0242xxx).
    WUA_E_OPERATION_INTERRUPTED = 0xA024_2001, "the operation was interrupted (crash or power loss) and rolled back";
    WUA_E_FILE_CONFLICT = 0xA024_2002, "a file belongs to another installed update";
    WUA_E_PATH_ESCAPES_ROOT = 0xA024_2003, "a target path leads outside the target root";
    WUA_E_TARGET_TYPE_CONFLICT = 0xA024_2004, "a target path exists with another type (file over directory or directory over file)";
    WUA_E_INSTALL_IO = 0xA024_2005, "an I/O error while changing the target root";
    WUA_E_LOCK_IO = 0xA024_2006, "a lock file could not be opened or written";
    WUA_E_ROOT_MISMATCH = 0xA024_2007, "the state directory belongs to another target root";

    // wua's own block, datastore (0xA0243xxx).
    WUA_E_STATE_DIR = 0xA024_3001, "the state directory cannot be used";
    WUA_E_STORE = 0xA024_3002, "the agent datastore failed";
    WUA_E_STORE_TOO_NEW = 0xA024_3003, "the agent datastore was written by a newer wua";
    WUA_E_CACHE_IO = 0xA024_3004, "the content cache could not be read or written";
    WUA_E_REVISION_CONFLICT = 0xA024_3005, "another document is already recorded under this update id and revision";
    WUA_E_STORE_TOO_OLD = 0xA024_3006, "the agent datastore has an older schema; a writing command run once brings it up to date";
    WUA_E_CACHE_BUSY = 0xA024_3007, "downloads or installs are using the content cache; clean it when they are done";

    // wua's own block, trust and repository (0xA0244xxx).
    WUA_E_TRUST_IO = 0xA024_4001, "the repository or the trusted state could not be read or written";
    WUA_E_TRUST_KEY = 0xA024_4002, "a signing key is missing, unreadable or not one the role lists";
    WUA_E_TRUST_EXPIRED = 0xA024_4003, "repository metadata has expired (a freeze attack, or a repository not re-signed in time)";
    WUA_E_TRUST_ROLLBACK = 0xA024_4004, "repository metadata is older than what is already trusted (a rollback attack)";
    WUA_E_TRUST_MIX_AND_MATCH = 0xA024_4005, "metadata does not match the snapshot or timestamp that lists it (a mix-and-match attack)";
    WUA_E_TRUST_HASH_MISMATCH = 0xA024_4006, "a pack or blob does not match its signed hash (arbitrary content)";
    WUA_E_TRUST_TOO_LARGE = 0xA024_4007, "a file is longer than its signed length or the limit (an endless-data attack)";
    WUA_E_TRUST_SIGNATURE = 0xA024_4008, "signatures do not meet the role's threshold or come from keys the role does not list";
    WUA_E_TRUST_METADATA = 0xA024_4009, "repository metadata or a catalog pack is malformed";
    WUA_E_REPO_LOCKED = 0xA024_400A, "another writer holds the repository lock";
    WUA_E_REPO_INVALID = 0xA024_400B, "the directory is not a wua repository, or a publishing input is invalid";
    WUA_E_REPO_WRITE = 0xA024_400C, "the repository could not be written (signing or writing its metadata failed)";
    WUA_E_TRUST_STATE_CORRUPT = 0xA024_400D, "a file of the agent's trusted state is empty or torn (a power loss?); the state is not trusted";
    WUA_E_TRUST_BUSY = 0xA024_400E, "another refresh holds the trusted state's refresh lock";
    WUA_E_TRUST_CLOCK = 0xA024_400F, "the system clock is earlier than at a previous refresh (a clock moved backwards)";
    WUA_E_TRUST_IDENTITY = 0xA024_4010, "the repository changed identity (re-created under the same address); `wua service reset ID` clears the service's trusted state";
    WUA_E_REPO_MANAGED = 0xA024_4011, "the repository is managed by a wua server: its approvals change only through the server's API";

    // wua's own block, server API (0xA0245xxx).
    WUA_E_SERVER_UNAUTHORIZED = 0xA024_5001, "the request carries no token, or one the server does not know (HTTP 401)";
    WUA_E_SERVER_FORBIDDEN = 0xA024_5002, "the token is valid but may not call this route or act for this computer (HTTP 403)";
    WUA_E_SERVER_BAD_REQUEST = 0xA024_5003, "the request is malformed: bad JSON, a missing or invalid field (HTTP 400), or a method the route does not take (HTTP 405)";
    WUA_E_SERVER_NOT_FOUND = 0xA024_5004, "no such computer, group, key, token or update (HTTP 404)";
    WUA_E_SERVER_TOO_LARGE = 0xA024_5005, "the request body is larger than the route allows (HTTP 413)";
    WUA_E_SERVER_CONFLICT = 0xA024_5006, "the request conflicts with the server's state, e.g. the group exists or is not empty (HTTP 409)";
    WUA_E_SERVER_STORAGE = 0xA024_5007, "the server's database failed; the request was not applied and may be retried (HTTP 500)";
    WUA_E_SERVER_UNAVAILABLE = 0xA024_5008, "the server is shutting down or overloaded; retry later (HTTP 503)";
    WUA_E_SERVER_ENROLMENT = 0xA024_5009, "the enrolment key is unknown, expired or revoked (HTTP 401)";
    WUA_E_SERVER_INSECURE_URL = 0xA024_500A, "a token would travel over plain HTTP to a host that is not loopback; use https";
    WUA_E_SERVER_TIMEOUT = 0xA024_500B, "the request took longer than the route allows (HTTP 408)";
    WUA_E_SERVER_REPOSITORY = 0xA024_500C, "the server could not change or read its repository (approvals, re-signing)";
    WUA_E_SERVER_CONFIG = 0xA024_500D, "the server's configuration or data directory is invalid";
    WUA_E_SERVER_PROTOCOL = 0xA024_500E, "the server's answer is not what the API defines (a wrong server, or a newer one)";

    // wua's own block, services, search and download (0xA0246xxx).
    WUA_E_CATALOG_ENTRY_SKIPPED = 0xA024_6001, "a catalog entry this agent does not understand was skipped (a search warning: it comes from a newer publisher)";
    WUA_E_NOT_SYNCED = 0xA024_6002, "the service's catalog was never synced; search online first";
    WUA_E_DOCUMENT_TOO_NEW = 0xA024_6003, "the update document needs a newer schema than this agent reads; update wua";
}

impl HResult {
    /// The numeric value as WUA's unsigned hex spelling, e.g. `0x80240016`.
    pub fn hex(self) -> String {
        format!("0x{:08X}", self.0 as u32)
    }

    /// The constant's name, or `None` for a code outside the table.
    pub fn name(self) -> Option<&'static str> {
        ALL_CODES.iter().find(|(c, _, _)| *c == self).map(|(_, n, _)| *n)
    }

    /// The short message of a named code.
    pub fn message(self) -> Option<&'static str> {
        ALL_CODES.iter().find(|(c, _, _)| *c == self).map(|(_, _, m)| *m)
    }

    /// The name, or the hex spelling for an unnamed code.
    pub fn name_or_hex(self) -> String {
        self.name().map_or_else(|| self.hex(), str::to_owned)
    }

    /// The three JSON fields D-2 asks for: `hresult`, `hresult_name`, `hresult_hex`.
    pub fn json_fields(self) -> serde_json::Map<String, serde_json::Value> {
        let mut map = serde_json::Map::new();
        map.insert("hresult".into(), self.0.into());
        map.insert("hresult_name".into(), self.name_or_hex().into());
        map.insert("hresult_hex".into(), self.hex().into());
        map
    }
}

impl fmt::Display for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.hex()),
            None => f.write_str(&self.hex()),
        }
    }
}

impl fmt::Debug for HResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for HResult {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for HResult {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i32::deserialize(d).map(HResult)
    }
}

/// A call-level failure (D-1): an `HResult` plus a message with the context (path, update id,
/// pid). Displays as `WU_E_INSTALL_NOT_ALLOWED (0x80240016): another installation is running
/// (pid 4242)` (D-2).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{hresult}: {message}")]
pub struct WuError {
    /// The code callers match on.
    pub hresult: HResult,
    /// What went wrong, with its context.
    pub message: String,
}

impl WuError {
    /// An error with `hresult` and a context message.
    pub fn new(hresult: HResult, message: impl Into<String>) -> Self {
        WuError { hresult, message: message.into() }
    }
}

impl fmt::Debug for WuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn values_are_wuas() {
        assert_eq!(HResult::WU_E_INSTALL_NOT_ALLOWED.0 as u32, 0x8024_0016);
        assert_eq!(HResult::WU_E_INSTALL_NOT_ALLOWED.0, -2_145_124_330);
        assert_eq!(HResult::WU_E_UH_NEEDANOTHERDOWNLOAD.0, -2_145_116_147);
        assert_eq!(HResult::WU_S_ALREADY_INSTALLED.0, 0x0024_0006);
        assert_eq!(HResult::E_ACCESSDENIED.hex(), "0x80070005");
    }

    #[test]
    fn names_and_values_are_unique() {
        let values: HashSet<_> = ALL_CODES.iter().map(|(c, _, _)| *c).collect();
        let names: HashSet<_> = ALL_CODES.iter().map(|(_, n, _)| *n).collect();
        assert_eq!(values.len(), ALL_CODES.len());
        assert_eq!(names.len(), ALL_CODES.len());
    }

    /// D-2: wua's own codes never use the WU facility's `0x8024xxxx` space; they set the
    /// customer bit.
    #[test]
    fn d2_own_codes_use_the_customer_bit() {
        for (code, name, _) in ALL_CODES {
            let v = code.0 as u32;
            if name.starts_with("WUA_") {
                assert_eq!(v & 0xFFFF_0000, 0xA024_0000, "{name}");
            } else {
                assert_eq!(v & 0x2000_0000, 0, "{name} must not set the customer bit");
            }
        }
    }

    /// D-2: Display prints both the code and the context message.
    #[test]
    fn d2_error_display_names_code_and_context() {
        let e = WuError::new(HResult::WU_E_INSTALL_NOT_ALLOWED, "another installation is running (pid 4242)");
        assert_eq!(e.to_string(), "WU_E_INSTALL_NOT_ALLOWED (0x80240016): another installation is running (pid 4242)");
        let j = HResult::WU_E_INSTALL_NOT_ALLOWED.json_fields();
        assert_eq!(j["hresult"], -2_145_124_330);
        assert_eq!(j["hresult_name"], "WU_E_INSTALL_NOT_ALLOWED");
        assert_eq!(j["hresult_hex"], "0x80240016");
    }
}

#[cfg(test)]
mod doc_tests {
    use super::ALL_CODES;

    /// docs/hresults.md lists every code with its value and its message, which `message`
    /// gives (the CLI's hint falls back to it); an unknown code has none.
    #[test]
    fn hresults_doc_lists_every_code() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/hresults.md")).unwrap();
        for (code, name, message) in ALL_CODES {
            let row = format!("| `{name}` | `{}` | {message} |", code.hex());
            assert!(doc.contains(&row), "docs/hresults.md lacks {row}");
            assert_eq!(code.message(), Some(*message), "{name}");
            assert!(!message.is_empty(), "{name}");
        }
        assert_eq!(super::HResult(0x1234_5678).message(), None);
    }

    /// `{:?}` of a code and of an error is their `Display`: name, hex and message.
    #[test]
    fn debug_is_display() {
        let code = super::HResult::WU_E_NO_SERVICE;
        assert_eq!(format!("{code:?}"), "WU_E_NO_SERVICE (0x80240001)");
        let e = super::WuError::new(code, "no service here");
        assert_eq!(format!("{e:?}"), "WU_E_NO_SERVICE (0x80240001): no service here");
    }
}
