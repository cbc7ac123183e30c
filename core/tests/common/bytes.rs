//! Test data and commands for the tests that push bytes through children.
#![allow(dead_code)] // each test file uses some of these

use std::process::Command;

/// `len` pseudo-random bytes (xorshift64*), a different sequence for each
/// `stream`: every byte position matters, so a lost, duplicated, reordered
/// or stale chunk shows.
pub fn random_bytes(len: usize, stream: u64) -> Vec<u8> {
    let mut state = stream.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        bytes.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// `sh -c script`.
pub fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

/// Asserts two byte strings are equal without printing megabytes on failure.
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "{what}: length differs");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first difference at byte {at}");
    }
}
