//! The ptm book's code snippets, compiled and doctested by `cargo test --workspace`.
//!
//! The book itself (chapters under `src/`) arrives with issue 6.
