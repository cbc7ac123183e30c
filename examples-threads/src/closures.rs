//! # `closures`: closures vs fn pointers, `Fn` / `FnMut` / `FnOnce`, and their sizes
//!
//! A closure is an anonymous struct holding its captures, plus a call
//! method. Which call trait it implements depends on what the body does with
//! the captures: only reads them (`Fn`, callable through `&self`, even from
//! several threads at once), changes them (`FnMut`, through `&mut self`), or
//! gives them away (`FnOnce`, by value).
//!
//! Two beliefs are common and wrong, and the sizes printed here show it:
//! - "functions are function pointers", and "a closure that captures nothing
//!   is a function pointer": both are zero-sized types (each names exactly
//!   one body) that *coerce* to an 8-byte `fn` pointer on demand.
//! - "a closure cannot be defined at global scope": a non-capturing closure
//!   can be a `static` of fn-pointer type, like [`DOUBLE`].
//!
//! Run: `cargo run -p examples-threads -- closures`

use crate::spawn::panic_message;
use anyhow::{anyhow, Context};
use std::thread;

/// A plain function, to compare with a closure that does the same.
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

// ANCHOR: double
/// A closure at global scope: non-capturing closures coerce to fn pointers.
pub static DOUBLE: fn(i32) -> i32 = |x| x * 2;
// ANCHOR_END: double

// ANCHOR: fn_traits
/// `Fn` only reads its captures, so two threads may call it at the same time.
pub fn call_from_two_threads<F>(f: &F) -> anyhow::Result<(i32, i32)>
where
    F: Fn(i32) -> i32 + Sync,
{
    thread::scope(|s| {
        let other = thread::Builder::new().spawn_scoped(s, || f(1));
        let other = other.context("spawning the second caller")?;
        let mine = f(2);
        let theirs = other
            .join()
            .map_err(|p| anyhow!("`f` panicked: {}", panic_message(&*p)));
        Ok((theirs?, mine))
    })
}

/// `FnMut` may change its captures, so it is called through `&mut`, one
/// call at a time.
pub fn call_three_times<F: FnMut() -> u32>(mut f: F) -> Vec<u32> {
    (0..3).map(|_| f()).collect()
}

/// `FnOnce` may give its captures away, so it can be called only once.
pub fn call_once<F: FnOnce() -> Vec<String>>(f: F) -> Vec<String> {
    f()
}
// ANCHOR_END: fn_traits

// ANCHOR: sizes
/// Byte sizes: fn item, fn pointer, closure capturing nothing, closure
/// capturing a `Vec` by reference, by move.
pub fn sizes() -> [usize; 5] {
    let pointer: fn(i32, i32) -> i32 = add;
    let nothing = |a: i32, b: i32| a + b;
    let v: Vec<u64> = vec![1, 2, 3];
    let by_ref = || v.len(); // holds `&Vec<u64>`: one pointer
    let by_ref_size = size_of_val(&by_ref);
    let by_move = move || v.len(); // holds the Vec: pointer, capacity, length
    [
        size_of_val(&add),
        size_of_val(&pointer),
        size_of_val(&nothing),
        by_ref_size,
        size_of_val(&by_move),
    ]
}
// ANCHOR_END: sizes

/// Prints what each trait allows and the sizes.
pub fn run() -> anyhow::Result<()> {
    let closure_add = |a, b| a + b;
    let ops: [fn(i32, i32) -> i32; 2] = [add, closure_add]; // both coerce to fn pointers
    let (by_fn, by_closure, doubled) = (ops[0](4, 5), ops[1](4, 5), DOUBLE(21));
    println!("add(4, 5) = {by_fn}, closure (4, 5) = {by_closure}, static DOUBLE(21) = {doubled}");
    let offset = 10;
    let both = call_from_two_threads(&|x| x + offset)?;
    println!("Fn called from two threads at once: {both:?}");
    let mut count = 0;
    let counted = call_three_times(|| {
        count += 1;
        count
    });
    println!("FnMut counter called 3 times: {counted:?}");
    let names = vec!["a".to_owned(), "b".to_owned()];
    println!(
        "FnOnce gave its captured Vec away: {:?}",
        call_once(move || names)
    );
    let [item, pointer, nothing, by_ref, by_move] = sizes();
    let (word, vec) = (size_of::<usize>(), size_of::<Vec<u64>>());
    println!("size_of_val: fn item `add` = {item}, fn pointer = {pointer} (= usize {word})");
    println!("size_of_val: closure capturing nothing = {nothing}, a Vec by ref = {by_ref}");
    println!("size_of_val: closure capturing a Vec by move = {by_move} (= Vec<u64> {vec})");
    println!("notice: a closure is as big as what it captures; a fn item is 0 bytes");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_those_of_the_captures() {
        let word = size_of::<usize>();
        assert_eq!(sizes(), [0, word, 0, word, 3 * word]);
    }

    #[test]
    fn each_trait_does_its_job() {
        assert_eq!(
            call_from_two_threads(&|x| x * 10).expect("spawns"),
            (10, 20)
        );
        let mut evens = (2..).step_by(2); // `next` needs `&mut evens`: only FnMut can
        assert_eq!(call_three_times(|| evens.next().unwrap_or(0)), [2, 4, 6]);
        let v = vec!["x".to_owned()];
        assert_eq!(call_once(move || v), ["x"]);
        assert_eq!(DOUBLE(4), 8);
    }
}
