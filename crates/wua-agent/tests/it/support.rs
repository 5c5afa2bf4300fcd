use std::path::{Path, PathBuf};

use wua_agent::wua_types::{InstallationResult, Update, UpdateCollection};
use wua_agent::{BootIdSource, SessionOptions, UpdateSession};
pub use wua_test_support::{World, files_manifest, snapshot, test_id};

/// Paths wua keeps for itself under a root; left out of tree comparisons.
pub const OWN: &[&str] = &["var/lib/wua"];

pub fn boot_file(w: &World) -> PathBuf {
    let p = w.work.join("boot_id");
    if !p.exists() {
        std::fs::write(&p, "boot-1").unwrap();
    }
    p
}

pub fn reboot(w: &World, id: &str) {
    std::fs::write(boot_file(w), id).unwrap();
}

pub fn session(w: &World) -> UpdateSession {
    let mut o = SessionOptions::new(&w.state, &w.root);
    o.boot_id = BootIdSource::File(boot_file(w));
    UpdateSession::open(o).unwrap()
}

/// Builds and imports a files update with `files`.
pub fn import(w: &World, s: &UpdateSession, name: &str, manifest: &str, files: &[(&str, u32, &[u8])]) -> Update {
    let pkg = w.package(name, manifest, files).unwrap();
    s.open_package(&pkg).unwrap()
}

pub fn simple(w: &World, s: &UpdateSession, n: u32, files: &[(&str, u32, &[u8])]) -> Update {
    let m = files_manifest(&test_id(n), 1, &format!("update {n}"), "", "");
    import(w, s, &format!("u{n}"), &m, files)
}

pub fn coll(updates: &[&Update]) -> UpdateCollection {
    updates.iter().map(|u| (*u).clone()).collect()
}

pub fn install(s: &UpdateSession, updates: &[&Update]) -> InstallationResult {
    let i = s.create_update_installer();
    i.set_updates(coll(updates));
    i.install().unwrap()
}

pub fn uninstall(s: &UpdateSession, updates: &[&Update]) -> InstallationResult {
    let i = s.create_update_installer();
    i.set_updates(coll(updates));
    i.uninstall().unwrap()
}

pub fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}
