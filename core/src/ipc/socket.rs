//! [`MessageSocket`]: length-prefixed messages over a Unix domain stream
//! socket, between threads or processes.

use std::io::{self, IoSlice, Read};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{send, sendmsg, MsgFlags, UnixAddr};

use crate::error::{Error, Result};

/// The default largest message [`MessageSocket::recv`] accepts: 16 MiB.
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;

/// Bytes of the length prefix: a `u32`, little-endian.
const HEADER: usize = 4;

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
/// `Error::Io` of kind `BrokenPipe`. After an error from `recv` the stream
/// is out of step with the frames; drop the socket.
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
    pub fn new(stream: UnixStream) -> MessageSocket {
        MessageSocket {
            stream,
            limit: DEFAULT_MAX_MESSAGE,
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
    pub fn send(&mut self, message: &[u8]) -> Result<()> {
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
        // Length and bytes in one `sendmsg` (two `send`s would cost a
        // system call more per message); whatever the kernel did not take
        // goes after it.
        let header = length.to_le_bytes();
        let parts = [IoSlice::new(&header), IoSlice::new(message)];
        let sent = loop {
            match sendmsg::<UnixAddr>(
                self.stream.as_raw_fd(),
                &parts,
                &[],
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(sent) => break sent,
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(Error::Io(io::Error::from(errno))),
            }
        };
        if sent < HEADER {
            self.send_all(&header[sent..])?;
            self.send_all(message)
        } else {
            self.send_all(&message[(sent - HEADER).min(message.len())..])
        }
    }

    /// Receives one message; `Ok(None)` if the peer closed (or shut down)
    /// its side between two messages.
    ///
    /// # Errors
    ///
    /// [`Error::Io`]:
    /// - kind `InvalidData` if the announced length is over the limit (the
    ///   bytes are not read, nor the memory allocated);
    /// - kind `UnexpectedEof` if the stream ends inside a frame (a truncated
    ///   length or message), with how much of it arrived;
    /// - any other error of the socket.
    pub fn recv(&mut self) -> Result<Option<Vec<u8>>> {
        let mut header = [0u8; HEADER];
        let got = read_full(&mut self.stream, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER {
            return Err(truncated(format!(
                "the stream ended {got} bytes into a {HEADER}-byte length prefix"
            )));
        }
        let length = u32::from_le_bytes(header) as usize;
        if length > self.limit {
            return Err(Error::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the peer announced a message of {length} bytes, over the limit of {} bytes",
                    self.limit
                ),
            )));
        }
        // Grown as bytes arrive, not allocated at the announced size: a
        // peer that announces much and sends little costs little.
        let mut message = Vec::new();
        let got = (&mut self.stream)
            .take(length as u64)
            .read_to_end(&mut message)?;
        if got < length {
            return Err(truncated(format!(
                "the stream ended {got} bytes into a message of {length} bytes"
            )));
        }
        Ok(Some(message))
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
        })
    }

    /// The socket, for use as a plain stream (or a child's stdio).
    pub fn into_inner(self) -> UnixStream {
        self.stream
    }

    /// `send(2)` with `MSG_NOSIGNAL` until all of `bytes` is sent.
    fn send_all(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            match send(self.stream.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
                Ok(sent) => bytes = &bytes[sent.min(bytes.len())..],
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(Error::Io(io::Error::from(errno))),
            }
        }
        Ok(())
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

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_full(stream: &mut UnixStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// An `UnexpectedEof` error saying where the stream ended.
fn truncated(message: String) -> Error {
    Error::Io(io::Error::new(io::ErrorKind::UnexpectedEof, message))
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
