//! Files meant to be shared are written mode 0644 (directories 0755) whatever the umask: the
//! served tree, `root.json`, the working catalog and an export. Only keys are private: 0600 in
//! a 0700 directory.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use wua_trust::approvals::ApprovalAction;
use wua_trust::export::{self, ExportKind};
use wua_trust::repo::{self, InitOptions};
use wua_trust::root::{self, Rotation};

use crate::support::*;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every entry under `dir` with its mode.
fn modes(dir: &Path) -> Vec<(std::path::PathBuf, bool, u32)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let is_dir = path.is_dir();
        out.push((path.clone(), is_dir, mode(&path)));
        if is_dir {
            out.extend(modes(&path));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_files_are_0644_under_umask_077() {
    // SAFETY: umask(2) only sets this process's file-creation mask (nextest runs each test in a
    // process of its own).
    unsafe { libc::umask(0o077) };
    let f = Fixture::new(InitOptions::default()).await;
    f.publish(1, 1, "one").await;
    repo::approve(&f.repo, &test_id(1), "web", ApprovalAction::Install, None).await.unwrap();
    assert_eq!(root::rotate_key(&f.repo, "timestamp").await.unwrap(), Rotation::Installed);
    let out = f.work.join("scan.tar");
    export::export(&f.repo, &out, ExportKind::WithContent).unwrap();

    assert_eq!(mode(&f.repo.join("root.json")), 0o644);
    assert_eq!(mode(&out), 0o644, "an export is carried to agents");
    let public = modes(&f.repo.join("repository"));
    assert!(public.iter().any(|(p, _, _)| p.to_string_lossy().contains("/blobs/sha256/")), "{public:?}");
    assert!(public.iter().any(|(p, _, _)| p.ends_with("metadata/2.root.json")), "{public:?}");
    for (path, is_dir, m) in public.iter().chain(&modes(&f.repo.join("catalog"))) {
        assert_eq!(*m, if *is_dir { 0o755 } else { 0o644 }, "{}", path.display());
    }
    assert_eq!(mode(&f.repo.join("repository")), 0o755);
    assert_eq!(mode(&f.repo.join("keys")), 0o700);
    for (path, _, m) in modes(&f.repo.join("keys")) {
        assert_eq!(m, 0o600, "{}", path.display());
    }
}
