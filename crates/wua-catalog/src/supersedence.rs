//! Supersedence (D-28): a search leaves an update out as superseded (unless
//! `include_potentially_superseded_updates`) when an update that supersedes it is installed, or
//! is applicable, deployed for this computer and not hidden. A hidden or undeployed successor
//! does not hide its predecessor, so an administrator who declines the new one still sees the
//! old one.

use std::collections::BTreeSet;

/// What supersedence needs to know of one update in a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Its update id.
    pub update_id: &'a str,
    /// The ids it supersedes (`SupersededUpdateIDs`).
    pub supersedes: &'a [String],
    /// Installed on this machine.
    pub is_installed: bool,
    /// Applicable here (its rules hold).
    pub applicable: bool,
    /// Deployed for this computer (approved, or from a source that deploys everything, D-27).
    pub deployed: bool,
    /// Hidden by the administrator (D-36).
    pub hidden: bool,
}

impl Candidate<'_> {
    /// Whether this update, as a successor, makes the updates it supersedes superseded.
    pub(crate) fn supersedes_actively(&self) -> bool {
        self.is_installed || (self.applicable && self.deployed && !self.hidden)
    }
}

/// The ids of the candidates that are superseded by another candidate (D-28).
pub fn superseded(candidates: &[Candidate<'_>]) -> BTreeSet<String> {
    let successors: BTreeSet<&str> = candidates
        .iter()
        .filter(|c| c.supersedes_actively())
        .flat_map(|c| c.supersedes.iter().map(String::as_str))
        .collect();
    candidates.iter().filter(|c| successors.contains(c.update_id)).map(|c| c.update_id.to_owned()).collect()
}
