//! Files meant to be shared are readable by everyone whatever the umask; only keys and tokens
//! are private (item 13).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

use crate::support::*;

/// `wua package build` writes its package 0644 under any umask (it was 0600, tempfile's mode).
#[test]
fn built_packages_are_0644_whatever_the_umask() {
    let w = World::new().unwrap();
    let payload = w.work.join("payload");
    wua_test_support::write_payload(&payload, &[("etc/a", 0o644, b"a")]).unwrap();
    let manifest = w.work.join("m.toml");
    std::fs::write(&manifest, files_manifest(&test_id(1), 1, "shared", "", "")).unwrap();
    for (umask, zstd) in [(0o077, false), (0o077, true), (0o027, false), (0o000, true)] {
        let out = w.work.join(format!("u{umask:03o}-{zstd}.wuapkg"));
        let mut cmd = wua(&w.state, &w.root);
        cmd.args(["package", "build"]).arg(&manifest).arg("--payload").arg(&payload).arg("-o").arg(&out);
        if zstd {
            cmd.arg("--zstd");
        }
        // SAFETY: umask(2) is async-signal-safe and changes only the child's own mask.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
        let o = run(&mut cmd);
        assert!(o.status.success(), "{}", text(&o));
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644, "umask {umask:03o} (zstd {zstd}): the package is {mode:04o}");
    }
}
