//! Where `report` writes, and what it says about the machine it ran on.
//!
//! ```
//! use std::path::Path;
//! use ptm_benches::machine::report_dir;
//!
//! let manifest = Path::new("/work/ptm/benches");
//! assert_eq!(report_dir(None, manifest), Path::new("/work/ptm/benches/../target/ptm-report"));
//! assert_eq!(report_dir(Some("/tmp/t".into()), manifest), Path::new("/tmp/t/ptm-report"));
//! ```

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The directory `report` writes into by default: `ptm-report` in
/// `cargo_target_dir` (`CARGO_TARGET_DIR`, as cargo takes it) when set,
/// else in `target/` of the workspace (one level above `manifest_dir`).
pub fn report_dir(cargo_target_dir: Option<OsString>, manifest_dir: &Path) -> PathBuf {
    let target = match cargo_target_dir {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest_dir.join("..").join("target"),
    };
    target.join("ptm-report")
}

/// [`report_dir`] for this build and environment.
pub fn default_report_dir() -> PathBuf {
    report_dir(
        std::env::var_os("CARGO_TARGET_DIR"),
        Path::new(env!("CARGO_MANIFEST_DIR")),
    )
}

/// What the report says about the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// CPUs this process may run on (`available_parallelism`).
    pub cpus: usize,
    /// The first "model name" of `/proc/cpuinfo`, or "unknown".
    pub cpu_model: String,
    /// `/proc/sys/kernel/osrelease` (what `uname -r` prints), or "unknown".
    pub kernel: String,
}

impl Machine {
    /// Reads the facts of this machine; what cannot be read is "unknown".
    pub fn current() -> Machine {
        let read = |path| fs::read_to_string(path).unwrap_or_default();
        let model = read("/proc/cpuinfo").lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_owned())
        });
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: model.unwrap_or_else(|| "unknown".into()),
            kernel: if kernel.is_empty() {
                "unknown".into()
            } else {
                kernel
            },
        }
    }

    /// "2 CPUs (AMD EPYC), Linux 6.18.44".
    pub fn describe(&self) -> String {
        format!(
            "{} CPUs ({}), Linux {}",
            self.cpus, self.cpu_model, self.kernel
        )
    }
}

/// The 1-, 5- and 15-minute load averages from `/proc/loadavg`
/// ("0.47 0.51 0.36"), or "unknown".
pub fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let loads: Vec<&str> = text.split_whitespace().take(3).collect();
    if loads.is_empty() {
        "unknown".into()
    } else {
        loads.join(" ")
    }
}

/// The current time to the second, in RFC 3339 ("2026-12-01T18:56:04Z").
pub fn now_utc() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::{now_utc, report_dir, Machine};
    use std::path::Path;

    #[test]
    fn an_empty_cargo_target_dir_is_ignored() {
        let manifest = Path::new("/w/benches");
        assert_eq!(
            report_dir(Some("rel/t".into()), manifest),
            Path::new("rel/t/ptm-report")
        );
        assert_eq!(
            report_dir(Some("".into()), manifest),
            Path::new("/w/benches/../target/ptm-report")
        );
    }

    #[test]
    fn the_machine_and_the_time_read() {
        assert!(Machine::current().describe().contains("CPUs"));
        let now = now_utc();
        assert!(
            now.len() == 20 && now.ends_with('Z') && now.starts_with("20"),
            "{now}"
        );
    }
}
