//! Imports that race or die: two `wua install-package` of one package at the same instant, and
//! the staging files an import killed half-way leaves in the cache.

use crate::support::*;

/// Two installs of the same package started together: one installs, the other installs from
/// the cache after it ("already installed") or reports the lock; neither fails on the cache's
/// temporary names.
#[test]
fn two_installs_of_one_package_at_the_same_instant() {
    let w = World::new().unwrap();
    let files: Vec<(String, u32, Vec<u8>)> =
        (0..200).map(|n| (format!("usr/share/app/f{n}"), 0o644, vec![n as u8; 4096 + n])).collect();
    let refs: Vec<(&str, u32, &[u8])> = files.iter().map(|(p, m, b)| (p.as_str(), *m, b.as_slice())).collect();
    let pkg = w.package("app", &files_manifest(&test_id(1), 1, "app", "", ""), &refs).unwrap();
    for round in 0..3 {
        let spawn = || {
            let mut c = wua(&w.state, &w.root);
            c.arg("install-package").arg("--forced").arg(&pkg);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let outs = [finish(a, "the first install"), finish(b, "the second install")];
        for o in &outs {
            let t = text(o);
            assert!(!t.contains("WUA_E_INSTALL_IO"), "round {round}: {t}");
            assert!(
                o.status.code() == Some(0) || t.contains("WU_E_INSTALL_NOT_ALLOWED"),
                "round {round}: exit {:?}: {t}",
                o.status.code()
            );
        }
        assert!(outs.iter().any(|o| o.status.success()), "round {round}: one of them installs");
    }
    let status = json(&run(wua(&w.state, &w.root).args(["--json", "status"])));
    assert_eq!(status["updates"][0]["is_installed"], true, "{status}");
    let cache = w.state.join("cache/sha256");
    let staging: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".import-"))
        .collect();
    assert!(staging.is_empty(), "{staging:?}");
}

/// Staging files of an import whose process is gone (Ctrl-C, a crash) are removed by the next
/// operation under the lock and by `wua recover`; a live import's are not.
#[test]
fn staging_files_of_a_dead_import_are_removed() {
    let w = World::new().unwrap();
    let pkg = w.package("app", &files_manifest(&test_id(1), 1, "app", "", ""), &[("etc/a", 0o644, b"a")]).unwrap();
    let o = run(wua(&w.state, &w.root).args(["package", "import"]).arg(&pkg));
    assert!(o.status.success(), "{}", text(&o));
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    wait(&mut gone, "true");
    let cache = w.state.join("cache/sha256");
    let hex = "ab".repeat(32);
    let stale: Vec<_> = (0..50).map(|n| cache.join(format!(".import-{dead}-{n}-{hex}"))).collect();
    for f in &stale {
        std::fs::write(f, "partial").unwrap();
    }
    let live = cache.join(format!(".import-{}-0-{hex}", std::process::id()));
    std::fs::write(&live, "in progress").unwrap();
    let o = run(wua(&w.state, &w.root).arg("recover"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(stale.iter().all(|f| !f.exists()), "stale staging files are removed");
    assert!(live.exists(), "a running import's file stays");
}
