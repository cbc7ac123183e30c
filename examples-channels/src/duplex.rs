//! `duplex`: request/response over two channels, and a clean stop.
//!
//! Answers "Two Way Communication Using Channels" in the seed
//! `processes-threads-and-containers.md`.
//! Run it: `cargo run -p examples-channels -- duplex`.
//!
//! The seed's version runs, but one enum serves both directions (a `Pong`
//! request compiles, caught only at run time); an in-band `Pang` stops the
//! worker unanswered and silently drops what is queued behind it; if the
//! client goes away first, the worker's `recv().unwrap()` panics; the worker
//! is never joined. Here `Request` and `Response` are separate types, each
//! request gets its answer (or the client sees that none came), and the stop
//! is dropping the request `Sender`: the worker's loop ends, it returns how
//! many requests it answered, the client joins it. `Pang` is answered `Bye`.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread;

use anyhow::{anyhow, Context, Result};

// ANCHOR: types
/// What the client asks: `Ping` (answered `Pong`) or the seed's stop
/// message `Pang` (answered `Bye`, then the worker stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Ping(u32),
    Pang(u32),
}

/// What the worker answers, with the id of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    Pong(u32),
    Bye(u32),
}
// ANCHOR_END: types

// ANCHOR: serve
/// The worker: answers requests until the requests channel is closed or a
/// `Pang` arrives; returns how many requests it answered.
fn serve(requests: Receiver<Request>, responses: Sender<Response>) -> usize {
    let mut answered = 0;
    for request in requests {
        let (response, last) = match request {
            Request::Ping(id) => (Response::Pong(id), false),
            Request::Pang(id) => (Response::Bye(id), true),
        };
        let sent = responses.send(response).is_ok(); // Fails if the client is gone.
        answered += usize::from(sent);
        if !sent || last {
            break;
        }
    }
    answered
}
// ANCHOR_END: serve

// ANCHOR: session
/// Sends each request in turn and waits for its answer (`None`: the worker
/// had stopped), then drops the request Sender and joins the worker. Returns
/// the answers and the worker's count of answers.
///
/// # Errors
///
/// If the worker thread could not be spawned, or panicked.
pub fn session(script: &[Request]) -> Result<(Vec<Option<Response>>, usize)> {
    let (requests_tx, requests_rx) = channel();
    let (responses_tx, responses_rx) = channel();
    let worker = thread::Builder::new()
        .name("worker".into())
        .spawn(move || serve(requests_rx, responses_tx))
        .context("spawning thread `worker`")?;
    let mut answers = Vec::with_capacity(script.len());
    for &request in script {
        // A failed send or recv both mean that the worker has stopped.
        let answer = match requests_tx.send(request) {
            Ok(()) => responses_rx.recv().ok(),
            Err(_) => None,
        };
        answers.push(answer);
    }
    drop(requests_tx); // The clean stop: the worker's `for` loop ends.
    let answered = worker.join().map_err(|_| anyhow!("worker panicked"))?;
    Ok((answers, answered))
}
// ANCHOR_END: session

/// Prints the demo's results; fails as [`session`] does.
pub fn run() -> Result<()> {
    use Request::{Pang, Ping};
    println!("== duplex: requests on one channel, responses on another");
    let (pings, pang) = ([Ping(1), Ping(2), Ping(3)], [Ping(1), Pang(2), Ping(3)]);
    for (name, script) in [("pings", pings), ("seed's Pang", pang)] {
        let (answers, answered) = session(&script)?;
        for (request, answer) in script.iter().zip(answers) {
            match answer {
                Some(response) => println!("{name}: {request:?} -> {response:?}"),
                None => println!("{name}: {request:?} -> no answer (the worker had stopped)"),
            }
        }
        let sent = script.len();
        println!("{name}: worker answered {answered} of {sent} requests, ended, joined");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Request::{Pang, Ping};
    use Response::{Bye, Pong};

    #[test]
    fn each_ping_gets_its_pong_and_dropping_the_sender_stops_the_worker() {
        let (answers, answered) = session(&[Ping(1), Ping(2)]).expect("worker ran");
        assert_eq!((answers, answered), (vec![Some(Pong(1)), Some(Pong(2))], 2));
        assert_eq!(session(&[]).expect("worker ran"), (vec![], 0));
    }

    /// Seed "Two Way Communication Using Channels": `Pang` got no answer,
    /// and a request queued behind it was lost without anyone noticing.
    #[test]
    fn pang_is_answered_and_a_request_after_it_is_seen_unanswered() {
        let (answers, answered) = session(&[Ping(1), Pang(2), Ping(3)]).expect("worker ran");
        assert_eq!(answers, [Some(Pong(1)), Some(Bye(2)), None]);
        assert_eq!(answered, 2);
    }
}
