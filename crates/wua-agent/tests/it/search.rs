//! `UpdateSearcher::search` against a signed repository served on 127.0.0.1 by the static
//! handler, the same repository as a directory, and an offline export (D-26..D-29, D-42).

use std::path::PathBuf;

use wua_agent::wua_types::{HResult, OperationResultCode, SearchResult, ServerSelection};
use wua_agent::{NON_VOLATILE_SERVICE, UpdateSession};
use wua_test_support::serve::Served;
use wua_trust::repo::{self, InitOptions};

use crate::support::*;

/// A signed repository this test publishes to.
pub(crate) struct Repo {
    pub(crate) dir: PathBuf,
    /// The root an agent is installed with (the repository's first), kept once it exists.
    pub(crate) root_bytes: Vec<u8>,
    work: PathBuf,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl Repo {
    pub(crate) fn new(w: &World) -> Repo {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = w.work.join("repo");
        runtime.block_on(repo::init(&dir, &InitOptions::default())).unwrap();
        let root_bytes = std::fs::read(dir.join("repository/metadata/1.root.json")).unwrap();
        Repo { dir, root_bytes, work: w.work.join("publish"), runtime }
    }

    /// Publishes `test_id(n)` at `revision` with one file, `tail` appended to its manifest.
    pub(crate) fn publish(&self, n: u32, revision: i32, tail: &str) {
        let base = self.work.join(format!("u{n}-r{revision}"));
        let payload = base.join("payload");
        wua_test_support::write_payload(
            &payload,
            &[(&format!("opt/u{n}/file"), 0o644, format!("r{revision}").as_bytes())],
        )
        .unwrap();
        let manifest = base.join("manifest.toml");
        std::fs::write(&manifest, files_manifest(&test_id(n), revision, &format!("update {n}"), "", tail)).unwrap();
        self.runtime.block_on(repo::publish(&self.dir, &manifest, &payload)).unwrap();
    }

    /// Publishes `test_id(n)` rev 1 with one file, `extra` added to its `[update]` table.
    pub(crate) fn publish_extra(&self, n: u32, extra: &str) {
        let base = self.work.join(format!("u{n}-extra"));
        let payload = base.join("payload");
        wua_test_support::write_payload(&payload, &[(&format!("opt/u{n}/file"), 0o644, b"extra")]).unwrap();
        let manifest = base.join("manifest.toml");
        std::fs::write(&manifest, files_manifest(&test_id(n), 1, &format!("update {n}"), extra, "")).unwrap();
        self.runtime.block_on(repo::publish(&self.dir, &manifest, &payload)).unwrap();
    }

    /// Publishes `test_id(n)` rev 1 with one file of `content`.
    pub(crate) fn publish_content(&self, n: u32, content: &[u8]) {
        self.publish_files(n, &[(&format!("opt/u{n}/file"), 0o644, content)]);
    }

    /// Publishes `test_id(n)` rev 1 with `files`.
    pub(crate) fn publish_files(&self, n: u32, files: &[(&str, u32, &[u8])]) {
        let base = self.work.join(format!("u{n}-content"));
        let payload = base.join("payload");
        wua_test_support::write_payload(&payload, files).unwrap();
        let manifest = base.join("manifest.toml");
        std::fs::write(&manifest, files_manifest(&test_id(n), 1, &format!("update {n}"), "", "")).unwrap();
        self.runtime.block_on(repo::publish(&self.dir, &manifest, &payload)).unwrap();
    }

    pub(crate) fn decline(&self, n: u32, revision: i32) {
        self.runtime.block_on(repo::decline(&self.dir, &test_id(n), revision)).unwrap();
    }

    /// The root an agent is installed with (the repository's first).
    pub(crate) fn root(&self) -> Vec<u8> {
        self.root_bytes.clone()
    }

    pub(crate) fn served_tree(&self) -> PathBuf {
        self.dir.join("repository")
    }
}

/// `(id, revision)` of each update found, in order.
pub(crate) fn found(r: &SearchResult) -> Vec<(String, i32)> {
    r.updates.iter().map(|u| (u.identity().update_id, u.identity().revision_number)).collect()
}

pub(crate) fn add_service(s: &UpdateSession, source: &str, root: &[u8]) -> String {
    s.create_update_service_manager()
        .add_repository_service("test", source, root, None, NON_VOLATILE_SERVICE)
        .unwrap()
        .service_id
}

const NOT_HERE: &str = "[applicability]\nis_installable = { file_exists = \"etc/never-here\" }\n";

/// D-29, D-27: online searches see publishes, revisions and declines; an offline search gives
/// the same result with the server gone, and a failed online refresh changes nothing.
#[test]
fn d29_online_and_offline_search_of_a_served_repository() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish(2, 1, NOT_HERE);
    let server = Served::start(&repo.served_tree());
    let s = session(&w);
    add_service(&s, &server.url, &repo.root());
    let searcher = s.create_update_searcher();
    let r = searcher.search("").unwrap();
    assert_eq!(r.result_code, OperationResultCode::Succeeded);
    assert_eq!(found(&r), [(test_id(1), 1)], "only what applies here is found");
    let u = r.updates.item(0).unwrap();
    assert!(u.is_assigned() && !u.browse_only() && u.auto_select_on_web_sites(), "D-27: deployed for installation");
    assert!(!u.is_installed() && !u.is_downloaded() && !u.is_present());
    assert!(r.updates.read_only());

    let r = searcher.search("IsInstalled=0 and Type='Software' and IsHidden=0").unwrap();
    assert_eq!(found(&r), [(test_id(1), 1)]);
    let r = searcher.search(&format!("UpdateID='{}'", test_id(2))).unwrap();
    assert!(found(&r).is_empty(), "an update that does not apply is never found");

    repo.publish(1, 2, "");
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 2)], "the new revision replaces the old");
    repo.decline(1, 2);
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1)], "a declined revision is not offered");

    let online = found(&searcher.search("").unwrap());
    let state = w.state.clone();
    let before = snapshot(&state, &["wua.db-shm"]).unwrap();
    drop(server);
    let e = searcher.search("").unwrap_err();
    assert_eq!(e.hresult, HResult::WU_E_NO_CONNECTION, "{e}");
    assert_eq!(snapshot(&state, &["wua.db-shm"]).unwrap(), before, "a failed refresh changes nothing");
    searcher.set_online(false);
    assert_eq!(found(&searcher.search("").unwrap()), online, "offline: the same result, no network");
}

/// The same repository as a directory, then an offline export registered as a scan package
/// service (`AddScanPackageService`), searched with no network at all.
#[test]
fn a_repository_directory_and_a_scan_package_are_services() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish(3, 1, "");
    let s = session(&w);
    add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    assert_eq!(found(&s.create_update_searcher().search("").unwrap()), [(test_id(1), 1), (test_id(3), 1)]);

    let export = w.work.join("scan.tar");
    repo.runtime
        .block_on(async { wua_trust::export::export(&repo.dir, &export, wua_trust::export::ExportKind::ScanPackage) })
        .unwrap();
    let w2 = World::new().unwrap();
    let s2 = session(&w2);
    let manager = s2.create_update_service_manager();
    let service = manager.add_scan_package_service("scan", &export, &repo.root(), 0).unwrap();
    assert!(service.is_scan_package_service && !service.non_volatile);
    let searcher = s2.create_update_searcher();
    searcher.set_server_selection(ServerSelection::Others);
    searcher.set_service_id(&service.service_id);
    assert_eq!(found(&searcher.search("IsInstalled=0").unwrap()), [(test_id(1), 1), (test_id(3), 1)]);
    assert_eq!(manager.services().unwrap().len(), 1, "a volatile service lives in its session");
    assert!(session(&w2).create_update_service_manager().services().unwrap().is_empty(), "and only there");
}

/// D-26 through the searcher: `RevisionNumber` (with its `UpdateID`) and `CategoryIDs` read
/// the update found in the catalog, not a default.
#[test]
fn d26_revision_and_category_criteria_read_the_catalog() {
    const SECURITY: &str = "0fa1201d-4330-4fa8-8ae9-b877473b6441";
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 3, "");
    repo.publish_extra(
        2,
        &format!(
            "categories = [{{ id = \"{SECURITY}\", name = \"Security Updates\", type = \"UpdateClassification\" }}]"
        ),
    );
    let s = session(&w);
    add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    let searcher = s.create_update_searcher();
    let search = |criteria: String| found(&searcher.search(&criteria).unwrap());

    let id = test_id(1);
    assert_eq!(search(format!("UpdateID='{id}' and RevisionNumber=3")), [(id.clone(), 3)]);
    for other in [-1, 0, 1, 2] {
        assert!(search(format!("UpdateID='{id}' and RevisionNumber={other}")).is_empty(), "revision {other}");
    }
    assert_eq!(search(format!("CategoryIDs contains '{SECURITY}'")), [(test_id(2), 1)]);
    assert_eq!(search(format!("CategoryIDs contains '{}'", SECURITY.to_uppercase())), [(test_id(2), 1)]);
    assert!(search("CategoryIDs contains '5b0c7a5e-0000-4000-8000-000000000000'".into()).is_empty());
}

/// D-26 through the searcher: `IsHidden`, `IsPresent` and `RebootRequired` read the agent's
/// own flags of each update found.
#[test]
fn d26_hidden_present_and_reboot_criteria_read_the_agents_flags() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish(2, 1, "[installation_behavior]\nreboot_behavior = \"AlwaysRequiresReboot\"\n");
    let s = session(&w);
    add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    let searcher = s.create_update_searcher();
    let search = |criteria: &str| found(&searcher.search(criteria).unwrap());
    assert!(search("RebootRequired=1").is_empty(), "a reboot is required only once installed");
    let both = [(test_id(1), 1), (test_id(2), 1)];
    assert_eq!(search("IsHidden=0"), both);
    assert!(search("IsHidden=1").is_empty());
    let r = searcher.search(&format!("UpdateID='{}'", test_id(1))).unwrap();
    r.updates.item(0).unwrap().set_is_hidden(true).unwrap();
    assert_eq!(search("IsHidden=1"), [(test_id(1), 1)]);
    assert_eq!(search("IsHidden=0"), [(test_id(2), 1)]);
    // Nothing is installed: nothing is present; then the second update is.
    assert!(search("IsPresent=1").is_empty());
    assert_eq!(search("IsPresent=0 and IsHidden=0"), [(test_id(2), 1)]);
    let two = searcher.search("IsHidden=0").unwrap().updates;
    let downloader = s.create_update_downloader();
    downloader.set_updates(two.copy());
    assert_eq!(downloader.download().unwrap().result_code, OperationResultCode::Succeeded);
    let two = two.item(0).unwrap();
    assert_eq!(install(&s, &[two]).result_code, OperationResultCode::Succeeded);
    assert_eq!(search("IsPresent=1"), [(test_id(2), 1)]);
    assert_eq!(search("IsPresent=0"), [(test_id(1), 1)]);
    assert_eq!(search("RebootRequired=1"), [(test_id(2), 1)]);
    assert_eq!(search("RebootRequired=0"), [(test_id(1), 1)]);
}

/// D-34: the searcher's properties have WUA's defaults and read back what was set; D-28:
/// `IncludePotentiallySupersededUpdates` brings back the update a found one supersedes.
#[test]
fn d28_d34_searcher_properties_and_superseded_updates() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    repo.publish_extra(2, &format!("superseded_update_ids = [\"{}\"]", test_id(1)));
    let s = session(&w);
    let service = add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    s.set_client_application_id("d34-session");
    let searcher = s.create_update_searcher();
    assert_eq!(searcher.client_application_id(), "d34-session", "the session's when it was made");
    searcher.set_client_application_id("d34-searcher");
    assert_eq!(searcher.client_application_id(), "d34-searcher");
    assert!(searcher.online() && !searcher.include_potentially_superseded_updates());
    assert_eq!((searcher.server_selection(), searcher.service_id()), (ServerSelection::Default, String::new()));
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(2), 1)], "the superseded update is left out");
    assert_eq!(searcher.escape_string("it's"), "'it''s'");
    let by_id = format!("UpdateID={}", searcher.escape_string(&test_id(2)));
    assert_eq!(found(&searcher.search(&by_id).unwrap()), [(test_id(2), 1)]);

    searcher.set_include_potentially_superseded_updates(true);
    assert!(searcher.include_potentially_superseded_updates());
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1), (test_id(2), 1)]);
    searcher.set_online(false);
    searcher.set_server_selection(ServerSelection::Others);
    searcher.set_service_id(&service);
    assert!(!searcher.online());
    assert_eq!((searcher.server_selection(), searcher.service_id()), (ServerSelection::Others, service));
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(1), 1), (test_id(2), 1)], "offline, by service");
    searcher.set_include_potentially_superseded_updates(false);
    assert!(!searcher.include_potentially_superseded_updates());
    assert_eq!(found(&searcher.search("").unwrap()), [(test_id(2), 1)]);
}

/// Call errors: criteria (D-26), no service, an unknown service, a service never synced.
#[test]
fn search_errors_are_named() {
    let w = World::new().unwrap();
    let repo = Repo::new(&w);
    repo.publish(1, 1, "");
    let s = session(&w);
    let searcher = s.create_update_searcher();
    assert_eq!(searcher.search("").unwrap_err().hresult, HResult::WU_E_NO_SERVICE);
    assert_eq!(searcher.search("IsInstalled=").unwrap_err().hresult, HResult::WU_E_INVALID_CRITERIA);
    add_service(&s, &repo.dir.to_string_lossy(), &repo.root());
    searcher.set_online(false);
    assert_eq!(searcher.search("").unwrap_err().hresult, HResult::WUA_E_NOT_SYNCED);
    searcher.set_server_selection(ServerSelection::Others);
    searcher.set_service_id("5b0c7a5e-0000-4000-8000-000000000000");
    assert_eq!(searcher.search("").unwrap_err().hresult, HResult::WU_E_UNKNOWN_SERVICE);
    searcher.set_server_selection(ServerSelection::ManagedServer);
    assert_eq!(searcher.search("").unwrap_err().hresult, HResult::WU_E_NO_SERVICE);
    let manager = s.create_update_service_manager();
    let bad = manager.add_repository_service("bad", &repo.dir.to_string_lossy(), b"{}", None, 0).unwrap_err();
    assert_eq!(bad.hresult, HResult::E_INVALIDARG);
    assert_eq!(
        manager.remove_service("5b0c7a5e-0000-4000-8000-000000000000").unwrap_err().hresult,
        HResult::WU_E_UNKNOWN_SERVICE
    );
}
