//! ptm's benchmarks: criterion benches and experiment binaries.
