//! `IAutomaticUpdatesResults`: the dates of the last successful search and installation, one
//! row each in `agent_dates` (a key/value table, so a later date is a row, not a migration).

use rusqlite::{OptionalExtension, params};
use wua_types::AutomaticUpdatesResults;

use crate::StoreError;
use crate::tx::Tx;

/// The `agent_dates` key of `LastSearchSuccessDate`.
const LAST_SEARCH_SUCCESS: &str = "last_search_success";
/// The `agent_dates` key of `LastInstallationSuccessDate`.
const LAST_INSTALLATION_SUCCESS: &str = "last_installation_success";

impl Tx<'_> {
    /// Records `at` (RFC 3339 UTC, [`crate::now_rfc3339`]) as the last successful search.
    pub fn set_last_search_success(&self, at: &str) -> Result<(), StoreError> {
        self.set_date(LAST_SEARCH_SUCCESS, at)
    }

    /// Records `at` (RFC 3339 UTC) as the last successful installation.
    pub fn set_last_installation_success(&self, at: &str) -> Result<(), StoreError> {
        self.set_date(LAST_INSTALLATION_SUCCESS, at)
    }

    /// The recorded dates; `None` for what never happened (or happened before an agent that
    /// records it).
    pub fn automatic_updates_results(&self) -> Result<AutomaticUpdatesResults, StoreError> {
        Ok(AutomaticUpdatesResults {
            last_search_success_date: self.date(LAST_SEARCH_SUCCESS)?,
            last_installation_success_date: self.date(LAST_INSTALLATION_SUCCESS)?,
        })
    }

    // The newest record wins, whatever it says: RFC 3339 texts with and without fractional
    // seconds do not sort as text, and "last" means the last one recorded.
    fn set_date(&self, name: &str, at: &str) -> Result<(), StoreError> {
        self.tx
            .execute("INSERT OR REPLACE INTO agent_dates (name, at) VALUES (?1, ?2)", params![name, at])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn date(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.tx
            .query_row("SELECT at FROM agent_dates WHERE name = ?1", params![name], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }
}
