//! Mutex-poison recovery, in one place.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Locks `m`, taking the data even if a thread panicked while holding it. For data that a panic
/// cannot leave half-changed (plain values, each set in one assignment), which is what wua
/// keeps behind its mutexes; the panic itself is reported where it happened.
pub fn lock_unpoisoned<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` (at most `timeout`, when given) and takes the data back as
/// [`lock_unpoisoned`] does.
pub fn wait_unpoisoned<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>, timeout: Option<Duration>) -> MutexGuard<'a, T> {
    match timeout {
        None => cv.wait(guard).unwrap_or_else(|e| e.into_inner()),
        Some(t) => cv.wait_timeout(guard, t).unwrap_or_else(|e| e.into_inner()).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_mutex_still_yields_its_data() {
        let m = std::sync::Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _guard = m2.lock().unwrap();
            panic!("poisons the mutex");
        })
        .join();
        assert!(m.is_poisoned());
        *lock_unpoisoned(&m) += 1;
        assert_eq!(*lock_unpoisoned(&m), 2);
    }
}
