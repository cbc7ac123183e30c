//! # `parse`: one parser as a `for` loop and as `map`/`collect`
//!
//! A turtle-drawing parser turns each byte of its input into an
//! [`Operation`]. The same per-byte `match` ([`step`]) drives both shapes,
//! so the only difference is the loop: a `Vec` pushed to by hand, or an
//! iterator `map`ped and `collect`ed. The demo runs both on the same input
//! and checks the results are equal.
//!
//! A common belief is that rewriting the loop as `map` "unlocks
//! parallelism". It does not: `map` runs on one thread, exactly as the loop
//! does, and the loop body was just as independent per byte. A parallel
//! iterator (rayon's) is what runs it on several threads. For the comparison
//! to be fair, the loop starts from `Vec::with_capacity`, as `collect` sizes
//! its `Vec` once from the iterator.
//!
//! Run: `cargo run -p examples-threads -- parse [--input 0123abc!]`

use Operation::{Forward, Home, Noop, TurnLeft, TurnRight};

/// One turtle step, from one input byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Move forward this far.
    Forward(isize),
    /// Turn left.
    TurnLeft,
    /// Turn right.
    TurnRight,
    /// Go back to the start.
    Home,
    /// Ignore this byte.
    Noop(u8),
}

/// The drawing height; a digit `d` moves `d * HEIGHT / 10`.
pub const HEIGHT: isize = 200;

// ANCHOR: step
/// One byte to one operation.
pub fn step(byte: u8) -> Operation {
    match byte {
        b'0' => Home,
        b'1'..=b'9' => Forward(isize::from(byte - b'0') * (HEIGHT / 10)),
        b'a' | b'b' | b'c' => TurnLeft,
        b'd' | b'e' | b'f' => TurnRight,
        _ => Noop(byte),
    }
}
// ANCHOR_END: step

// ANCHOR: parsers
/// The first version: a `for` loop pushing into a `Vec`.
pub fn parse_loop(input: &str) -> Vec<Operation> {
    let mut steps = Vec::with_capacity(input.len());
    for byte in input.bytes() {
        steps.push(step(byte));
    }
    steps
}

/// The second version: `map` and `collect`.
pub fn parse_map(input: &str) -> Vec<Operation> {
    input.bytes().map(step).collect()
}
// ANCHOR_END: parsers

/// Flags of the `parse` demo.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The text to parse: digits move, a-c turn left, d-f turn right, 0 goes home.
    #[arg(long, default_value = "0123456789abcdef!")]
    pub input: String,
}

/// Parses `--input` both ways, prints both and checks they are equal.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let (by_loop, by_map) = (parse_loop(&args.input), parse_map(&args.input));
    println!("input {:?}: {} bytes", args.input, args.input.len());
    println!("for loop:    {by_loop:?}");
    println!("map/collect: {by_map:?}");
    anyhow::ensure!(
        by_loop == by_map,
        "the two parsers disagree on {:?}",
        args.input
    );
    let forward: isize = by_map
        .iter()
        .map(|op| if let Forward(d) = op { *d } else { 0 })
        .sum();
    println!(
        "same result: true ({} operations, forward distance {forward})",
        by_map.len()
    );
    println!("notice: map/collect is the same loop on the same thread: shorter, not parallel");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_agree_on_every_byte() {
        let all: Vec<u8> = (0..=127).collect();
        let text = String::from_utf8(all).expect("ASCII is UTF-8");
        assert_eq!(parse_loop(&text), parse_map(&text));
        assert_eq!(parse_map(&text).len(), 128);
    }

    #[test]
    fn each_byte_class_maps_to_its_operation() {
        let expected = [
            Home,
            Forward(20),
            Forward(180),
            TurnLeft,
            TurnRight,
            Noop(b'!'),
        ];
        assert_eq!(parse_map("019af!"), expected);
    }
}
