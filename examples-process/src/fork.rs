//! # `fork`: fork, exec and waitpid, the raw layer under `std::process`
//!
//! First what a process boundary buys: [`crash_in_a_child`] has a child
//! die of SIGSEGV, the signal a bad pointer raises, and this process reads
//! how it died and goes on. Then `nix::unistd::fork` + `execv` +
//! `waitpid`: the child runs `/bin/sh -c 'exit 7'` and the parent reads
//! code 7; an exec that fails ends the child with `_exit(127)`; and a
//! child that writes to a value it shares by copy with the parent: the
//! parent still sees its own value afterwards, because the child got a
//! copy of the address space, not a share of it.
//!
//! Run: `cargo run -p examples-process -- fork`
//!
//! The rule: after `fork` in a multi-threaded program the child holds a copy
//! of every lock, some held by threads that do not exist in the child, so
//! until `exec` or `_exit` it may call only async-signal-safe functions: no
//! allocation (the allocator's lock), no `println!` (stdout's lock), no
//! `format!`, no panic. The compiler cannot check that, which is why `fork` is
//! `unsafe` in nix. So the `CString`s and the argv pointer array are built
//! before `fork`, the path is absolute (`execvp`'s `PATH` search is not on
//! the async-signal-safe list, and nix's `execv` allocates its pointer array,
//! so the child calls `libc::execv`), and a failed exec ends in `_exit`, which
//! runs no destructor and flushes no stdio buffer copied from the parent.
//! `std::process::Command` does all this for you: prefer it.

use std::ffi::{c_char, CString};
use std::process::{Command, ExitStatus};
use std::ptr;

use anyhow::{bail, Context, Result};
use nix::libc;
use nix::sys::wait::WaitStatus;
use nix::unistd::{fork, ForkResult};

use crate::os;

// ANCHOR: crash
/// A child that crashes: `sh` sends itself SIGSEGV, as a bad pointer
/// would (`ulimit -c 0`: and leaves no core file).
pub fn crash_in_a_child() -> std::io::Result<ExitStatus> {
    let crash = "ulimit -c 0; kill -SEGV $$";
    Command::new("sh").args(["-c", crash]).status()
}
// ANCHOR_END: crash

// ANCHOR: fork_and_wait
/// Forks; the child runs `child` (async-signal-safe code only), then
/// `_exit(127)` if it returns. The parent reaps it: `(pid, exit code)`.
fn fork_and_wait(child: impl FnOnce()) -> Result<(u32, i32)> {
    // SAFETY: the child runs only `child`, which callers keep to
    // async-signal-safe calls ending in `execv` or `_exit`.
    match unsafe { fork() }.context("fork")? {
        ForkResult::Child => {
            child();
            // SAFETY: _exit is async-signal-safe; it runs no destructor.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child: pid } => {
            let pid = u32::try_from(pid.as_raw())
                .context("fork returned a negative pid")?;
            match os::reap(pid)? {
                WaitStatus::Exited(_, code) => Ok((pid, code)),
                other => bail!("child {pid} did not exit normally: {other:?}"),
            }
        }
    }
}
// ANCHOR_END: fork_and_wait

// ANCHOR: exec
/// Forks a child that execs `path` with `args` (`argv[0]` included); its code.
pub fn exec(path: &str, args: &[&str]) -> Result<(u32, i32)> {
    let path =
        CString::new(path).with_context(|| format!("{path:?} holds a NUL"))?;
    let args: Vec<CString> = args
        .iter()
        .map(|&a| CString::new(a))
        .collect::<Result<_, _>>()
        .context("an argument holds a NUL")?;
    let mut argv: Vec<*const c_char> =
        args.iter().map(|a| a.as_ptr()).collect();
    argv.push(ptr::null());
    fork_and_wait(|| {
        // SAFETY: `path` and `argv` (NUL-terminated, pointing into `args`)
        // were built before fork and are alive; execv and _exit are
        // async-signal-safe.
        unsafe {
            libc::execv(path.as_ptr(), argv.as_ptr());
        } // returns only if execv failed: `fork_and_wait` calls _exit(127)
    })
}
// ANCHOR_END: exec

// ANCHOR: isolation
/// The parent's value after a child set its copy to `child_value`, and the
/// child's value, reported through its exit code.
pub fn isolation(parent_value: u8, child_value: u8) -> Result<(u8, i32)> {
    let mut value = parent_value;
    let in_child = &mut value;
    let (_, code) = fork_and_wait(|| {
        // SAFETY: `in_child` points to the child's copy of `value`, alive and
        // exclusively borrowed; volatile store and load (the write really
        // happens, in memory) and _exit are async-signal-safe.
        unsafe {
            ptr::write_volatile(in_child, child_value);
            libc::_exit(i32::from(ptr::read_volatile(in_child)))
        }
    })?;
    Ok((value, code))
}
// ANCHOR_END: isolation

/// Prints each child's pid and status.
pub fn run() -> Result<()> {
    let status = crash_in_a_child().context("running `sh`")?;
    println!(
        "crash: the child died of {}; this process goes on",
        os::describe(&status)
    );
    let (pid, code) = exec("/bin/sh", &["sh", "-c", "exit 7"])?;
    println!("fork + execv /bin/sh -c 'exit 7': child pid {pid},");
    println!("fork + execv:   waitpid -> exit code {code}");
    let (pid, code) = exec("/no/such/program", &["no-such-program"])?;
    println!("fork + execv /no/such/program: exec failed in the child,");
    println!("fork + execv:   pid {pid} -> exit code {code} (its _exit(127))");
    let (parent, child) = isolation(41, 42)?;
    println!("isolation: the child set its copy to {child} (its exit code);");
    println!("isolation: the parent's value is still {parent}");
    println!("notice: a child's crash and its writes stay in the child;");
    println!("notice: the parent learns only what waitpid reports");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_and_wait() {
        assert_eq!(
            exec("/bin/sh", &["sh", "-c", "exit 7"]).expect("fork works").1,
            7
        );
        assert_eq!(
            exec("/no/such/program", &["x"]).expect("fork works").1,
            127
        );
    }

    #[test]
    fn a_crash_ends_the_child_only() {
        use std::os::unix::process::ExitStatusExt;
        let status = crash_in_a_child().expect("sh runs");
        assert_eq!(status.signal(), Some(11), "{status}");
    }

    /// A process's memory is its own: fork copies it.
    #[test]
    fn the_childs_write_is_not_seen_by_the_parent() {
        assert_eq!(isolation(41, 42).expect("fork works"), (41, 42));
    }
}
