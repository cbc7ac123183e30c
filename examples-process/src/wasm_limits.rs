//! # `wasm-limits`: a WebAssembly guest that cannot hang or exhaust its host
//!
//! A guest runs on the host's own thread: a call into an infinite loop
//! would never return, and a guest that grows its memory without end would
//! take the host's. Two limits of wasmi's store stop both. *Fuel*: with
//! metering on, every instruction burns fuel from the store, and the call
//! that burns the last of it stops with an out-of-fuel trap, after the same
//! instructions on every run and every machine. A *store limit*: the
//! store's limiter is asked before a linear memory grows and refuses growth
//! past its cap; the guest's `memory.grow` then returns -1, as wasm defines
//! a refused grow. Each guest has a store of its own, so one that runs out
//! takes nothing from the host or from the others.
//!
//! Run: `cargo run -p examples-process -- wasm-limits`

use anyhow::Result;
use wasmi::{
    Config, Engine, Linker, Module, Store, StoreLimits, StoreLimitsBuilder,
    TrapCode,
};

/// A hostile `spin`, a well-behaved `sum`, and `grow`, which asks for more
/// memory and reports what `memory.grow` answered.
const GUEST: &str = r#"(module
  (memory 1)
  ;; Jumps back to its own start, for ever.
  (func (export "spin") (param i32) (result i32)
    (loop (br 0))
    (unreachable))
  ;; 0 + 1 + ... + (n - 1).
  (func (export "sum") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (i32.add (local.get $acc) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  ;; Asks for n more 64 KiB pages: the old size in pages, or -1 if refused.
  (func (export "grow") (param $n i32) (result i32)
    (memory.grow (local.get $n))))"#;

/// The size of a WebAssembly page.
pub const PAGE: usize = 64 * 1024;

/// What one call of a guest function came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The guest returned this value.
    Returned(i32),
    /// A trap ended the call (the host got an error value, and goes on).
    Trapped(TrapCode),
}

/// A call's result as an [`Outcome`]; an error that is not a trap (a host
/// function failing, say) is the host's error.
fn outcome(result: Result<i32, wasmi::Error>) -> Result<Outcome> {
    match result {
        Ok(value) => Ok(Outcome::Returned(value)),
        Err(error) => match error.as_trap_code() {
            Some(code) => Ok(Outcome::Trapped(code)),
            None => Err(error.into()),
        },
    }
}

// ANCHOR: fuel
/// Calls `name(arg)` in a fresh instance of `GUEST`, in a store of its own
/// that holds `fuel`: what the call came to, and the fuel it burnt.
pub fn with_fuel(fuel: u64, name: &str, arg: i32) -> Result<(Outcome, u64)> {
    let mut config = Config::default();
    config.consume_fuel(true); // every instruction burns fuel
    let engine = Engine::new(&config);
    let module = Module::new(&engine, &wat::parse_str(GUEST)?[..])?;
    let mut store = Store::new(&engine, ());
    store.set_fuel(fuel)?;
    let linker = <Linker<()>>::new(&engine);
    let instance = linker.instantiate_and_start(&mut store, &module)?;
    let func = instance.get_typed_func::<i32, i32>(&store, name)?;
    let outcome = outcome(func.call(&mut store, arg))?;
    Ok((outcome, fuel - store.get_fuel()?))
}
// ANCHOR_END: fuel

// ANCHOR: limit
/// Calls the guest's `grow(n)` for each n of `asks`, in one fresh instance
/// whose store caps each linear memory at `max_bytes`.
pub fn with_limit(max_bytes: usize, asks: &[i32]) -> Result<Vec<Outcome>> {
    let engine = Engine::default();
    let module = Module::new(&engine, &wat::parse_str(GUEST)?[..])?;
    let limits = StoreLimitsBuilder::new()
        .memory_size(max_bytes)
        // false (the default): a refused grow returns -1, as wasm says, so
        // the guest's allocator fails one allocation; true would trap.
        .trap_on_grow_failure(false)
        .build();
    let mut store = Store::new(&engine, limits);
    store.limiter(|limits| limits); // asked before any memory grows
    let linker = <Linker<StoreLimits>>::new(&engine);
    let instance = linker.instantiate_and_start(&mut store, &module)?;
    let grow = instance.get_typed_func::<i32, i32>(&store, "grow")?;
    asks.iter().map(|&n| outcome(grow.call(&mut store, n))).collect()
}
// ANCHOR_END: limit

/// The fuel each guest gets: a fraction of a second's work, even in a
/// debug build.
const FUEL: u64 = 1_000_000;
/// The memory cap, and what the guest asks for, in pages, in turn.
const LIMIT: usize = 4 * PAGE;
const ASKS: [i32; 3] = [1, 8, 2];

/// Prints a guest stopped by its fuel and a `memory.grow` refused by its
/// store limit, and that the host goes on.
pub fn run() -> Result<()> {
    println!("wasm-limits: spin(), an infinite loop, given {FUEL} fuel:");
    match with_fuel(FUEL, "spin", 0)? {
        (Outcome::Trapped(code), burnt) => {
            println!("wasm-limits:   trap {code:?}: {code}");
            let left = FUEL - burnt;
            println!(
                "wasm-limits:   {burnt} burnt, {left} left: less than a step"
            );
        }
        (other, _) => println!("wasm-limits:   {other:?} (unexpected)"),
    }
    println!("wasm-limits: the host goes on; a fresh instance, same budget:");
    match with_fuel(FUEL, "sum", 1000)? {
        (Outcome::Returned(sum), used) => {
            println!("wasm-limits:   sum(1000) = {sum}, {used} fuel used");
        }
        (other, _) => println!("wasm-limits:   {other:?} (unexpected)"),
    }
    let pages = LIMIT / PAGE;
    println!("wasm-limits: a store limit of {LIMIT} bytes ({pages} pages);");
    println!(
        "wasm-limits: the guest's memory starts at 1 page, it asks for more:"
    );
    let mut size = 1;
    for (ask, got) in ASKS.iter().zip(with_limit(LIMIT, &ASKS)?) {
        let verdict = match got {
            Outcome::Returned(-1) => {
                format!("-1: refused, {} > {pages}", size + ask)
            }
            Outcome::Returned(old) => {
                size += ask;
                format!("{old}: granted, now {size} pages")
            }
            Outcome::Trapped(code) => format!("trap: {code}"),
        };
        println!("wasm-limits:   grow({ask}) -> {verdict}");
    }
    println!(
        "notice: fuel counts instructions, not seconds: a loop stops at the"
    );
    println!("notice: same step every run; a refused grow is -1, not a trap");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{with_fuel, with_limit, Outcome, PAGE};
    use wasmi::TrapCode;

    #[test]
    fn an_infinite_loop_stops_when_its_fuel_runs_out() {
        let (outcome, burnt) = with_fuel(100_000, "spin", 0).expect("runs");
        assert_eq!(outcome, Outcome::Trapped(TrapCode::OutOfFuel));
        // It stops when the next step costs more than is left.
        assert!(burnt > 99_000 && burnt <= 100_000, "{burnt} burnt");
        // The host goes on: a fresh instance of the same module works.
        let (sum, used) = with_fuel(100_000, "sum", 1000).expect("runs");
        assert_eq!(sum, Outcome::Returned(499_500));
        assert!(used > 1000 && used < 100_000, "{used} fuel");
    }

    #[test]
    fn a_grow_past_the_store_limit_returns_minus_one_to_the_guest() {
        let got = with_limit(4 * PAGE, &[1, 8, 2]).expect("runs");
        // Old sizes 1 and 2 pages; 2 + 8 > 4 is refused, the guest goes on.
        let returned = [1, -1, 2].map(Outcome::Returned);
        assert_eq!(got, returned);
        // Another instance, under the same limit, grows as it may.
        let again = with_limit(4 * PAGE, &[3, 1]).expect("runs");
        assert_eq!(again, [Outcome::Returned(1), Outcome::Returned(-1)]);
    }
}
