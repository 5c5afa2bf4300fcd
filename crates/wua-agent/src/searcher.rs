//! `IUpdateSearcher`: history queries (D-35). Searching the repository's catalog arrives with
//! the agent's search and download.

use wua_types::{HResult, UpdateHistoryEntry, WuError};

use crate::session::UpdateSession;

/// `IUpdateSearcher`.
#[derive(Clone, Debug)]
pub struct UpdateSearcher {
    session: UpdateSession,
}

impl UpdateSearcher {
    pub(crate) fn new(session: UpdateSession) -> Self {
        UpdateSearcher { session }
    }

    /// `QueryHistory(start, count)`: newest first; `start < 0` or `count <= 0` ->
    /// `WU_E_INVALIDINDEX`; `start` past the end -> empty (D-35).
    pub fn query_history(&self, start: i32, count: i32) -> Result<Vec<UpdateHistoryEntry>, WuError> {
        if start < 0 || count <= 0 {
            return Err(WuError::new(
                HResult::WU_E_INVALIDINDEX,
                format!("query_history(start {start}, count {count}): start must be >= 0 and count > 0"),
            ));
        }
        Ok(self.session.store().read()?.history(start as u64, count as u64)?)
    }

    /// `GetTotalHistoryCount`.
    pub fn get_total_history_count(&self) -> Result<i32, WuError> {
        let n = self.session.store().read()?.history_count()?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
