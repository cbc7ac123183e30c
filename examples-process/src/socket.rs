//! # `socket`: whole messages to a child over a Unix domain socket pair
//!
//! Shows `ptm::ipc::MessageSocket` (length-prefixed frames): unlike a pipe,
//! one socket carries both directions, and framing turns its byte stream
//! into messages. The child is this binary re-run (a hidden `socket-child`
//! subcommand) with the socket as its stdin; it answers each number with
//! its square. A peer that sends a truncated or oversized frame gets an
//! error, not a panic or a 4 GiB allocation.
//!
//! A socket is a byte stream: without a frame (here a 4-byte length) a
//! reader cannot tell where one message ends, and a length it trusts
//! blindly is a denial of service. A Unix socket pair is the local,
//! unnamed kind: no address, no port, only the two ends.
//!
//! Run: `cargo run -p examples-process -- socket`

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use ptm::ipc::MessageSocket;
use ptm::process::ProcessManager;

// ANCHOR: serve_squares
/// The child's side: answers each request (a decimal number) with its
/// square until the parent shuts its side down. Returns how many it served.
///
/// # Errors
///
/// If a frame is bad (cut short, over the limit) or an answer cannot be sent.
pub fn serve_squares(socket: &mut MessageSocket) -> ptm::Result<usize> {
    let mut served = 0;
    while let Some(request) = socket.recv()? {
        let answer =
            match String::from_utf8_lossy(&request).trim().parse::<u64>() {
                Ok(n) => n
                    .checked_mul(n)
                    .map_or("overflow".to_owned(), |square| square.to_string()),
                Err(_) => "not a number".to_owned(),
            };
        socket.send(answer.as_bytes())?;
        served += 1;
    }
    Ok(served)
}
// ANCHOR_END: serve_squares

/// The hidden `socket-child` subcommand: serve on the socket that is stdin.
///
/// # Errors
///
/// If stdin cannot be duplicated, or a frame is bad or cannot be sent.
pub fn child() -> Result<()> {
    let stdin: OwnedFd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating stdin (the socket)")?;
    serve_squares(&mut MessageSocket::new(UnixStream::from(stdin)))
        .context("serving squares on the socket")?;
    Ok(())
}

// ANCHOR: ask_child
/// Asks a child process for the squares of `numbers`; returns the answers.
///
/// # Errors
///
/// If the socket pair or the child cannot be made, a message cannot be sent
/// or received, or the child fails.
pub fn ask_child(numbers: &[u64]) -> Result<Vec<String>> {
    let (mut ours, theirs) =
        MessageSocket::pair().context("creating a socket pair")?;
    let exe =
        std::env::current_exe().context("finding this program's executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("socket-child").stdin(Stdio::from(OwnedFd::from(theirs)));
    // The manager kills and reaps the child if anything below fails.
    let mut manager = ProcessManager::new();
    manager.spawn_command(cmd).context("starting the socket child")?;
    let mut answers = Vec::new();
    for n in numbers {
        ours.send(n.to_string().as_bytes())
            .with_context(|| format!("sending {n}"))?;
        let answer = ours
            .recv()
            .with_context(|| format!("receiving the square of {n}"))?;
        let answer = answer.context("the child hung up early")?;
        answers.push(String::from_utf8_lossy(&answer).into_owned());
    }
    ours.shutdown_send().context("shutting down our sending side")?;
    for report in manager.wait_all() {
        if !report.status.as_ref().is_ok_and(|status| status.success()) {
            bail!("the child failed: {report}");
        }
    }
    Ok(answers)
}
// ANCHOR_END: ask_child

// ANCHOR: bad_frame
/// What `recv` says to a frame that promises `length` bytes and brings `sent`.
///
/// # Errors
///
/// If the socket pair cannot be made or written to (`sent` must fit in its
/// buffer: nothing reads while it is written).
pub fn bad_frame(length: u32, sent: usize) -> Result<String> {
    let (mut raw, end) =
        UnixStream::pair().context("creating a socket pair")?;
    raw.write_all(&length.to_le_bytes()).context("writing a frame's length")?;
    raw.write_all(&vec![0u8; sent]).context("writing a frame's bytes")?;
    drop(raw);
    Ok(match MessageSocket::new(end).recv() {
        Ok(message) => format!("no error: {message:?}"),
        Err(error) => error.to_string(),
    })
}
// ANCHOR_END: bad_frame

/// Prints the answers and the errors of the two bad frames.
pub fn run() -> Result<()> {
    let numbers = [0, 1, 2, 3, 12, 4_000_000_000];
    let answers = ask_child(&numbers)?;
    println!("socket: asked a child process over one socket pair: {numbers:?}");
    println!("socket: it answered {}", answers.join(", "));
    let short = bad_frame(100, 3)?;
    crate::os::say("socket:", &format!("a frame cut short: {short}"));
    let huge = bad_frame(u32::MAX, 0)?;
    crate::os::say("socket:", &format!("a frame of 4 GiB: {huge}"));
    println!(
        "notice: each send arrives as one whole message, and a bad length \
         is an error"
    );
    println!("notice: before any memory is allocated for it");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_squares_until_shutdown() {
        let (mut client, mut server) = MessageSocket::pair().expect("a pair");
        let serving = std::thread::spawn(move || {
            serve_squares(&mut server).expect("serves")
        });
        for (request, expected) in [("7", "49"), ("x", "not a number")] {
            client.send(request.as_bytes()).expect("send");
            assert_eq!(
                client.recv().expect("recv").expect("an answer"),
                expected.as_bytes()
            );
        }
        client.shutdown_send().expect("shutdown");
        assert_eq!(serving.join().expect("no panic"), 2);
    }
}
