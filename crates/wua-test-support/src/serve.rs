//! A directory served on 127.0.0.1 by the repository's static handler, from a runtime on a
//! thread of its own: for tests whose agent calls are synchronous. Stopped when dropped.

use std::path::Path;
use std::time::Duration;

use crate::bounded::join_within;

/// How long the server may take to report its address, and to stop: a moment each, so a
/// generous bound catches only a hang.
const LIMIT: Duration = Duration::from_secs(30);

/// A running server; it stops when dropped.
#[derive(Debug)]
pub struct Served {
    /// Its base URL (`http://127.0.0.1:PORT/`).
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Served {
    /// Serves `dir` (a served tree: `repository/` of a repository).
    pub fn start(dir: &Path) -> Served {
        let dir = dir.to_path_buf();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
                tx.send(listener.local_addr().expect("address")).expect("report the address");
                tokio::select! {
                    _ = wua_trust::serve(listener, dir) => {}
                    _ = stopped => {}
                }
            });
        });
        let addr = rx.recv_timeout(LIMIT).expect("the served directory's address, reported by its thread");
        Served { url: format!("http://{addr}/"), stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = join_within(thread, LIMIT, "the served directory's thread, once stopped");
        }
    }
}
