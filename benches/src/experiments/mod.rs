//! The experiments `report` runs, one module each, on [`crate::harness`]:
//! each says what it measures, its variants and its sizes, and implements
//! [`Experiment`](crate::harness::Experiment).
//!
//! | module | section | what it measures |
//! |---|---|---|
//! | [`pool`] | 1 | jobs/s of no-op jobs through each pool design, 2/4/8 workers; like for like |
//! | [`scope`] | 1 | scoped jobs that borrow, and fork-join: ptm, rayon, std |
//! | [`latency`] | 2 | submit-to-start latency of one job on an idle pool |
//! | [`channels`] | 3 | u64 messages/s through std and crossbeam channels, 1->1 and 2->1 |
//! | [`roundtrip`] | 4 | ping-pong round trips between threads and between processes |
//! | [`threads`] | 5 | spawn + join, `thread::scope`; n threads that sleep, spin or compute |
//! | [`processes`] | 6 | spawn + wait of `/bin/true` |
//! | [`pipes`] | 7 | bytes/s through `cat`: `communicate`, `communicate_into`, std, a raw pipe |
//! | [`isolation`] | 8 | the isolation ladder: start one, talk to one, memory of 1,000 |
//! | [`sleepers`] | 9 | 1,000 to 100,000 sleepers: threads, tokio tasks, pool jobs |
//! | [`exit_notice`] | 10 | how late a child's exit is noticed: pidfd, polling, waitpid |

use crate::harness::{entry, Entry};

pub mod channels;
pub mod exit_notice;
pub mod isolation;
pub mod latency;
pub mod pipes;
pub mod pool;
pub mod processes;
pub mod roundtrip;
pub mod scope;
pub mod sleepers;
pub mod threads;

/// Every experiment, in the order `report` runs them.
pub fn all() -> Vec<&'static dyn Entry> {
    vec![
        entry::<pool::Pool>(),
        entry::<pool::LikeForLike>(),
        entry::<scope::Scope>(),
        entry::<latency::Latency>(),
        entry::<channels::Channels>(),
        entry::<roundtrip::RoundTrip>(),
        entry::<threads::Spawn>(),
        entry::<threads::Curves>(),
        entry::<processes::Processes>(),
        entry::<pipes::Pipes>(),
        entry::<isolation::Isolation>(),
        entry::<sleepers::Sleepers>(),
        entry::<exit_notice::ExitNotice>(),
    ]
}
