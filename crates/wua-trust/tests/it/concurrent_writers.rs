//! Writers run together: publishes in a loop, in threads, while an online role's key and a root
//! key are rotated through the offline flow (a proposal, a signature made elsewhere, `merge`)
//! and the approvals key is replaced. The lock's bounded wait means no publish fails, and the
//! repository that results is accepted by wua's verifier (from the first root, from
//! `root.json`, and by an agent that trusted the state before the rotations) and by python-tuf's
//! client.

use std::path::Path;

use wua_trust::repo::InitOptions;
use wua_trust::root::{self, Rotation};
use wua_trust::verify::{self, Source};

use crate::support::*;

/// Threads publishing, and updates each publishes.
const PUBLISHERS: u32 = 2;
const PUBLISHES: u32 = 6;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn names_ending(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix))
        .collect()
}

#[test]
fn publishes_while_keys_rotate_and_roots_merge() {
    let main = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let f = main.block_on(Fixture::new(InitOptions { root_keys: 2, root_threshold: 2, ..InitOptions::default() }));
    main.block_on(f.publish(1000, 1, "before the rotations"));
    let local = Source::parse(f.repo.to_str().unwrap()).unwrap();
    main.block_on(f.refresh(&local)).unwrap();
    // root-2 lives elsewhere: every new root needs its signature, made outside the repository.
    let offline = f.work.join("offline");
    std::fs::create_dir_all(&offline).unwrap();
    std::fs::rename(f.repo.join("keys/root-2.pk8"), offline.join("root-2.pk8")).unwrap();

    std::thread::scope(|s| {
        for p in 0..PUBLISHERS {
            let f = &f;
            s.spawn(move || {
                let rt = runtime();
                for i in 0..PUBLISHES {
                    // `Fixture::publish` panics if the publish fails.
                    rt.block_on(f.publish(p * 100 + i + 1, 1, &format!("publisher {p}, update {i}")));
                }
            });
        }
        let (f, offline) = (&f, &offline);
        s.spawn(move || {
            runtime().block_on(async {
                for role in ["snapshot", "root-1", "timestamp"] {
                    let Rotation::Proposed(file) = root::rotate_key(&f.repo, role).await.unwrap() else {
                        panic!("{role}: root-2 is offline, so the new root must wait for its signature");
                    };
                    root::sign(&file, &offline.join("root-2.pk8")).await.unwrap();
                    root::merge(&f.repo, &[file]).await.unwrap();
                }
                assert_eq!(root::rotate_key(&f.repo, "approvals").await.unwrap(), Rotation::Installed);
            });
        });
    });

    let published = (PUBLISHERS * PUBLISHES + 1) as usize;
    let root: serde_json::Value = serde_json::from_slice(&f.trusted_root()).unwrap();
    assert_eq!(root["signed"]["version"], 4, "three root changes");
    assert!(names_ending(&f.repo.join("keys"), ".next.pk8").is_empty(), "every incoming key is in place");
    assert!(names_ending(&f.repo, ".proposed.json").is_empty(), "every proposal was merged");

    // wua's verifier: the agent that trusted the first state, and fresh agents from the first
    // root and from the current one.
    let r = main.block_on(f.refresh(&local)).unwrap();
    assert_eq!(r.catalog().documents.len(), published);
    for (n, trusted) in [f.repo.join("repository/metadata/1.root.json"), f.repo.join("root.json")].iter().enumerate() {
        let state = f.work.join(format!("fresh-agent-{n}"));
        let r = main.block_on(verify::refresh(&std::fs::read(trusted).unwrap(), &state, &local)).unwrap();
        assert_eq!(r.catalog().documents.len(), published, "from {}", trusted.display());
    }

    // The reference client, over HTTP, from the first root.
    let Some(python) = tuf_python() else { return };
    main.block_on(async {
        let source = serve(&f.repo.join("repository")).await;
        let first_root = f.repo.join("repository/metadata/1.root.json");
        let td = python_tuf_accepts(&python, &f.work, &source, &first_root, &["pack-000001.jsonl"]).await;
        let pack = std::fs::read(f.repo.join("catalog/pack-000001.jsonl")).unwrap();
        assert_eq!(std::fs::read(td.join("pack-000001.jsonl")).unwrap(), pack);
    });
}
