//! Public behaviour of `ptm::ipc::MessageSocket`: whole messages across a
//! real child process, and frames a peer got wrong as errors, not panics.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::thread;

use ptm::ipc::{MessageSocket, DEFAULT_MAX_MESSAGE};
use ptm::Error;

mod common;
use common::within;

/// Messages of several sizes, the empty one included, go through `cat` (a
/// real child whose stdin and stdout are the other end of the socket) and
/// come back whole and in order; then the end of the stream.
#[test]
fn messages_round_trip_through_a_child_process() {
    let messages: Vec<Vec<u8>> = vec![
        b"ping".to_vec(),
        Vec::new(),
        (0..1_000_000u32).map(|n| (n % 251) as u8).collect(),
        vec![7u8; 3],
    ];
    let expected = messages.clone();
    let received = within("a round trip through cat", move || {
        let (mut ours, theirs) = MessageSocket::pair().expect("a socket pair");
        let theirs = theirs.into_inner();
        let stdout = theirs.try_clone().expect("a second descriptor");
        let mut cat = Command::new("cat")
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::from(OwnedFd::from(stdout)))
            .spawn()
            .expect("cat starts");
        // One thread sends while this one receives: cat echoes as it reads,
        // so a sender alone would fill both socket buffers and stall.
        let mut sender = ours.try_clone().expect("a sending handle");
        let sending = thread::spawn(move || {
            for message in &messages {
                sender.send(message).expect("send");
            }
            sender.shutdown_send().expect("shutdown");
        });
        let mut received = Vec::new();
        while let Some(message) = ours.recv().expect("recv") {
            received.push(message);
        }
        sending.join().expect("the sender finished");
        assert!(cat.wait().expect("cat is reaped").success());
        received
    });
    assert_eq!(received.len(), expected.len());
    assert!(received == expected, "a message changed on the way");
}

/// A stream that ends inside a frame is `UnexpectedEof`, naming how much
/// arrived: inside the length prefix, and inside the message.
#[test]
fn truncated_frames_are_errors() {
    let (mut raw, end) = UnixStream::pair().expect("a socket pair");
    raw.write_all(&[5, 0]).expect("half a length prefix");
    drop(raw);
    let mut socket = MessageSocket::new(end);
    match socket.recv() {
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
            assert!(error.to_string().contains("2 bytes into"), "{error}");
        }
        other => panic!("expected UnexpectedEof, got {other:?}"),
    }

    let (mut raw, end) = UnixStream::pair().expect("a socket pair");
    raw.write_all(&100u32.to_le_bytes()).expect("a length");
    raw.write_all(&[1; 10]).expect("10 of the 100 bytes");
    drop(raw);
    let mut socket = MessageSocket::new(end);
    match socket.recv() {
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
            assert!(
                error.to_string().contains("10 bytes into a message of 100"),
                "{error}"
            );
        }
        other => panic!("expected UnexpectedEof, got {other:?}"),
    }
}

/// A length over the limit is `InvalidData` before anything is allocated
/// (`u32::MAX` would be 4 GiB); sending over the limit is refused and sends
/// nothing, so the stream stays usable.
#[test]
fn oversized_frames_are_errors() {
    let (mut raw, end) = UnixStream::pair().expect("a socket pair");
    raw.write_all(&u32::MAX.to_le_bytes())
        .expect("a huge length");
    let mut socket = MessageSocket::new(end);
    assert_eq!(socket.limit(), DEFAULT_MAX_MESSAGE);
    match socket.recv() {
        Err(Error::Io(error)) => {
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
            assert!(error.to_string().contains("over the limit"), "{error}");
        }
        other => panic!("expected InvalidData, got {other:?}"),
    }

    let (left, right) = MessageSocket::pair().expect("a socket pair");
    let (mut left, mut right) = (left.with_limit(8), right.with_limit(8));
    assert!(matches!(left.send(&[0; 9]), Err(Error::InvalidArgument(_))));
    left.send(b"fits").expect("a message within the limit");
    assert_eq!(right.recv().expect("recv").as_deref(), Some(&b"fits"[..]));
}

/// Sending to a peer that is gone is `BrokenPipe`, not a SIGPIPE death (the
/// test binary ignores SIGPIPE as every Rust program does, but the call
/// uses `MSG_NOSIGNAL` and would not raise it anyway).
#[test]
fn a_gone_peer_is_broken_pipe() {
    let (mut left, right) = MessageSocket::pair().expect("a socket pair");
    drop(right);
    match left.send(b"anyone?") {
        Err(Error::Io(error)) => assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe),
        other => panic!("expected BrokenPipe, got {other:?}"),
    }
}
