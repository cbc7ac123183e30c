//! Public behaviour of `ptm::ipc::MessageSocket`: whole messages across a
//! real child process, and frames a peer got wrong as errors, not panics.

use std::io::{ErrorKind, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

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

/// The error of a `Result` that must be an `Error::Io`.
fn io_error<T: std::fmt::Debug>(what: &str, result: ptm::Result<T>) -> std::io::Error {
    match result {
        Err(Error::Io(error)) => error,
        other => panic!("{what}: expected an I/O error, got {other:?}"),
    }
}

/// True for the kinds a socket timeout (`SO_SNDTIMEO`, `SO_RCVTIMEO`)
/// reports: `EAGAIN`, which std calls `WouldBlock`.
fn is_timeout(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A send that a write timeout cuts off after part of a 4 MiB frame leaves
/// half a frame on the stream. Sending on after it splices the next frame
/// into the rest of this one, and the peer then receives a corrupted 4 MiB
/// message as `Ok`. So every later send is refused (`BrokenPipe`, naming
/// the frame), and the peer gets `UnexpectedEof` for the cut frame once the
/// sender is gone: never a message.
#[test]
fn a_send_cut_off_midway_breaks_the_stream_and_the_peer_never_gets_a_spliced_message() {
    within("a send cut off by a write timeout", || {
        let (ours, theirs) = UnixStream::pair().expect("a socket pair");
        ours.set_write_timeout(Some(Duration::from_millis(100)))
            .expect("a write timeout");
        let mut sender = MessageSocket::new(ours);
        let mut receiver = MessageSocket::new(theirs);

        // Nobody reads yet: the socket buffer takes a part of the frame,
        // then the timeout cuts it.
        let error = io_error(
            "a 4 MiB send nobody reads",
            sender.send(&vec![1u8; 4 << 20]),
        );
        assert!(is_timeout(error.kind()), "{error}");
        let text = error.to_string();
        assert!(
            text.contains("breaks the stream") && text.contains("frame 0"),
            "{text}"
        );

        // Now the peer reads, so a send would go through: it must not.
        let reader = thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match receiver.recv() {
                    Ok(Some(message)) => got.push(Ok(message.len())),
                    Ok(None) => return got,
                    Err(error) => {
                        got.push(Err(error));
                        return got;
                    }
                }
            }
        });
        for message in [vec![2u8; 4 << 20], b"small".to_vec()] {
            let error = io_error("a send after a cut frame", sender.send(&message));
            assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
            let text = error.to_string();
            assert!(
                text.contains("the stream is broken")
                    && text.contains("frame 0 (counting from 0) was cut off after"),
                "{text}"
            );
        }
        drop(sender);
        let got = reader.join().expect("the reader ends");
        assert!(
            matches!(&got[..], [Err(Error::Io(error))] if error.kind() == ErrorKind::UnexpectedEof),
            "the peer must get UnexpectedEof and no message, got {got:?}"
        );
    });
}

/// A send refused before its first byte (`EAGAIN` on a full non-blocking
/// socket) leaves the stream whole: it is not a broken stream, the frames
/// before it arrive, and a later send works.
#[test]
fn a_send_refused_before_its_first_byte_leaves_the_stream_whole() {
    let (ours, theirs) = UnixStream::pair().expect("a socket pair");
    ours.set_nonblocking(true).expect("non-blocking");
    let mut sender = MessageSocket::new(ours);
    let mut receiver = MessageSocket::new(theirs);
    // Small frames, each taken whole or not at all, until the buffer is full.
    let mut sent = 0u32;
    let refused = loop {
        match sender.send(&sent.to_le_bytes()) {
            Ok(()) => sent += 1,
            Err(Error::Io(error)) => break error,
            Err(other) => panic!("expected WouldBlock, got {other:?}"),
        }
        assert!(sent < 10_000_000, "the socket buffer never filled");
    };
    assert_eq!(refused.kind(), ErrorKind::WouldBlock, "{refused}");
    let again = io_error("a second send on the full socket", sender.send(b"x"));
    assert_eq!(again.kind(), ErrorKind::WouldBlock, "{again}");
    for n in 0..sent {
        let message = receiver.recv().expect("a frame").expect("not the end");
        assert_eq!(message, n.to_le_bytes());
    }
    sender.send(b"after").expect("the stream is whole");
    assert_eq!(
        receiver.recv().expect("recv").as_deref(),
        Some(&b"after"[..])
    );
}

/// `recv` of a frame of exactly the limit (16 MiB by default) ends with a
/// buffer of at most the limit: growing it by doubling as bytes arrive
/// (`read_to_end`) ended with 32 MiB for 16 MiB of message.
#[test]
fn a_message_of_the_limit_is_received_in_no_more_than_the_limit() {
    within("a 16 MiB message", || {
        let (mut left, mut right) = MessageSocket::pair().expect("a socket pair");
        let sender = thread::spawn(move || left.send(&vec![7u8; DEFAULT_MAX_MESSAGE]));
        let message = right.recv().expect("recv").expect("a message");
        sender.join().expect("the sender ends").expect("send");
        assert_eq!(message.len(), DEFAULT_MAX_MESSAGE);
        assert!(
            message.capacity() <= DEFAULT_MAX_MESSAGE,
            "a {} byte message holds {} bytes of buffer",
            message.len(),
            message.capacity()
        );
        assert!(message.iter().all(|&byte| byte == 7), "the bytes changed");
    });
}

/// A read timeout between frames is harmless; one inside a frame leaves
/// the stream out of step: without a guard the next `recv` reads the rest
/// of the cut frame as a new length and returns garbage as `Ok`. Every
/// later `recv` is refused instead, naming the frame.
#[test]
fn a_recv_cut_off_midway_breaks_the_stream() {
    let (mut raw, end) = UnixStream::pair().expect("a socket pair");
    end.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("a read timeout");
    let mut socket = MessageSocket::new(end);
    let error = io_error("a recv with nothing sent", socket.recv());
    assert!(is_timeout(error.kind()), "{error}");
    raw.write_all(&[2, 0, 0, 0, b'o', b'k']).expect("a frame");
    assert_eq!(socket.recv().expect("in step").as_deref(), Some(&b"ok"[..]));

    raw.write_all(&100u32.to_le_bytes()).expect("a length");
    raw.write_all(&[1; 10]).expect("10 of the 100 bytes");
    let error = io_error("a recv inside a frame", socket.recv());
    assert!(is_timeout(error.kind()), "{error}");
    assert!(error.to_string().contains("frame 1"), "{error}");

    // The rest of the cut frame begins like a frame of its own.
    let mut rest = vec![5, 0, 0, 0];
    rest.resize(90, 9);
    raw.write_all(&rest).expect("the other 90 bytes");
    raw.write_all(&[2, 0, 0, 0, b'h', b'i'])
        .expect("a whole frame");
    let error = io_error("a recv after a cut frame", socket.recv());
    assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
    assert!(
        error
            .to_string()
            .contains("frame 1 (counting from 0) was cut off after 14 of 104 bytes"),
        "{error}"
    );
}

/// After a stream that ended inside a frame, the next `recv` must not say
/// `Ok(None)`, "closed between two messages": a message was lost.
#[test]
fn a_stream_that_ended_inside_a_frame_does_not_then_look_closed_cleanly() {
    let (mut raw, end) = UnixStream::pair().expect("a socket pair");
    raw.write_all(&100u32.to_le_bytes()).expect("a length");
    raw.write_all(&[1; 10]).expect("10 of the 100 bytes");
    drop(raw);
    let mut socket = MessageSocket::new(end);
    let error = io_error("a truncated frame", socket.recv());
    assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
    let error = io_error("a recv after a truncated frame", socket.recv());
    assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
}
