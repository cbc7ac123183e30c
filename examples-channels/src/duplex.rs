//! `duplex`: request/response over two channels, and a clean stop.
//!
//! Run it: `cargo run -p examples-channels -- duplex`.
//!
//! `Request` and `Response` are separate types on separate channels, so a
//! response cannot be sent where a request is expected (the compiler
//! refuses it). Each request gets its answer, or the client sees that none
//! came. The clean stop is dropping the request `Sender`: the worker's loop
//! ends, it returns how many requests it answered, and the client joins it.
//! A stop sent *in* the queue (`Stop`, answered `Bye`), the other common
//! way, ends the worker at once: whatever was queued behind it goes
//! unanswered, which the second session shows.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread;

use anyhow::{anyhow, Context, Result};

// ANCHOR: types
/// What the client asks: `Ping` (answered `Pong`) or `Stop`, a stop sent
/// in the queue (answered `Bye`, then the worker stops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Ping(u32),
    Stop(u32),
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
/// `Stop` arrives; returns how many requests it answered.
fn serve(requests: Receiver<Request>, responses: Sender<Response>) -> usize {
    let mut answered = 0;
    for request in requests {
        let (response, last) = match request {
            Request::Ping(id) => (Response::Pong(id), false),
            Request::Stop(id) => (Response::Bye(id), true),
        };
        let sent = responses.send(response).is_ok(); // fails: client gone
        answered += usize::from(sent);
        if !sent || last {
            break;
        }
    }
    answered
}
// ANCHOR_END: serve

// ANCHOR: serve_unwrapping
/// The first attempt at [`serve`]: it `unwrap`s its `recv`, so the clean
/// stop (the client dropping its Sender) makes it panic, even after it has
/// answered every request.
#[cfg_attr(not(test), allow(dead_code))] // run by its test, not by the demo
fn serve_unwrapping(requests: Receiver<Request>, responses: Sender<Response>) {
    loop {
        let response = match requests.recv().unwrap() {
            Request::Ping(id) => Response::Pong(id),
            Request::Stop(id) => Response::Bye(id),
        };
        responses.send(response).unwrap();
    }
}
// ANCHOR_END: serve_unwrapping

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
    drop(requests_tx); // the clean stop: the worker's `for` loop ends
    let answered = worker.join().map_err(|_| anyhow!("worker panicked"))?;
    Ok((answers, answered))
}
// ANCHOR_END: session

/// Prints the demo's results; fails as [`session`] does.
pub fn run() -> Result<()> {
    use Request::{Ping, Stop};
    println!("== duplex: requests on one channel, responses on another ==");
    let (pings, stop) =
        ([Ping(1), Ping(2), Ping(3)], [Ping(1), Stop(2), Ping(3)]);
    for (name, script) in [("pings", pings), ("stop message", stop)] {
        let (answers, answered) = session(&script)?;
        for (request, answer) in script.iter().zip(answers) {
            match answer {
                Some(response) => {
                    println!("{name}: {request:?} -> {response:?}")
                }
                None => println!(
                    "{name}: {request:?} -> no answer (the worker had stopped)"
                ),
            }
        }
        let sent = script.len();
        println!(
            "{name}: worker answered {answered} of {sent} requests, \
             ended, joined"
        );
    }
    println!(
        "notice: Stop left a later request unanswered; dropping the Sender \
         did not"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Request::{Ping, Stop};
    use Response::{Bye, Pong};

    #[test]
    fn each_ping_gets_its_pong_and_dropping_the_sender_stops_the_worker() {
        let (answers, answered) =
            session(&[Ping(1), Ping(2)]).expect("worker ran");
        assert_eq!(
            (answers, answered),
            (vec![Some(Pong(1)), Some(Pong(2))], 2)
        );
        assert_eq!(session(&[]).expect("worker ran"), (vec![], 0));
    }

    /// A stop sent in the queue must still be answered, and a request
    /// sent after it must be seen to go unanswered, not lost silently.
    #[test]
    fn a_stop_message_is_answered_and_a_request_after_it_is_seen_unanswered() {
        let (answers, answered) =
            session(&[Ping(1), Stop(2), Ping(3)]).expect("worker ran");
        assert_eq!(answers, [Some(Pong(1)), Some(Bye(2)), None]);
        assert_eq!(answered, 2);
    }

    // ANCHOR: unwrapping_test
    /// The client gets its answer, then drops its Sender as it should: the
    /// unwrapping worker's `recv` fails, and the worker panics.
    #[test]
    fn a_worker_that_unwraps_recv_panics_when_the_client_goes_first() {
        let (requests_tx, requests_rx) = channel();
        let (responses_tx, responses_rx) = channel();
        let worker =
            thread::spawn(move || serve_unwrapping(requests_rx, responses_tx));
        requests_tx.send(Ping(1)).expect("the worker is running");
        assert_eq!(responses_rx.recv(), Ok(Pong(1)));
        drop(requests_tx); // the clean stop
        let panic = worker.join().expect_err("the worker panicked");
        let message = panic.downcast_ref::<String>().expect("a message");
        assert!(message.contains("RecvError"), "{message}");
    }
    // ANCHOR_END: unwrapping_test
}
