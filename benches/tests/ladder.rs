//! The partners that the isolation ladder runs in fresh processes, run
//! here as it runs them: the socket echo partner, and holding live units
//! (containers too: they need user namespaces, as ptm's own container
//! tests do).

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Output, Stdio};

fn report(args: &[&str]) -> Output {
    let mut report = Command::new(env!("CARGO_BIN_EXE_report"));
    let output = report.args(args).stdin(Stdio::null()).output();
    output.expect("running report")
}

#[test]
fn the_socket_partner_echoes_until_end_of_file() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("echo.sock");
    let listener = UnixListener::bind(&path).expect("binding");
    let mut child = Command::new(env!("CARGO_BIN_EXE_report"))
        .args(["--partner", "echo-socket"])
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
}

#[test]
fn live_threads_processes_and_containers_are_held_and_measured() {
    for (level, units) in [
        ("thread", 20),
        ("process", 3),
        ("reexec", 3),
        ("container", 2),
    ] {
        let output = report(&["--partner", "isolation-memory", level, &units.to_string()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{}: {stderr}", output.status);
        let mut reader = csv::ReaderBuilder::new();
        let mut reader = reader.has_headers(false).from_reader(&output.stdout[..]);
        let held: Option<Result<(u64, u64, Option<String>), _>> = reader.deserialize().last();
        let (held, bytes, error) = held.expect("a line").expect("held,bytes,error");
        assert_eq!((held, error), (units, None), "{level}");
        assert!(bytes > 0, "{level}: {bytes}");
    }
    let output = report(&["--partner", "isolation-memory", "no-such-level", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no level \"no-such-level\""), "{stderr}");
}
