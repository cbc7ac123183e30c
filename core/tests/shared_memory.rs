//! Public behaviour of `ptm::ipc::SharedMemory`: a round trip through a real
//! child process (this test binary re-run, mapping the memfd it got as its
//! stdin), the seals, and bounds.

use std::env;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

use nix::fcntl::{fcntl, FcntlArg};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::unistd::ftruncate;
use ptm::ipc::SharedMemory;
use ptm::Error;

const ROLE: &str = "PTM_SHM_TEST_ROLE";
const LEN: usize = 1 << 20;

/// The pattern the parent writes: every byte position matters.
fn pattern(at: usize) -> u8 {
    (at % 251) as u8
}

/// The parent fills 1 MiB and hands the memfd to a child as its stdin; the
/// child maps it, checks every byte, and writes its answer at the start;
/// after the child exits, the parent sees the answer in its own mapping.
#[test]
fn a_child_process_sees_and_answers_through_shared_memory() {
    let name = "a_child_process_sees_and_answers_through_shared_memory";
    if env::var_os(ROLE).is_some() {
        let stdin = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .expect("stdin");
        let mut shm = SharedMemory::from_fd(stdin).expect("stdin is the shared memory");
        assert_eq!(shm.len(), LEN);
        let mut seen = vec![0u8; LEN];
        shm.read(0, &mut seen).expect("read all of it");
        let wrong = seen
            .iter()
            .enumerate()
            .filter(|&(at, &byte)| byte != pattern(at))
            .count();
        shm.write(0, format!("child saw {wrong} wrong bytes;").as_bytes())
            .expect("write the answer");
        return;
    }
    let mut shm = SharedMemory::create("ptm-test", LEN).expect("shared memory");
    let data: Vec<u8> = (0..LEN).map(pattern).collect();
    shm.write(0, &data).expect("fill it");
    let fd = shm
        .as_fd()
        .try_clone_to_owned()
        .expect("a descriptor for the child");
    let output = Command::new(env::current_exe().expect("this binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ROLE, "child")
        .stdin(Stdio::from(fd))
        .output()
        .expect("the child runs");
    assert!(
        output.status.success(),
        "child: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = b"child saw 0 wrong bytes;";
    let mut answer = [0u8; 24];
    shm.read(0, &mut answer).expect("read the answer");
    assert_eq!(&answer, expected, "{}", String::from_utf8_lossy(&answer));
    let mut rest = vec![0u8; LEN - 24];
    shm.read(24, &mut rest).expect("read the rest");
    assert!(rest
        .iter()
        .enumerate()
        .all(|(at, &byte)| byte == pattern(at + 24)));
}

/// The region cannot be shrunk by anyone holding the descriptor (that would
/// turn accesses into SIGBUS), nor grown.
#[test]
fn the_region_is_sealed_against_resizing() {
    let shm = SharedMemory::create("ptm-sealed", 8192).expect("shared memory");
    let fd = shm.as_fd();
    assert!(ftruncate(fd, 4096).is_err(), "shrinking must fail");
    assert!(ftruncate(fd, 16384).is_err(), "growing must fail");
    let mut byte = [0u8; 1];
    shm.read(8191, &mut byte)
        .expect("the last byte is still there");
}

/// A memfd without `F_SEAL_SHRINK` is refused, naming the reason; a
/// descriptor that is not a memfd at all is an I/O error, not a crash.
#[test]
fn an_unsealed_descriptor_is_refused() {
    let fd = memfd_create("ptm-unsealed", MFdFlags::MFD_CLOEXEC).expect("a memfd");
    ftruncate(&fd, 4096).expect("a size");
    match SharedMemory::from_fd(fd) {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains("F_SEAL_SHRINK"), "{message}")
        }
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
    let (reader, _writer) = std::io::pipe().expect("a pipe");
    let pipe = std::os::fd::OwnedFd::from(reader);
    assert!(fcntl(&pipe, FcntlArg::F_GET_SEALS).is_err());
    assert!(matches!(SharedMemory::from_fd(pipe), Err(Error::Io(_))));
}

/// Accesses outside the region are errors; a zero-sized region is refused.
#[test]
fn out_of_bounds_accesses_are_errors() {
    let mut shm = SharedMemory::create("ptm-bounds", 100).expect("shared memory");
    let mut buf = [0u8; 10];
    assert!(matches!(
        shm.read(95, &mut buf),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        shm.write(usize::MAX, b"x"),
        Err(Error::InvalidArgument(_))
    ));
    shm.write(90, &buf).expect("the last ten bytes");
    assert!(matches!(
        SharedMemory::create("ptm-empty", 0),
        Err(Error::InvalidArgument(_))
    ));
}

/// Two processes hand a counter back and forth through two atomics in the
/// shared pages, without a system call between them: the parent stores an
/// odd value in slot 0, the child answers with it plus one in slot 1, 1,000
/// times. The child spins with `yield_now`, so it also ends on one CPU.
#[test]
fn atomics_let_two_processes_take_turns() {
    use std::sync::atomic::Ordering::{Acquire, Release};
    const ROUNDS: u64 = 1000;
    let name = "atomics_let_two_processes_take_turns";
    let wait_for = |slot: &std::sync::atomic::AtomicU64, value: u64| {
        let start = std::time::Instant::now();
        while slot.load(Acquire) != value {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "stuck at {value}"
            );
            std::thread::yield_now();
        }
    };
    if env::var_os(ROLE).is_some() {
        let stdin = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .expect("stdin");
        let shm = SharedMemory::from_fd(stdin).expect("stdin is the shared memory");
        // SAFETY: this process touches the region through the atomics only.
        let slots = unsafe { shm.atomics() };
        for round in 0..ROUNDS {
            wait_for(&slots[0], 2 * round + 1);
            slots[1].store(2 * round + 2, Release);
        }
        return;
    }
    let shm = SharedMemory::create("ptm-atomics", 4096).expect("shared memory");
    // SAFETY: this process touches the region through the atomics only.
    let slots = unsafe { shm.atomics() };
    assert_eq!(slots.len(), 512);
    let fd = shm
        .as_fd()
        .try_clone_to_owned()
        .expect("a descriptor for the child");
    let mut child = Command::new(env::current_exe().expect("this binary"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ROLE, "child")
        .stdin(Stdio::from(fd))
        .stdout(Stdio::null())
        .spawn()
        .expect("the child runs");
    for round in 0..ROUNDS {
        slots[0].store(2 * round + 1, Release);
        wait_for(&slots[1], 2 * round + 2);
    }
    assert!(child.wait().expect("the child is reaped").success());
    assert_eq!(slots[1].load(Acquire), 2 * ROUNDS);
}
