//! What processes hold in memory, from `/proc` (Linux). **RSS** (`VmRSS`
//! of `/proc/<pid>/status`): a process's pages in memory, shared ones in
//! full; right for what a process allocates for itself. **Peak RSS**
//! (`VmHWM`): the largest RSS so far; it only rises, so each variant whose
//! peak is wanted runs in a fresh process. **PSS** (`Pss` of
//! `smaps_rollup`): RSS with every shared page divided among its sharers;
//! summed over a group of processes it counts each page once, what a
//! thousand copies of one program really cost. None of them counts kernel
//! memory (page tables, kernel stacks, namespaces, sockets).
//!
//! ```
//! let rss = ptm_benches::memory::rss_bytes()?;
//! let pss = ptm_benches::memory::pss_bytes(std::process::id())?;
//! // Shared pages count in full in the RSS, in part in the PSS.
//! assert!(rss > 0 && pss > 0 && pss <= rss + (1 << 20));
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::HashMap;
use std::fs;

use anyhow::{anyhow, Context};

/// The `key:` line of a `/proc` file in the `Key:  123 kB` format, in bytes.
fn kib_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// `key` of `/proc/<pid>/<file>`, in bytes (`pid` "self" for this process).
fn proc_kib(pid: &str, file: &str, key: &str) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/{file}");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    kib_field(&text, key).ok_or_else(|| anyhow!("{path}: no {key} line"))
}

/// This process's resident set (`VmRSS`), in bytes.
///
/// # Errors
///
/// If `/proc/self/status` cannot be read or has no `VmRSS` line.
pub fn rss_bytes() -> anyhow::Result<u64> {
    proc_kib("self", "status", "VmRSS")
}

/// This process's peak resident set so far (`VmHWM`), in bytes.
///
/// # Errors
///
/// If `/proc/self/status` cannot be read or has no `VmHWM` line.
pub fn peak_rss_bytes() -> anyhow::Result<u64> {
    proc_kib("self", "status", "VmHWM")
}

/// The proportional set size of process `pid`, in bytes.
///
/// # Errors
///
/// If `/proc/<pid>/smaps_rollup` cannot be read (the process is gone, or
/// is another user's and this one is not root) or has no `Pss` line.
pub fn pss_bytes(pid: u32) -> anyhow::Result<u64> {
    proc_kib(&pid.to_string(), "smaps_rollup", "Pss")
}

/// The parent pid in a `/proc/<pid>/stat` text: the second field after the
/// command name, which is in parentheses and may hold spaces and
/// parentheses itself.
fn parent_in_stat(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Every descendant of `pid` now alive, from the parent of every process in
/// `/proc` (one that ends meanwhile is left out).
fn descendants(pid: u32) -> anyhow::Result<Vec<u32>> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in fs::read_dir("/proc").context("listing /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some(parent) = parent_in_stat(&stat) {
            children.entry(parent).or_default().push(child);
        }
    }
    let (mut found, mut next) = (Vec::new(), vec![pid]);
    while let Some(p) = next.pop() {
        for &child in children.get(&p).into_iter().flatten() {
            found.push(child);
            next.push(child);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The PSS of this process and of every descendant of it, summed, in
/// bytes, and how many descendants were counted (one that ends before its
/// PSS is read is left out).
///
/// # Errors
///
/// If this process's PSS or `/proc` cannot be read, or a descendant's PSS
/// cannot for another reason than its end: a process that is not dumpable
/// (a container's init) can be read by root only, and a sum that silently
/// left it out would understate what the units hold.
pub fn group_pss_bytes() -> anyhow::Result<(u64, usize)> {
    let me = std::process::id();
    let (mut total, mut counted) = (pss_bytes(me)?, 0);
    for pid in descendants(me)? {
        match pss_bytes(pid) {
            Ok(pss) => (total, counted) = (total + pss, counted + 1),
            Err(error) if ended(&error) => {}
            Err(error) => {
                return Err(error.context(format!(
                    "the PSS of descendant {pid} (a process that is not dumpable, such as \
                     a container's init, can be read by root only: run as root)"
                )))
            }
        }
    }
    Ok((total, counted))
}

/// Whether `error` says that the process was gone (`ENOENT`, `ESRCH`).
fn ended(error: &anyhow::Error) -> bool {
    let gone = |io: &std::io::Error| {
        matches!(
            io.raw_os_error(),
            Some(nix::libc::ENOENT | nix::libc::ESRCH)
        )
    };
    error.chain().filter_map(|c| c.downcast_ref()).any(gone)
}

#[cfg(test)]
mod tests {
    use super::{descendants, ended, group_pss_bytes, kib_field, parent_in_stat, peak_rss_bytes};
    use std::process::{Command, Stdio};

    /// A descendant that is gone is left out of a sum; one that cannot be
    /// read (a container's init read by another user than root) is an
    /// error, not a silently smaller sum.
    #[test]
    fn only_a_process_that_ended_is_left_out() {
        let io = |errno| anyhow::Error::from(std::io::Error::from_raw_os_error(errno));
        assert!(ended(&io(nix::libc::ENOENT).context("reading")));
        assert!(ended(&io(nix::libc::ESRCH)));
        assert!(!ended(&io(nix::libc::EACCES).context("reading")));
        assert!(!ended(&anyhow::anyhow!("no Pss line")));
    }

    #[test]
    fn fields_parse_and_odd_lines_do_not() {
        let status = "Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(1024 * 1024));
        assert_eq!(kib_field(status, "Pss"), None);
        assert_eq!(kib_field("Pss_Anon: 3 kB\nPss: 4 kB\n", "Pss"), Some(4096));
        assert_eq!(kib_field("Pss: many\n", "Pss"), None);
        assert_eq!(parent_in_stat("42 (a (b) c) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("no parentheses"), None);
    }

    #[test]
    fn a_child_and_its_child_are_descendants() {
        // sh forks cat (a second command follows) and waits for it; both end
        // when cat's stdin closes.
        let mut child = Command::new("sh")
            .args(["-c", "cat; true"])
            .stdin(Stdio::piped())
            .spawn()
            .expect("starting sh");
        let parent_of = |pid: u32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            parent_in_stat(&stat)
        };
        let me = std::process::id();
        let mut found = Vec::new();
        for _ in 0..500 {
            found = descendants(me).expect("reading /proc");
            if found.iter().any(|&p| parent_of(p) == Some(child.id())) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(found.contains(&child.id()), "{found:?}");
        let grandchild = found.iter().find(|&&p| parent_of(p) == Some(child.id()));
        assert!(grandchild.is_some(), "sh's cat among {found:?}");
        let (pss, counted) = group_pss_bytes().expect("summing");
        assert!(pss > 0 && counted >= 2, "{pss} {counted}");
        assert!(peak_rss_bytes().expect("VmHWM") > 0);
        drop(child.stdin.take());
        assert!(child.wait().expect("waiting for sh").success());
    }
}
