//! The one-line hint a call error ends with: what to do about it, in the CLI's own words.

use wua_agent::wua_types::HResult;

/// What to do about `code`; the code's short description when there is nothing better.
pub(crate) fn hint(code: HResult) -> &'static str {
    match code {
        HResult::WU_E_EULAS_DECLINED => {
            "review the license terms with `wua show ID`, then install with --accept-eula to accept them"
        }
        HResult::WU_E_INSTALL_NOT_ALLOWED => {
            "another wua operation is running, or a reboot is pending: `wua status` says which"
        }
        HResult::E_ACCESSDENIED => "run as root, or pass --state-dir and --root you can write",
        HResult::WU_E_NO_SERVICE => {
            "add a service with `wua service add` (or `wua service add --server URL` for a wua server)"
        }
        HResult::WU_E_UNKNOWN_ID => {
            "`wua search` and `wua status` list the updates; an id may be shortened to a unique prefix"
        }
        HResult::WU_E_NO_INTERACTIVE_USER => "run it at a terminal, or name the updates and pass --yes",
        HResult::E_INVALIDARG => "check the command line and configuration; `wua help COMMAND` shows the options",
        HResult::WUA_E_TRUST_IDENTITY => {
            "the repository was re-created: `wua service reset ID` trusts its root again, if that is intended"
        }
        HResult::WUA_E_ROOT_MISMATCH => {
            "pass the --root this state directory was first used with, or another --state-dir"
        }
        HResult::WUA_E_REPO_MANAGED => "approve through the wua server that manages the repository",
        code => code.message().unwrap_or("see docs/hresults.md"),
    }
}
