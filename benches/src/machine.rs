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
use std::thread;

/// The directory `report` writes into by default: `ptm-report` in the
/// workspace's target directory, which is `cargo_target_dir` when set
/// (the `CARGO_TARGET_DIR` variable; relative paths stay relative to the
/// working directory, as cargo takes them) and otherwise `target/` beside
/// the package directory `manifest_dir` (this package sits one level below
/// the workspace root).
pub fn report_dir(cargo_target_dir: Option<OsString>, manifest_dir: &Path) -> PathBuf {
    let target = match cargo_target_dir {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => manifest_dir.join("..").join("target"),
    };
    target.join("ptm-report")
}

/// [`report_dir`] for this build: `CARGO_TARGET_DIR` from the environment,
/// else `target/` of the workspace this package was built in.
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
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        let cpu_model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| cpu_model(&text))
            .unwrap_or_else(|| "unknown".to_owned());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Machine {
            cpus,
            cpu_model,
            kernel,
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

/// The first `model name` value in the text of `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

/// The 1-, 5- and 15-minute load averages from `/proc/loadavg`, as text
/// ("0.47 0.51 0.36"), or "unknown".
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// `seconds` since the Unix epoch as "2026-11-23 18:05 UTC" (proleptic
/// Gregorian calendar; Howard Hinnant's `civil_from_days`).
///
/// ```
/// assert_eq!(ptm_benches::machine::utc_minute(0), "1970-01-01 00:00 UTC");
/// assert_eq!(ptm_benches::machine::utc_minute(951_782_400), "2000-02-29 00:00 UTC");
/// ```
pub fn utc_minute(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let minute_of_day = (seconds % 86_400) / 60;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        minute_of_day / 60,
        minute_of_day % 60
    )
}

/// The current time as [`utc_minute`] writes it.
pub fn now_utc() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc_minute(seconds)
}

#[cfg(test)]
mod tests {
    use super::{cpu_model, report_dir, utc_minute, Machine};

    #[test]
    fn utc_dates() {
        assert_eq!(utc_minute(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(
            utc_minute(1_709_164_800 + 3_600 + 60),
            "2024-02-29 01:01 UTC"
        );
        assert_eq!(utc_minute(4_102_444_800), "2100-01-01 00:00 UTC");
    }
    use std::path::Path;

    #[test]
    fn cargo_target_dir_wins_when_set() {
        let manifest = Path::new("/w/benches");
        assert_eq!(
            report_dir(Some("rel/t".into()), manifest),
            Path::new("rel/t/ptm-report")
        );
        assert_eq!(
            report_dir(Some("".into()), manifest),
            Path::new("/w/benches/../target/ptm-report"),
            "an empty CARGO_TARGET_DIR is ignored"
        );
    }

    #[test]
    fn the_default_is_the_workspace_target() {
        let dir = super::default_report_dir();
        assert!(dir.ends_with("ptm-report"), "{}", dir.display());
    }

    #[test]
    fn cpu_model_reads_the_first_model_name() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: fpu\n\
                    processor\t: 1\nmodel name\t: other\n";
        assert_eq!(cpu_model(text).as_deref(), Some("AMD EPYC"));
        assert_eq!(cpu_model("processor : 0\n"), None);
    }

    #[test]
    fn the_machine_has_a_cpu() {
        let machine = Machine::current();
        assert!(machine.cpus >= 1);
        assert!(machine.describe().contains("CPUs"));
    }
}
