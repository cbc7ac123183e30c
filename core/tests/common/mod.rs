//! Helpers shared by the integration tests. Each file in `tests/` is its own
//! crate and includes this module with `mod common;`.

use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long a step may take before a test calls it a hang. Generous: it
/// bounds a deadlock, it is not a performance claim.
#[allow(dead_code)] // not every test file needs it by name
pub const LIMIT: Duration = Duration::from_secs(30);

/// Runs `f` on a helper thread and returns its value, failing the test if it
/// takes longer than [`LIMIT`] (a deadlock in the code under test) and
/// re-raising its panic if it panics.
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let helper = thread::Builder::new()
        .name(format!("test: {what}"))
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("the OS starts the test's helper thread");
    match rx.recv_timeout(LIMIT) {
        Ok(value) => {
            helper.join().expect("the helper thread sent its value");
            value
        }
        Err(RecvTimeoutError::Disconnected) => match helper.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the helper thread returned without sending"),
        },
        Err(RecvTimeoutError::Timeout) => {
            panic!("{what}: not done after {LIMIT:?}: a deadlock or a hang")
        }
    }
}
