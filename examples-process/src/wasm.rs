//! # `wasm`: tasks isolated inside one process by WebAssembly
//!
//! Two instances of one module (written in WAT, run by wasmi, a pure-Rust
//! interpreter): a Wasm instance can address only its own linear memory, a
//! bounds-checked array the runtime owns. The two compute in separate
//! memories; an access past the end traps (an error value for the host)
//! instead of reading host memory; and after the trap the host and the
//! other instance go on.
//!
//! A Wasm module is also a freestanding program: it makes no system calls,
//! and all it can do beyond computing on its memory is call what the host
//! chose to import into it. The second module here prints only because
//! the host lends it a `write`. (An interpreter like wasmi checks every
//! access; compiling runtimes check bounds with guard pages instead, at
//! native speed.)
//!
//! Run: `cargo run -p examples-process -- wasm`

use anyhow::{anyhow, Result};
use wasmi::{Caller, Engine, Instance, Linker, Module, Store};

/// `fill(n)` stores i*i as u32 at 4*i; `sum(n)` adds the first n back up;
/// `peek(addr)` loads the u32 at any address: the one that can go wrong.
const WAT: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "fill") (param $n i32) (local $i i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store (i32.mul (local.get $i) (i32.const 4)) (i32.mul (local.get $i) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))
  (func (export "sum") (param $n i32) (result i64) (local $i i32) (local $acc i64)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $acc (i64.add (local.get $acc)
        (i64.extend_i32_u (i32.load (i32.mul (local.get $i) (i32.const 4))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $acc))
  (func (export "peek") (param $addr i32) (result i32) (i32.load (local.get $addr))))"#;

/// What the demo observed.
#[derive(Debug)]
pub struct Observed {
    /// Instance a's sum after filling its memory, and b's without filling.
    pub sum_a: i64,
    pub sum_b: i64,
    /// The first four u32 of a's memory, read by the host.
    pub a_memory: Vec<u32>,
    /// The error of a's out-of-bounds `peek`, if it trapped.
    pub trap: Option<String>,
    /// a's and b's sums after the trap (b filled in between).
    pub sum_a_after: i64,
    pub sum_b_after: i64,
}

// ANCHOR: observe
pub fn observe(n: i32) -> Result<Observed> {
    let engine = Engine::default();
    let module = Module::new(&engine, &wat::parse_str(WAT)?[..])?;
    let mut store = Store::new(&engine, ());
    let linker = <Linker<()>>::new(&engine);
    let a = linker.instantiate_and_start(&mut store, &module)?;
    let b = linker.instantiate_and_start(&mut store, &module)?;
    let call = |store: &mut Store<()>,
                who: &Instance,
                name: &str,
                arg: i32|
     -> Result<i64> {
        match name {
            "fill" => Ok(who
                .get_typed_func::<i32, ()>(&*store, name)?
                .call(store, arg)
                .map(|()| 0)?),
            "sum" => Ok(who
                .get_typed_func::<i32, i64>(&*store, name)?
                .call(store, arg)?),
            _ => Ok(who
                .get_typed_func::<i32, i32>(&*store, name)?
                .call(store, arg)?
                .into()),
        }
    };
    call(&mut store, &a, "fill", n)?;
    let sum_a = call(&mut store, &a, "sum", n)?;
    let sum_b = call(&mut store, &b, "sum", n)?;
    let memory = a
        .get_memory(&store, "memory")
        .ok_or_else(|| anyhow!("no memory export"))?;
    let a_memory = memory.data(&store)[..16]
        .chunks_exact(4)
        .map(|word| u32::from_le_bytes([word[0], word[1], word[2], word[3]]))
        .collect();
    let size = i32::try_from(memory.data(&store).len())?;
    let trap =
        call(&mut store, &a, "peek", size).err().map(|error| error.to_string());
    call(&mut store, &b, "fill", n)?;
    let sum_b_after = call(&mut store, &b, "sum", n)?;
    let sum_a_after = call(&mut store, &a, "sum", n)?;
    Ok(Observed { sum_a, sum_b, a_memory, trap, sum_a_after, sum_b_after })
}
// ANCHOR_END: observe

/// A module with no OS: its one way out is the `host.write` it imports.
const GREET_WAT: &str = r#"(module
  (import "host" "write" (func $write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from a module that has no OS")
  (func (export "main") (call $write (i32.const 0) (i32.const 34))))"#;

// ANCHOR: freestanding
/// Runs `GREET_WAT` with a host `write` that collects what the module
/// writes; returns the module's imports and what it wrote.
pub fn freestanding() -> Result<(Vec<String>, String)> {
    let engine = Engine::default();
    let module = Module::new(&engine, &wat::parse_str(GREET_WAT)?[..])?;
    let imports = module
        .imports()
        .map(|import| format!("{}.{}", import.module(), import.name()))
        .collect();
    let mut store = Store::new(&engine, String::new());
    let mut linker = <Linker<String>>::new(&engine);
    linker.func_wrap(
        "host",
        "write",
        |mut caller: Caller<'_, String>, ptr: i32, len: i32| {
            let memory = caller
                .get_export("memory")
                .and_then(|export| export.into_memory());
            let (Some(memory), Ok(ptr), Ok(len)) =
                (memory, usize::try_from(ptr), usize::try_from(len))
            else {
                return;
            };
            let bytes = memory
                .data(&caller)
                .get(ptr..ptr.saturating_add(len))
                .map(<[u8]>::to_vec);
            if let Some(bytes) = bytes {
                caller.data_mut().push_str(&String::from_utf8_lossy(&bytes));
            }
        },
    )?;
    let instance = linker.instantiate_and_start(&mut store, &module)?;
    instance.get_typed_func::<(), ()>(&store, "main")?.call(&mut store, ())?;
    Ok((imports, store.into_data()))
}
// ANCHOR_END: freestanding

pub fn run() -> Result<()> {
    let seen = observe(100)?;
    println!(
        "wasm: instance a filled its linear memory: sum of squares 0..100 = {}",
        seen.sum_a
    );
    println!(
        "wasm: the host reads a's memory as plain bytes: first u32s {:?}",
        seen.a_memory
    );
    println!(
        "wasm: instance b, same module, own memory: sum = {} (a's data: not there)",
        seen.sum_b
    );
    match &seen.trap {
        Some(trap) => {
            println!("wasm: a reads 4 bytes at the end of its 64 KiB memory:");
            crate::os::say("wasm:  ", &format!("trap: {trap}"));
        }
        None => {
            println!("wasm: a read past its memory without a trap (unexpected)")
        }
    }
    println!("wasm: after the trap the host runs on;");
    println!(
        "wasm:   b: sum = {}, a: sum = {} (both still usable)",
        seen.sum_b_after, seen.sum_a_after
    );
    let (imports, written) = freestanding()?;
    println!("wasm: a module with no OS imports only {imports:?};");
    crate::os::say("wasm:  ", &format!("through it, it wrote {written:?}"));
    println!(
        "notice: the host reads a module's memory, no module reads the host's"
    );
    println!("notice: or the other's; a trap ends a call, not the process");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn instances_are_separate_and_a_trap_is_contained() {
        let seen = super::observe(100).expect("the module runs");
        assert_eq!((seen.sum_a, seen.sum_b), (328_350, 0));
        assert_eq!(seen.a_memory, [0, 1, 4, 9]);
        assert!(seen.trap.expect("a trap").contains("out of bounds"));
        assert_eq!((seen.sum_a_after, seen.sum_b_after), (328_350, 328_350));
    }

    #[test]
    fn a_freestanding_module_acts_only_through_imports() {
        let (imports, written) =
            super::freestanding().expect("the module runs");
        assert_eq!(imports, ["host.write"]);
        assert_eq!(written, "hello from a module that has no OS");
    }
}
