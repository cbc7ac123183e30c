//! [`MessageSocket`]: length-prefixed messages over a Unix domain stream
//! socket, between threads or processes.

use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use nix::sys::socket::{send, sendmsg, MsgFlags, UnixAddr};

use super::pump::read_append;
use crate::error::{Error, Result};

/// The default largest message [`MessageSocket::recv`] accepts: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// Bytes of the length prefix: a `u32`, little-endian.
const HEADER: usize = 4;

/// The room [`MessageSocket::recv`] first makes for a message's bytes; it
/// doubles as they arrive, up to the announced length.
const FIRST_ROOM: usize = 64 * 1024;

/// One end of a Unix domain stream socket that carries whole messages.
///
/// A stream socket carries bytes, not messages: one `write` may arrive as
/// several `read`s and two as one. Each message therefore goes out as a
/// 4-byte little-endian length and then its bytes, and
/// [`recv`](MessageSocket::recv) reads exactly one such frame back. What a
/// peer sends cannot make the receiver panic or allocate without bound: a
/// length over the [limit](MessageSocket::with_limit) and a stream that
/// ends inside a frame are errors.
///
/// A [`pair`](MessageSocket::pair) connects two threads, or a parent and a
/// child: give the child one end as its stdin and stdout (two descriptors:
/// `Stdio::from(OwnedFd::from(end))` and one from `try_clone`), or as any
/// descriptor.
///
/// Sending never raises SIGPIPE (`MSG_NOSIGNAL`): a peer that is gone is an
/// `Error::Io` of kind `BrokenPipe`.
///
/// # A broken stream
///
/// A send that fails after writing part of a frame (a write timeout set on
/// the stream, `EAGAIN` on a non-blocking one, a signal) leaves half a frame
/// on the stream. Nothing can follow it: the peer would read the next
/// frame's bytes as the rest of this one. So from then on every `send`, on
/// this handle and on its [clones](MessageSocket::try_clone), fails with an
/// `Error::Io` of kind `BrokenPipe` that names the frame that was cut off;
/// the peer, once this end is dropped, gets `UnexpectedEof` for that frame,
/// never a message made of two. A send that failed before its first byte
/// (`EAGAIN` on a full socket, a timeout with nothing written) leaves the
/// stream whole, and may be retried.
///
/// Receiving is the same: a `recv` that fails after it consumed part of a
/// frame (a read timeout inside a frame, a length over the limit, a stream
/// that ended inside a frame) leaves the stream out of step, and every later
/// `recv` fails with kind `BrokenPipe` naming that frame. A `recv` that
/// fails before the first byte of a frame (a read timeout between frames)
/// may be retried.
///
/// # Examples
///
/// ```
/// use ptm::ipc::MessageSocket;
///
/// # fn main() -> ptm::Result<()> {
/// let (mut left, mut right) = MessageSocket::pair()?;
/// left.send(b"ping")?;
/// assert_eq!(right.recv()?.as_deref(), Some(&b"ping"[..]));
/// drop(left);
/// assert_eq!(right.recv()?, None); // the peer is gone, between frames
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MessageSocket {
    stream: UnixStream,
    limit: usize,
    /// Shared by the handles [`try_clone`](MessageSocket::try_clone) makes,
    /// as they share the stream.
    frames: Arc<Frames>,
}

/// What went through a stream, frame by frame: how many whole frames each
/// way, and the frame that broke each direction.
///
/// The counters are `Relaxed`: each is written by the one handle that sends
/// (or receives) at a time, and read only to name a frame in a message. A
/// break is set once (`OnceLock`), by the call that cut the frame, before
/// that call returns; a handle that sends after it sees it.
#[derive(Debug, Default)]
struct Frames {
    sent: AtomicU64,
    received: AtomicU64,
    send_broken: OnceLock<Cut>,
    recv_broken: OnceLock<Cut>,
}

/// A frame cut off: which one, how much of it went through, and why.
#[derive(Debug)]
struct Cut {
    /// The frame's index, from 0, among the frames of that direction.
    frame: u64,
    /// Bytes of it (length prefix included) written or read.
    done: usize,
    /// Its size, length prefix included, once known.
    total: Option<usize>,
    /// The error that cut it.
    cause: String,
}

impl Cut {
    /// `frame 3 (from 0) was cut off after 219264 of 4194308 bytes (...)`.
    fn describe(&self) -> String {
        let of = self
            .total
            .map(|total| format!(" of {total}"))
            .unwrap_or_default();
        format!(
            "frame {} (counting from 0) was cut off after {}{of} bytes ({})",
            self.frame, self.done, self.cause
        )
    }
}

/// The error of every call after `cut` broke the stream in direction `what`.
fn broken(what: &str, cut: &Cut) -> Error {
    Error::Io(io::Error::new(
        io::ErrorKind::BrokenPipe,
        format!(
            "cannot {what}: the stream is broken, {}; no frame can follow it",
            cut.describe()
        ),
    ))
}

impl MessageSocket {
    /// Two connected ends (`socketpair(AF_UNIX, SOCK_STREAM)`, close-on-exec).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the operating system refuses a socket pair (out of
    /// descriptors).
    pub fn pair() -> Result<(MessageSocket, MessageSocket)> {
        let (left, right) = UnixStream::pair()?;
        Ok((MessageSocket::new(left), MessageSocket::new(right)))
    }

    /// Frames messages over an existing stream (for instance a connected
    /// `UnixStream`, or one made from a descriptor a child inherited).
    ///
    /// Configure the stream first if needed: a read or write timeout, or
    /// non-blocking mode, apply to every `recv` and `send`, and a call that
    /// fails inside a frame breaks the stream (see
    /// [A broken stream](MessageSocket#a-broken-stream)). The stream must be
    /// at a frame boundary in both directions.
    pub fn new(stream: UnixStream) -> MessageSocket {
        MessageSocket {
            stream,
            limit: DEFAULT_MAX_MESSAGE,
            frames: Arc::default(),
        }
    }

    /// The largest message, in bytes, that [`send`](MessageSocket::send)
    /// sends and [`recv`](MessageSocket::recv) accepts (default
    /// [`DEFAULT_MAX_MESSAGE`]; at most `u32::MAX`, larger values are capped).
    #[must_use]
    pub fn with_limit(mut self, limit: usize) -> MessageSocket {
        self.limit = limit.min(u32::MAX as usize);
        self
    }

    /// The largest message this end sends or accepts.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sends one message: its length, then its bytes. Blocks while the
    /// socket's buffer is full (until the peer reads).
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] if `message` is longer than the limit
    ///   (nothing is sent).
    /// - [`Error::Io`] if the socket fails, `BrokenPipe` if the peer is gone.
    ///   If some of the frame was written before the failure, the message
    ///   says so and the stream is broken: this and every later `send` (on
    ///   any clone) fail, the later ones with kind `BrokenPipe` naming the
    ///   frame cut off (see [A broken stream](MessageSocket#a-broken-stream)).
    pub fn send(&mut self, message: &[u8]) -> Result<()> {
        if let Some(cut) = self.frames.send_broken.get() {
            return Err(broken("send", cut));
        }
        let length = u32::try_from(message.len())
            .ok()
            .filter(|&length| length as usize <= self.limit)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "a message of {} bytes exceeds the limit of {} bytes",
                    message.len(),
                    self.limit
                ))
            })?;
        let header = length.to_le_bytes();
        let mut written = 0;
        match self.write_frame(&header, message, &mut written) {
            Ok(()) => {
                self.frames.sent.fetch_add(1, Relaxed);
                Ok(())
            }
            // Not a byte of the frame went out: the stream is still whole.
            Err(error) if written == 0 => Err(Error::Io(error)),
            Err(error) => {
                let cut = Cut {
                    frame: self.frames.sent.load(Relaxed),
                    done: written,
                    total: Some(HEADER + message.len()),
                    cause: error.to_string(),
                };
                let text = format!(
                    "send failed inside a frame, which breaks the stream: {}; \
                     every later send is refused",
                    cut.describe()
                );
                // Only the handle that sends can set it, and it was unset.
                let _ = self.frames.send_broken.set(cut);
                Err(Error::Io(io::Error::new(error.kind(), text)))
            }
        }
    }

    /// Writes the frame `header` + `message`, counting in `written` the
    /// bytes the kernel took (so that the caller knows, after an error,
    /// whether the frame was cut).
    fn write_frame(&self, header: &[u8], message: &[u8], written: &mut usize) -> io::Result<()> {
        let total = header.len() + message.len();
        // Length and bytes in one `sendmsg` (two `send`s would cost a
        // system call more per message); whatever the kernel did not take
        // goes after it.
        let parts = [IoSlice::new(header), IoSlice::new(message)];
        loop {
            match sendmsg::<UnixAddr>(
                self.stream.as_raw_fd(),
                &parts,
                &[],
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(sent) => {
                    *written = sent.min(total);
                    break;
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(io::Error::from(errno)),
            }
        }
        while *written < total {
            let rest = match header.get(*written..) {
                Some(rest) if !rest.is_empty() => rest,
                _ => &message[*written - header.len()..],
            };
            match send(self.stream.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(sent) => *written += sent.min(rest.len()),
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(io::Error::from(errno)),
            }
        }
        Ok(())
    }

    /// Receives one message; `Ok(None)` if the peer closed (or shut down)
    /// its side between two messages.
    ///
    /// The message's buffer grows as its bytes arrive, from 64 KiB,
    /// doubling, and never past the announced length: a peer that announces
    /// much and sends little costs little, and a message costs no more
    /// memory than its length.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]:
    /// - kind `InvalidData` if the announced length is over the limit (the
    ///   bytes are not read, nor the memory allocated);
    /// - kind `UnexpectedEof` if the stream ends inside a frame (a truncated
    ///   length or message), with how much of it arrived;
    /// - any other error of the socket (a read timeout, `WouldBlock`);
    /// - kind `BrokenPipe` once an earlier `recv` failed inside a frame, as
    ///   each of the errors above does except one before the frame's first
    ///   byte (see [A broken stream](MessageSocket#a-broken-stream)).
    pub fn recv(&mut self) -> Result<Option<Vec<u8>>> {
        if let Some(cut) = self.frames.recv_broken.get() {
            return Err(broken("receive", cut));
        }
        let mut header = [0u8; HEADER];
        let mut got = 0;
        if let Err(error) = read_full(&mut self.stream, &mut header, &mut got) {
            if got == 0 {
                // Between frames: nothing consumed, the stream is whole.
                return Err(Error::Io(error));
            }
            return Err(self.recv_cut(got, None, error));
        }
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER {
            return Err(self.recv_cut(
                got,
                None,
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stream ended {got} bytes into a {HEADER}-byte length prefix"),
                ),
            ));
        }
        let length = u32::from_le_bytes(header) as usize;
        let total = Some(HEADER + length);
        if length > self.limit {
            let error = io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the peer announced a message of {length} bytes, over the limit of {} bytes",
                    self.limit
                ),
            );
            return Err(self.recv_cut(HEADER, total, error));
        }
        let mut message = Vec::new();
        if let Err(error) = self.read_message(length, &mut message) {
            return Err(self.recv_cut(HEADER + message.len(), total, error));
        }
        if message.len() < length {
            let got = message.len();
            let error = io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the stream ended {got} bytes into a message of {length} bytes"),
            );
            return Err(self.recv_cut(HEADER + got, total, error));
        }
        self.frames.received.fetch_add(1, Relaxed);
        Ok(Some(message))
    }

    /// Reads the `length` bytes of a message into `message`, which grows as
    /// they arrive (from [`FIRST_ROOM`], doubling) and never past `length`.
    /// Returns early, with fewer bytes, at the end of the stream.
    fn read_message(&self, length: usize, message: &mut Vec<u8>) -> io::Result<()> {
        while message.len() < length {
            if message.len() == message.capacity() {
                let room = message.capacity().saturating_mul(2);
                let room = room.clamp(FIRST_ROOM.min(length), length);
                message.reserve_exact(room - message.len());
            }
            match read_append(self.stream.as_fd(), message, length - message.len()) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Breaks the receiving side: `error` cut the frame being received after
    /// `done` of its bytes. Returns the error for this call: `error` itself
    /// if ptm made it (its message already says where the frame ended), an
    /// error of the socket of the same kind but saying what it cut.
    fn recv_cut(&self, done: usize, total: Option<usize>, error: io::Error) -> Error {
        let cut = Cut {
            frame: self.frames.received.load(Relaxed),
            done,
            total,
            cause: error.to_string(),
        };
        let error = if error.raw_os_error().is_some() {
            let text = format!(
                "recv failed inside a frame, which leaves the stream out of step: {}; \
                 every later receive is refused",
                cut.describe()
            );
            io::Error::new(error.kind(), text)
        } else {
            error
        };
        // Only the handle that receives can set it, and it was unset.
        let _ = self.frames.recv_broken.set(cut);
        Error::Io(error)
    }

    /// Says that no more messages will be sent: the peer's `recv` returns
    /// `None` once it has read those already sent. Receiving still works.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the socket is no longer connected.
    pub fn shutdown_send(&self) -> Result<()> {
        self.stream.shutdown(Shutdown::Write)?;
        Ok(())
    }

    /// Another handle to the same socket (one thread sends while another
    /// receives). Frames stay whole only if one handle at a time sends and
    /// one at a time receives.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the descriptor cannot be duplicated.
    pub fn try_clone(&self) -> Result<MessageSocket> {
        Ok(MessageSocket {
            stream: self.stream.try_clone()?,
            limit: self.limit,
            frames: Arc::clone(&self.frames),
        })
    }

    /// The socket, for use as a plain stream (or a child's stdio).
    pub fn into_inner(self) -> UnixStream {
        self.stream
    }
}

impl AsFd for MessageSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

impl From<MessageSocket> for OwnedFd {
    fn from(socket: MessageSocket) -> OwnedFd {
        socket.stream.into()
    }
}

/// Reads until `buf` is full or the stream ends, counting in `filled` how
/// much was read (so that the caller knows it after an error too).
fn read_full(stream: &mut UnixStream, buf: &mut [u8], filled: &mut usize) -> io::Result<()> {
    while *filled < buf.len() {
        match stream.read(&mut buf[*filled..]) {
            Ok(0) => break,
            Ok(read) => *filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn frames_survive_being_split_and_joined() {
        let (mut raw, other) = UnixStream::pair().expect("a socket pair");
        let mut socket = MessageSocket::new(other);
        // Two frames in one write, the second split across two writes.
        raw.write_all(&[2, 0, 0, 0, b'h', b'i', 3, 0])
            .expect("write");
        raw.write_all(&[0, 0, b'y', b'o', b'u']).expect("write");
        drop(raw);
        assert_eq!(socket.recv().expect("one").as_deref(), Some(&b"hi"[..]));
        assert_eq!(socket.recv().expect("two").as_deref(), Some(&b"you"[..]));
        assert_eq!(socket.recv().expect("end"), None);
    }
}
