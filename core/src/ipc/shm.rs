//! [`SharedMemory`]: a region of memory two processes map at once (Linux
//! `memfd_create` + `mmap`), sealed so that neither side can shrink it.

use std::ffi::c_void;
use std::io;
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicU8};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};
use nix::sys::stat::fstat;
use nix::unistd::ftruncate;

use crate::error::{Error, Result};

/// Shared memory between processes: an anonymous in-memory file
/// (`memfd_create`) of a fixed size, mapped `MAP_SHARED`.
///
/// One process [`create`](SharedMemory::create)s it and passes the
/// descriptor to another ([`as_fd`](SharedMemory::as_fd), for instance as
/// a child's stdin with `Stdio::from(fd)`, or over a socket); that process
/// maps the same pages with [`from_fd`](SharedMemory::from_fd). A write by
/// one is seen by the other without a copy through the kernel.
///
/// # Sealed against shrinking
///
/// A mapping whose file is truncated under it turns every access past the
/// new end into SIGBUS, a crash. So `create` seals the file against
/// shrinking and growing (`F_SEAL_SHRINK | F_SEAL_GROW`, then `F_SEAL_SEAL`
/// so the seals are final), and `from_fd` refuses a descriptor without
/// `F_SEAL_SHRINK`: nothing a peer does can make this mapping fault.
///
/// # Synchronisation
///
/// The memory has no lock. [`read`](SharedMemory::read) and
/// [`write`](SharedMemory::write) copy bytes in and out; if the other
/// process writes the same bytes at the same time, a read may see part of
/// each. Order the two sides with a message: write, then tell the peer
/// through a pipe or a [`MessageSocket`](super::MessageSocket); the peer
/// reads after it got the message (the system calls order the accesses).
///
/// # Examples
///
/// ```
/// use std::os::fd::AsFd;
/// use ptm::ipc::SharedMemory;
///
/// # fn main() -> ptm::Result<()> {
/// let mut shm = SharedMemory::create("example", 4096)?;
/// shm.write(0, b"hello")?;
/// // Another mapping of the same file, as another process would make it:
/// let other = SharedMemory::from_fd(shm.as_fd().try_clone_to_owned()?)?;
/// let mut seen = [0u8; 5];
/// other.read(0, &mut seen)?;
/// assert_eq!(&seen, b"hello");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    ptr: NonNull<c_void>,
    len: NonZeroUsize,
}

// SAFETY: `SharedMemory` owns its mapping and its descriptor; the pointer
// is not tied to the thread that made it.
unsafe impl Send for SharedMemory {}
// SAFETY: through `&SharedMemory`, the bytes are only reached with atomic
// accesses (`read`, and `atomics`, whose mixed-size use is the caller's
// unsafe promise), so threads sharing it cannot race.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// A new region of `len` bytes, zeroed, sealed against shrinking and
    /// growing. `name` only labels it (in `/proc/<pid>/fd`, as
    /// `/memfd:<name>`).
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] for a `len` of 0 or one that does not
    ///   fit in a file offset.
    /// - [`Error::Io`] if `memfd_create`, `ftruncate`, the seals or `mmap`
    ///   fail (out of memory or descriptors, a name with a NUL byte).
    pub fn create(name: &str, len: usize) -> Result<SharedMemory> {
        let size = NonZeroUsize::new(len)
            .ok_or_else(|| Error::InvalidArgument("shared memory of 0 bytes".to_owned()))?;
        let offset = i64::try_from(len).map_err(|_| {
            Error::InvalidArgument(format!("shared memory of {len} bytes is too large"))
        })?;
        let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING)
            .map_err(|errno| io_error("memfd_create", errno))?;
        ftruncate(&fd, offset).map_err(|errno| io_error("ftruncate", errno))?;
        let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
        fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).map_err(|errno| io_error("F_ADD_SEALS", errno))?;
        SharedMemory::map(fd, size)
    }

    /// Maps the region behind `fd`, a descriptor another process (or
    /// [`create`](SharedMemory::create)) made: its whole size, read-write.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] if `fd` is not sealed against shrinking
    ///   (another holder could truncate it and crash this process), or is
    ///   empty.
    /// - [`Error::Io`] if `fd` is not a file that can be sealed and mapped.
    pub fn from_fd(fd: OwnedFd) -> Result<SharedMemory> {
        let seals = fcntl(&fd, FcntlArg::F_GET_SEALS)
            .map_err(|errno| io_error("F_GET_SEALS (is it a memfd?)", errno))?;
        if SealFlag::from_bits_truncate(seals) & SealFlag::F_SEAL_SHRINK != SealFlag::F_SEAL_SHRINK
        {
            return Err(Error::InvalidArgument(
                "shared memory not sealed against shrinking (F_SEAL_SHRINK): \
                 another holder could truncate it under the mapping"
                    .to_owned(),
            ));
        }
        let size = fstat(&fd)
            .map_err(|errno| io_error("fstat", errno))?
            .st_size;
        let size = usize::try_from(size)
            .ok()
            .and_then(NonZeroUsize::new)
            .ok_or_else(|| Error::InvalidArgument(format!("shared memory of {size} bytes")))?;
        SharedMemory::map(fd, size)
    }

    /// `mmap(MAP_SHARED, PROT_READ | PROT_WRITE)` of all of `fd`.
    fn map(fd: OwnedFd, len: NonZeroUsize) -> Result<SharedMemory> {
        // SAFETY: a new mapping at an address the kernel chooses, so no
        // existing memory is replaced; it is only accessed through `ptr`
        // within `len` bytes, and unmapped once, in `Drop`. The file is
        // sealed against shrinking, so the whole range stays backed.
        let ptr = unsafe {
            mmap(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &fd,
                0,
            )
        }
        .map_err(|errno| io_error("mmap", errno))?;
        Ok(SharedMemory { fd, ptr, len })
    }

    /// The size of the region in bytes.
    pub fn len(&self) -> usize {
        self.len.get()
    }

    /// Always false: a region has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Copies `buf.len()` bytes from `offset` into `buf`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the range is not inside the region.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result<()> {
        self.check(offset, buf.len())?;
        for (at, byte) in buf.iter_mut().enumerate() {
            *byte = self.byte(offset + at).load(Relaxed);
        }
        Ok(())
    }

    /// Copies `bytes` into the region at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the range is not inside the region.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> Result<()> {
        self.check(offset, bytes.len())?;
        for (at, &byte) in bytes.iter().enumerate() {
            self.byte(offset + at).store(byte, Relaxed);
        }
        Ok(())
    }

    /// The byte at `at` (inside the region: checked by the callers) as an
    /// atomic. `read` and `write` go byte by byte through these, so that
    /// another thread or another mapping of the same memfd in this process
    /// touching the same bytes at the same time is not a data race (each
    /// byte is read or written whole; a range may mix old and new bytes).
    fn byte(&self, at: usize) -> &AtomicU8 {
        debug_assert!(at < self.len.get());
        // SAFETY: `at` is inside the mapping, which is readable, writable
        // and lives as long as `&self`; an AtomicU8 has the size and
        // alignment of a u8, and every access to these bytes through this
        // type is atomic and of the same size.
        unsafe { AtomicU8::from_ptr(self.ptr.as_ptr().cast::<u8>().add(at)) }
    }

    /// The region as 64-bit atomics (`len / 8` of them; a trailing part
    /// shorter than 8 bytes is left out): the way two processes can
    /// synchronise through the memory itself, for instance a flag one
    /// spins on while the other sets it (`Release` store, `Acquire` load),
    /// without a system call. The mapping is page-aligned, so every
    /// element is aligned.
    ///
    /// # Safety
    ///
    /// While the returned atomics are in use, no thread of this process may
    /// access the same bytes through [`read`](SharedMemory::read) or
    /// [`write`](SharedMemory::write), of this or of another mapping of the
    /// same memfd: those go byte by byte, and Rust does not allow atomic
    /// accesses of different sizes to the same bytes at the same time. Use
    /// separate parts of the region for the two (slots here, data there).
    pub unsafe fn atomics(&self) -> &[AtomicU64] {
        let count = self.len.get() / std::mem::size_of::<AtomicU64>();
        // SAFETY: the mapping is page-aligned (so aligned for AtomicU64),
        // readable and writable for `len` bytes, and lives as long as
        // `&self`; `count * 8 <= len`. AtomicU64 has the size and alignment
        // of u64, and any bit pattern is a valid one. The caller promises
        // no mixed-size access to these bytes from this process meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().cast::<AtomicU64>(), count) }
    }

    /// Checks that `offset..offset + count` lies inside the region.
    fn check(&self, offset: usize, count: usize) -> Result<()> {
        match offset.checked_add(count) {
            Some(end) if end <= self.len.get() => Ok(()),
            _ => Err(Error::InvalidArgument(format!(
                "bytes {offset}..{offset}+{count} are outside shared memory of {} bytes",
                self.len
            ))),
        }
    }
}

impl AsFd for SharedMemory {
    /// The memfd, to pass to another process (duplicate it with
    /// `try_clone_to_owned`).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, of `len` bytes, unmapped only
        // here; no reference into it outlives `self`.
        let _ = unsafe { munmap(self.ptr, self.len.get()) };
    }
}

/// An `Error::Io` naming the call that failed.
fn io_error(call: &str, errno: nix::errno::Errno) -> Error {
    let error = io::Error::from(errno);
    Error::Io(io::Error::new(error.kind(), format!("{call}: {error}")))
}
