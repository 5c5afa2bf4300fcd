//! WUA's classic flow with the wua agent library, as a program.
//!
//! It opens an [`UpdateSession`] on a state directory and a target root, builds two small
//! `files` packages with `wua_package` (the second has license terms), imports them with
//! `open_package` (an imported package counts as downloaded), accepts the EULA, installs both
//! with `begin_install` (a progress callback and a completion callback, which run on the job's
//! own thread) and `end_install`, then prints the per-update results (result code, HResult,
//! reboot required), the history (`create_update_searcher().query_history`) and the files now
//! in the root.
//!
//! Run it with temporary directories (removed at exit):
//!
//! ```sh
//! cargo run -p wua-agent --example classic_flow
//! ```
//!
//! or keep the state and the root to look at afterwards (the root must exist):
//!
//! ```sh
//! mkdir -p /tmp/wua-demo/root
//! cargo run -p wua-agent --example classic_flow -- /tmp/wua-demo/state /tmp/wua-demo/root
//! ```
//!
//! Run twice on the same directories, the second run reports the updates already installed.

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wua_agent::wua_types::{OperationResultCode, UpdateCollection};
use wua_agent::{AsyncState, SessionOptions, UpdateSession};

const HELLO: &str = r#"
[update]
id = "5e0c2a71-0d4b-4a8e-9f3c-6b1d2e3f4a01"
title = "wua example: hello"
description = "A plain files update: a configuration file and a program."

[handler]
kind = "files"
"#;

const LICENSED: &str = r#"
[update]
id = "5e0c2a71-0d4b-4a8e-9f3c-6b1d2e3f4a02"
title = "wua example: licensed tool"
description = "A files update whose license terms must be accepted before it installs."
eula = "You may install, use and remove this example freely."

[handler]
kind = "files"
"#;

fn main() -> Result<(), Box<dyn Error>> {
    // Packages are built in a scratch directory; the state and the root come from argv or
    // live there too.
    let work = tempfile::tempdir()?;
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (state, root) = match args.as_slice() {
        [state, root] => (state.clone(), root.clone()),
        [] => (work.path().join("state"), work.path().join("root")),
        _ => return Err("usage: classic_flow [STATE_DIR ROOT]".into()),
    };
    fs_err::create_dir_all(&root)?;

    // IUpdateSession over a state directory and a target root.
    let session = UpdateSession::open(SessionOptions::new(&state, &root))?;
    session.set_client_application_id("wua classic_flow example");
    println!("session: state {} root {}", session.state_dir().display(), session.root().display());

    // Standalone packages: build, then import (verified, cached, recorded).
    let hello = build(
        work.path(),
        "hello",
        HELLO,
        &[
            ("etc/wua-example/hello.conf", 0o644, "greeting = hello\n"),
            ("usr/local/bin/wua-example", 0o755, "#!/bin/sh\necho hello\n"),
        ],
    )?;
    let licensed =
        build(work.path(), "licensed", LICENSED, &[("opt/wua-example/tool.txt", 0o644, "a licensed tool\n")])?;
    let mut updates = UpdateCollection::new();
    for package in [&hello, &licensed] {
        let update = session.open_package(package)?;
        println!(
            "imported: {} ({}), downloaded {}, installed {}",
            update.title(),
            update.identity(),
            update.is_downloaded(),
            update.is_installed()
        );
        // Without this, the install of this update fails with WU_E_EULAS_DECLINED.
        if !update.eula_accepted() {
            println!("accepting the license terms of {}: {}", update.title(), update.eula_text());
            update.accept_eula()?;
        }
        updates.add(update)?;
    }

    // IUpdateInstaller: BeginInstall with both callbacks and an AsyncState, then EndInstall.
    let installer = session.create_update_installer();
    installer.set_updates(updates);
    let state: AsyncState = Arc::new("classic_flow");
    let job = installer.begin_install(
        Some(Box::new(|job, args| {
            let p = &args.progress;
            let title = job.updates().item(p.current_update_index).map(|u| u.title().to_owned()).unwrap_or_default();
            println!(
                "progress: {}% overall, update {} ({title}) at {}%",
                p.percent_complete, p.current_update_index, p.current_update_percent_complete
            );
        })),
        Some(Box::new(|job, _args| {
            let tag = job.async_state().and_then(|s| s.downcast_ref::<&str>()).copied().unwrap_or("?");
            println!("completed: the job of {tag} finished ({} updates)", job.updates().count());
        })),
        Some(state),
    )?;
    let result = installer.end_install(&job)?;

    println!("result: {} {} reboot required {}", result.result_code, result.hresult, result.reboot_required);
    for (update, r) in job.updates().iter().zip(&result.update_results) {
        println!(
            "update: {} -> {} {} reboot required {}{}",
            update.title(),
            r.result_code,
            r.hresult,
            r.reboot_required,
            if r.message.is_empty() { String::new() } else { format!(" ({})", r.message) }
        );
        // An `Update`'s flags are as of when it was obtained; ask the session again.
        let now = session.find_update(&update.identity().update_id)?;
        println!("  installed now: {}", now.is_some_and(|u| u.is_installed()));
    }

    // IUpdateSearcher: the history, newest first.
    let searcher = session.create_update_searcher();
    let total = searcher.get_total_history_count()?;
    println!("history: {total} entries");
    for entry in searcher.query_history(0, total.max(1))? {
        println!(
            "history: {} {} {} {} {} by {}",
            entry.date, entry.operation, entry.title, entry.result_code, entry.hresult, entry.client_application_id
        );
    }

    // What the install put into the root.
    for file in ["etc/wua-example/hello.conf", "usr/local/bin/wua-example", "opt/wua-example/tool.txt"] {
        let present = session.root().join(file).is_file();
        println!("root: {file} {}", if present { "present" } else { "missing" });
    }
    if result.result_code != OperationResultCode::Succeeded {
        return Err(format!("the install ended with {}", result.result_code).into());
    }
    Ok(())
}

/// Writes a manifest and its payload (path, mode, text) under `dir/NAME` and builds
/// `dir/NAME.wuapkg` from them.
fn build(dir: &Path, name: &str, manifest: &str, payload: &[(&str, u32, &str)]) -> Result<PathBuf, Box<dyn Error>> {
    use std::os::unix::fs::PermissionsExt;
    let base = dir.join(name);
    for (path, mode, text) in payload {
        let file = base.join("payload").join(path);
        fs_err::create_dir_all(file.parent().ok_or("a payload path has no parent")?)?;
        fs_err::write(&file, text)?;
        fs_err::set_permissions(&file, std::fs::Permissions::from_mode(*mode))?;
    }
    fs_err::write(base.join("manifest.toml"), manifest.trim_start())?;
    let out = dir.join(format!("{name}.wuapkg"));
    wua_package::build_package(
        &base.join("manifest.toml"),
        &base.join("payload"),
        &out,
        wua_package::Compression::Zstd,
    )?;
    Ok(out)
}
