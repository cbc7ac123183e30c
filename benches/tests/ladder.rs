//! The hidden modes of `report` that the isolation ladder runs in fresh
//! processes, run here as that experiment runs them: the socket echo
//! partner, and holding live units (containers too: they need user
//! namespaces, as ptm's own container tests do).

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Output, Stdio};

use ptm_benches::experiments::isolation::Held;

fn report(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_report"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running report")
}

fn last_line(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", output.status);
    stdout.lines().last().expect("a line").to_owned()
}

#[test]
fn the_socket_partner_echoes_until_end_of_file() {
    let dir = std::env::temp_dir().join(format!("ptm-ladder-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a directory");
    let path = dir.join("echo.sock");
    let listener = UnixListener::bind(&path).expect("binding");
    let mut child = Command::new(env!("CARGO_BIN_EXE_report"))
        .arg("--echo-socket")
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .expect("starting report");
    let (mut stream, _) = listener.accept().expect("accepting");
    for word in [&b"ping"[..], b"a longer message"] {
        stream.write_all(word).expect("writing");
        let mut back = vec![0; word.len()];
        stream.read_exact(&mut back).expect("reading");
        assert_eq!(back, word);
    }
    stream.shutdown(std::net::Shutdown::Write).expect("closing");
    assert!(child.wait().expect("waiting").success());
    std::fs::remove_dir_all(&dir).expect("cleaning up");
}

#[test]
fn live_threads_and_processes_are_held_and_measured() {
    for (level, units) in [
        ("thread", "20"),
        ("process", "3"),
        ("reexec", "3"),
        ("container", "2"),
    ] {
        let output = report(&["--isolation-memory", level, "--count", units]);
        let held = Held::from_line(3, &last_line(&output)).expect("a held line");
        assert_eq!(held.held.to_string(), units, "{level}");
        assert_eq!(held.error, None, "{level}");
        assert!(held.bytes > 0, "{level}: {held:?}");
    }
    let output = report(&["--isolation-memory", "no-such-level", "--count", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown name \"no-such-level\""),
        "{stderr}"
    );
}
