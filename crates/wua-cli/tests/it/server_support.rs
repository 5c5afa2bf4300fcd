//! The real update server as a child process (`wua server init`, `token create`, `run`), and
//! its administrators' API from the tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use wua_agent::wua_types::api::{
    Approval, ApprovalAction, ApprovalChanges, CreateEnrolmentKey, CreateGroup, EnrolmentKey,
};
use wua_fetch::{ApiMethod, ApiRequest, FetchLimits, Fetcher};

use crate::support::*;

/// `wua server run` on 127.0.0.1, logging at `trace` to `log`; killed when dropped.
pub(crate) struct ServerChild {
    child: Option<Child>,
    /// The data directory.
    pub(crate) data_dir: PathBuf,
    /// Its log (stderr), appended across restarts.
    pub(crate) log: PathBuf,
    port: u16,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// An administrator token.
    pub(crate) admin: String,
}

fn wua_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wua"));
    c.env_remove("WUA_CRASH_AT_STEP").env_remove("WUA_PAUSE_AT_STEP").env_remove("WUA_LOG");
    c
}

impl ServerChild {
    /// A data directory for the repository `repo`, an administrator token, and the server on
    /// a free port.
    pub(crate) fn start(w: &World, repo: &Path) -> ServerChild {
        let data_dir = w.work.join("server");
        let o = run(wua_bin().args(["server", "init", "--data-dir"]).arg(&data_dir).arg("--repository").arg(repo));
        assert!(o.status.success(), "{}", text(&o));
        let o = run(wua_bin().args(["server", "token", "create", "--name", "test", "--data-dir"]).arg(&data_dir));
        assert!(o.status.success(), "{}", text(&o));
        let admin = String::from_utf8(o.stdout).unwrap().trim().to_owned();
        let log = w.work.join("server.log");
        let mut server = ServerChild { child: None, data_dir, log, port: 0, url: String::new(), admin };
        server.run();
        server
    }

    /// A server on an existing data directory (a restored backup), on a free port.
    pub(crate) fn open(data_dir: &Path, log: &Path, admin: &str) -> ServerChild {
        let mut server = ServerChild {
            child: None,
            data_dir: data_dir.to_owned(),
            log: log.to_owned(),
            port: 0,
            url: String::new(),
            admin: admin.to_owned(),
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut child = wua_bin()
            .args(["server", "run", "--listen", &listen, "--data-dir"])
            .arg(&self.data_dir)
            .env("WUA_LOG", "trace")
            .stdout(Stdio::piped())
            .stderr(std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap())
            .spawn()
            .unwrap();
        let line = wua_test_support::read_line_within(&mut child, CHILD_LIMIT, "`wua server run`'s address");
        let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}"));
        self.url = url.trim_end_matches('/').to_owned();
        self.port = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.child = Some(child);
    }

    /// Stops the server (SIGTERM) and waits for it; whether it exited successfully.
    pub(crate) fn stop(&mut self) -> bool {
        self.signal(libc::SIGTERM)
    }

    /// SIGKILLs the server and waits for it.
    pub(crate) fn kill(&mut self) {
        self.signal(libc::SIGKILL);
    }

    fn signal(&mut self, signal: i32) -> bool {
        match self.child.take() {
            Some(mut child) => {
                // SAFETY: kill(2) on our own child's pid.
                unsafe {
                    libc::kill(child.id() as i32, signal);
                }
                wait(&mut child, "the server, signalled").success()
            }
            None => false,
        }
    }

    /// Starts it again on the same port, with the same data.
    pub(crate) fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// An administrator's call; the answer's JSON (null for an empty body). Must succeed.
    pub(crate) fn admin<B: serde::Serialize>(
        &self,
        method: ApiMethod,
        path: &str,
        body: Option<&B>,
    ) -> serde_json::Value {
        let url = url::Url::parse(&format!("{}{path}", self.url)).unwrap();
        let json = body.map(|b| serde_json::to_vec(b).unwrap());
        let request = ApiRequest { method, url: &url, bearer: Some(&self.admin), json: json.as_deref() };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let answer = runtime
            .block_on(async { Fetcher::new(FetchLimits::default(), &[]).unwrap().send(&request, 1 << 20).await })
            .unwrap();
        assert!(answer.is_success(), "{path}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
        if answer.body.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&answer.body).unwrap() }
    }

    /// `GET path` as an administrator.
    pub(crate) fn get(&self, path: &str) -> serde_json::Value {
        self.admin::<()>(ApiMethod::Get, path, None)
    }

    /// Groups `ring-1` and `ring-2`, and an enrolment key into `ring-1` that lets a computer
    /// pick its group; returns the key.
    pub(crate) fn enrolment_key(&self) -> String {
        for name in ["ring-1", "ring-2"] {
            self.admin(
                ApiMethod::Post,
                "/api/v1/groups",
                Some(&CreateGroup { name: name.into(), description: String::new() }),
            );
        }
        let create = CreateEnrolmentKey {
            description: "test".into(),
            group: Some("ring-1".into()),
            allow_client_targeting: true,
            expires_at: None,
        };
        let key: EnrolmentKey =
            serde_json::from_value(self.admin(ApiMethod::Post, "/api/v1/enrolment-keys", Some(&create))).unwrap();
        key.key.unwrap()
    }

    /// Approves `update_id` for `group`.
    pub(crate) fn approve(&self, group: &str, update_id: &str, action: ApprovalAction, deadline: Option<&str>) {
        let changes = ApprovalChanges {
            approve: vec![Approval { update_id: update_id.into(), action, deadline: deadline.map(str::to_owned) }],
            unapprove: vec![],
        };
        self.admin(ApiMethod::Post, &format!("/api/v1/groups/{group}/approvals"), Some(&changes));
    }

    /// The computer's updates by id: its state on the server.
    pub(crate) fn states(&self, computer: &str) -> std::collections::BTreeMap<String, String> {
        let detail = self.get(&format!("/api/v1/computers/{computer}"));
        detail["updates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| (u["update_id"].as_str().unwrap().to_owned(), u["state"].as_str().unwrap().to_owned()))
            .collect()
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            // Bounded: the child is SIGKILLed.
            let _ = child.wait();
        }
    }
}
