//! The `channels` topic of ptm. Its demos arrive with issue 4; for now this binary
//! only says so, so that `cargo run -p examples-channels` already works.

fn main() {
    println!("examples-channels: the demos of this topic are not written yet (see issue 4).");
}
