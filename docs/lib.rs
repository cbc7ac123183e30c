//! The ptm book's chapters, compiled and tested.
//!
//! The book is an mdBook: `docs/book.toml` and the chapters in `docs/src/`,
//! built with `mdbook build docs`. Each chapter is also the documentation of
//! one module below, so `cargo test --workspace` runs every Rust code block
//! written in a chapter as a doctest: `rust` blocks must compile and pass,
//! `rust,compile_fail,E....` blocks must fail with that error.
//!
//! Listings that a chapter includes from the workspace's crates (mdBook's
//! `include` directive with an anchor) are fenced as `rs`, which mdBook
//! highlights as Rust and rustdoc leaves alone: their code is compiled and
//! tested where it lives. `tests/includes.rs` checks that every include
//! names an existing file and anchor, that every link reaches a page, and
//! that every chapter with a Rust block is one of the modules below.
//!
//! The Benchmarks chapter (`src/benchmarks.md`) is written from the
//! benches' measurements, with no Rust block to test, so it is not a module
//! here; should it ever hold a `rust` block, `tests/includes.rs` fails until
//! it is added.

#[doc = include_str!("src/introduction.md")]
pub mod introduction {}

#[doc = include_str!("src/processes.md")]
pub mod processes {}

#[doc = include_str!("src/threads.md")]
pub mod threads {}

#[doc = include_str!("src/synchronisation.md")]
pub mod synchronisation {}

#[doc = include_str!("src/channels.md")]
pub mod channels {}

#[doc = include_str!("src/pools.md")]
pub mod pools {}

#[doc = include_str!("src/ipc.md")]
pub mod ipc {}

#[doc = include_str!("src/isolation.md")]
pub mod isolation {}

#[doc = include_str!("src/choosing.md")]
pub mod choosing {}

#[doc = include_str!("src/appendix-tutorials.md")]
pub mod appendix_tutorials {}
