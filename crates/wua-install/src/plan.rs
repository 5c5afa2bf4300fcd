//! The journal's plans: everything an operation will do to the root, decided before anything
//! changes and stored in the journal record, so recovery can finish or undo it.

use serde::{Deserialize, Serialize};

/// The plan of a `files` install (also a revision replacement, D-40).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct InstallPlan {
    /// Files to place.
    pub entries: Vec<PlaceFile>,
    /// Directories this operation creates (relative), parents first.
    pub created_dirs: Vec<String>,
    /// Directories to record as the update's own (created by it or by the revision it replaces).
    pub owned_dirs: Vec<String>,
    /// Directories of the replaced revision that none of the new files need, deepest first:
    /// removed when empty (and no longer the update's own either way).
    #[serde(default)]
    pub stale_dirs: Vec<String>,
    /// Files of the replaced revision that the new one does not have.
    pub removals: Vec<RemoveFile>,
    /// The operation's area for moved-away files on the backup area's filesystem (relative).
    pub op_dir: String,
    /// Every area this operation moves files into, one per filesystem (relative; see
    /// `files::Areas`), removed when empty. Empty in plans written before areas were per
    /// filesystem: then `op_dir` is the only one.
    #[serde(default)]
    pub areas: Vec<String>,
}

/// One file to place.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PlaceFile {
    /// The real target path (relative, symbolic links in its directories resolved).
    pub path: String,
    /// The staged file beside it (relative).
    pub staged: String,
    /// Its SHA-256.
    pub sha256: String,
    /// Its size.
    pub size: u64,
    /// Its mode.
    pub mode: u32,
    /// Owner uid, if set.
    pub uid: Option<u32>,
    /// Group gid, if set.
    pub gid: Option<u32>,
    /// A symbolic link to place instead of a file: its target (`staged` is then a link too).
    /// Absent in plans written before links existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// Where the file now at `path` is moved first (relative), if one is there.
    pub moved: Option<String>,
    /// True when the moved file is original content to keep for uninstall; false when it is
    /// another revision's or a superseded owner's file, deleted at cleanup.
    pub keep_moved: bool,
    /// The backup to record with the new ownership (D-39): `moved` when kept, or the backup
    /// the previous owner had.
    pub backup: Option<String>,
}

/// One file to take away (uninstall, or a file a new revision no longer has).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RemoveFile {
    /// The file (relative).
    pub path: String,
    /// Where it is moved (relative); deleted at cleanup.
    pub trash: String,
    /// The backup to move back into place, if the path held something before.
    pub restore: Option<String>,
    /// The file changed since it was installed: it is left alone (D-39).
    pub modified: bool,
}

/// The plan of a `files` uninstall.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct UninstallPlan {
    /// Files to remove or restore.
    pub removals: Vec<RemoveFile>,
    /// Directories the install created, deepest first: removed when empty.
    pub dirs: Vec<String>,
    /// Areas to remove when empty after cleanup (this operation's, and the emptied backups').
    pub op_dirs: Vec<String>,
}

impl InstallPlan {
    /// The areas files are moved into.
    pub(crate) fn areas(&self) -> Vec<String> {
        if self.areas.is_empty() { vec![self.op_dir.clone()] } else { self.areas.clone() }
    }

    /// Files (relative) deleted at cleanup: moved-away files that are not kept as backups, and
    /// the trash of dropped files.
    pub(crate) fn discarded(&self) -> Vec<&str> {
        let moved = self.entries.iter().filter(|e| !e.keep_moved).filter_map(|e| e.moved.as_deref());
        moved.chain(trash_of(&self.removals)).collect()
    }
}

impl UninstallPlan {
    /// Files (relative) deleted at cleanup: the trash of removed files.
    pub(crate) fn discarded(&self) -> Vec<&str> {
        trash_of(&self.removals).collect()
    }
}

/// The trash of removals that were carried out (a modified file is left in place, D-39).
fn trash_of(removals: &[RemoveFile]) -> impl Iterator<Item = &str> {
    removals.iter().filter(|r| !r.modified).map(|r| r.trash.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(path: &str, moved: Option<&str>, keep_moved: bool) -> PlaceFile {
        PlaceFile {
            path: path.into(),
            staged: format!("{path}.staged"),
            sha256: String::new(),
            size: 0,
            mode: 0o644,
            uid: None,
            gid: None,
            link_target: None,
            moved: moved.map(str::to_owned),
            keep_moved,
            backup: None,
        }
    }

    fn remove(path: &str, trash: &str, modified: bool) -> RemoveFile {
        RemoveFile { path: path.into(), trash: trash.into(), restore: None, modified }
    }

    /// Cleanup deletes exactly what nothing needs: files moved away that are not kept as
    /// backups, and the trash of removals that were carried out; never a kept backup, never
    /// the trash name of a changed file that stayed in place (D-39).
    #[test]
    fn what_cleanup_discards() {
        let plan = InstallPlan {
            entries: vec![
                place("etc/kept", Some("area/0"), true),
                place("etc/replaced", Some("area/1"), false),
                place("etc/new", None, false),
            ],
            removals: vec![remove("etc/dropped", "area/r0", false), remove("etc/edited", "area/r1", true)],
            ..Default::default()
        };
        assert_eq!(plan.discarded(), ["area/1", "area/r0"]);
        let uninstall = UninstallPlan {
            removals: vec![remove("a", "t/0", false), remove("b", "t/1", true), remove("c", "t/2", false)],
            ..Default::default()
        };
        assert_eq!(uninstall.discarded(), ["t/0", "t/2"]);
        assert!(UninstallPlan::default().discarded().is_empty());
    }

    /// The areas: the plan's own list, or `op_dir` alone in a plan written before there were
    /// several; a plan of an older agent (no `link_target`, no `areas`) reads.
    #[test]
    fn areas_and_older_plans() {
        let mut plan = InstallPlan { op_dir: "var/lib/wua/backup/op".into(), ..Default::default() };
        assert_eq!(plan.areas(), ["var/lib/wua/backup/op"]);
        plan.areas = vec!["a".into(), "b/.wua-backup/op".into()];
        assert_eq!(plan.areas(), ["a", "b/.wua-backup/op"]);
        let old = r#"{"entries":[{"path":"x","staged":"x.s","sha256":"","size":0,"mode":420,"uid":null,
            "gid":null,"moved":null,"keep_moved":false,"backup":null}],"created_dirs":[],"owned_dirs":[],
            "removals":[],"replaced_revision":null,"op_dir":"o"}"#;
        let read: InstallPlan = serde_json::from_str(old).unwrap();
        assert_eq!((read.entries[0].link_target.as_deref(), read.areas()), (None, vec!["o".to_owned()]));
    }
}
