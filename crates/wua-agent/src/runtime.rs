//! Network work (refreshes, downloads) runs on a thread of its own with its own runtime, so a
//! session used, or dropped, inside a caller's async runtime never nests one runtime in
//! another.

use wua_types::{HResult, WuError};

/// Runs `work` to completion on a new thread with a current-thread runtime.
pub(crate) fn block_on<F>(work: F) -> Result<F::Output, WuError>
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        let thread = scope.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            Ok::<_, std::io::Error>(runtime.block_on(work))
        });
        match thread.join() {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(e)) => Err(WuError::new(HResult::WU_E_UNEXPECTED, format!("cannot start the network runtime: {e}"))),
            Err(_) => Err(WuError::new(HResult::WU_E_UNEXPECTED, "the network thread panicked")),
        }
    })
}
