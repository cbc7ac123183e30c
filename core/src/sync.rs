//! The synchronisation primitives the crate is built on, switched by `cfg(loom)`.
//!
//! In a normal build these are `std`'s types and `crossbeam-channel`'s queue.
//! Under `RUSTFLAGS="--cfg loom"` they are [loom]'s, so that `tests/loom.rs`
//! can explore the interleavings of the pool's and the worker's shutdown and
//! `wait_idle` paths. loom cannot see inside `crossbeam-channel`, so the loom
//! build swaps in [`channel`], a small `Mutex<VecDeque>` + `Condvar` queue with
//! the same API and the same disconnection semantics.
//!
//! What the models therefore check is ptm's own protocol (its counters,
//! fences, locks and shutdown order) over a queue that is more strongly
//! ordered than crossbeam's (one lock orders every operation), and without a
//! rendezvous queue: `bounded(0)` is modelled as `bounded(1)`. loom also
//! models `fence(SeqCst)` more strongly than the C++ memory model requires.
//! The proofs sketched in the `pool` module docs do not lean on the queue
//! beyond its send-to-receive happens-before.
//!
//! [loom]: https://docs.rs/loom

#[cfg(loom)]
pub(crate) use loom::{
    sync::{
        atomic::{fence, AtomicBool, AtomicUsize},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread, thread_local,
};
#[cfg(not(loom))]
pub(crate) use std::{
    sync::{
        atomic::{fence, AtomicBool, AtomicUsize},
        Arc, Condvar, Mutex, MutexGuard,
    },
    thread, thread_local,
};

/// Locks `mutex`, ignoring poison.
///
/// The crate's mutexes guard no user data and are never held while user code
/// runs, so a poisoned lock still protects a consistent state.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Which of the two receivers of [`channel::recv_either`] was ready.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// The MPMC queue: `crossbeam-channel` normally, a loom-visible twin under loom.
#[cfg(not(loom))]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{
        bounded, unbounded, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError,
    };

    use super::Either;

    /// Blocks until `left` or `right` has a message or is disconnected, and
    /// receives from that one (`left` first when both are ready).
    pub(crate) fn recv_either<A, B>(
        left: &Receiver<A>,
        right: &Receiver<B>,
    ) -> Either<Result<A, RecvError>, Result<B, RecvError>> {
        match left.try_recv() {
            Ok(value) => return Either::Left(Ok(value)),
            Err(TryRecvError::Disconnected) => return Either::Left(Err(RecvError)),
            Err(TryRecvError::Empty) => {}
        }
        let mut select = crossbeam_channel::Select::new();
        let l = select.recv(left);
        select.recv(right);
        let operation = select.select();
        if operation.index() == l {
            Either::Left(operation.recv(left))
        } else {
            Either::Right(operation.recv(right))
        }
    }
}

/// A `Mutex<VecDeque>` + `Condvar` channel with the subset of
/// `crossbeam-channel`'s API the crate uses, for loom models only.
#[cfg(loom)]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{RecvError, SendError, TryRecvError, TrySendError};
    use loom::sync::{Arc, Condvar, Mutex};
    use std::collections::VecDeque;

    use super::Either;

    /// [`recv_either`](super::channel::recv_either) for the twin: polls both,
    /// yielding to loom's scheduler between polls (loom explores a
    /// `yield_now` spin as "wait until another thread made progress").
    pub(crate) fn recv_either<A, B>(
        left: &Receiver<A>,
        right: &Receiver<B>,
    ) -> Either<Result<A, RecvError>, Result<B, RecvError>> {
        loop {
            match left.try_recv() {
                Ok(value) => return Either::Left(Ok(value)),
                Err(TryRecvError::Disconnected) => return Either::Left(Err(RecvError)),
                Err(TryRecvError::Empty) => {}
            }
            match right.try_recv() {
                Ok(value) => return Either::Right(Ok(value)),
                Err(TryRecvError::Disconnected) => return Either::Right(Err(RecvError)),
                Err(TryRecvError::Empty) => {}
            }
            loom::thread::yield_now();
        }
    }

    struct State<T> {
        queue: VecDeque<T>,
        senders: usize,
        receivers: usize,
    }

    struct Chan<T> {
        state: Mutex<State<T>>,
        cap: Option<usize>,
        not_empty: Condvar,
        not_full: Condvar,
    }

    impl<T> Chan<T> {
        fn has_room(&self, state: &State<T>) -> bool {
            self.cap.is_none_or(|cap| state.queue.len() < cap.max(1))
        }
    }

    pub(crate) struct Sender<T>(Arc<Chan<T>>);
    pub(crate) struct Receiver<T>(Arc<Chan<T>>);

    fn new<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
        let chan = Arc::new(Chan {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                senders: 1,
                receivers: 1,
            }),
            cap,
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        });
        (Sender(chan.clone()), Receiver(chan))
    }

    pub(crate) fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
        new(Some(cap))
    }

    pub(crate) fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        new(None)
    }

    impl<T> Sender<T> {
        pub(crate) fn send(&self, value: T) -> Result<(), SendError<T>> {
            let mut state = self.0.state.lock().unwrap();
            loop {
                if state.receivers == 0 {
                    return Err(SendError(value));
                }
                if self.0.has_room(&state) {
                    state.queue.push_back(value);
                    self.0.not_empty.notify_one();
                    return Ok(());
                }
                state = self.0.not_full.wait(state).unwrap();
            }
        }

        pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
            let mut state = self.0.state.lock().unwrap();
            if state.receivers == 0 {
                return Err(TrySendError::Disconnected(value));
            }
            if !self.0.has_room(&state) {
                return Err(TrySendError::Full(value));
            }
            state.queue.push_back(value);
            self.0.not_empty.notify_one();
            Ok(())
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Self {
            self.0.state.lock().unwrap().senders += 1;
            Sender(self.0.clone())
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            let mut state = self.0.state.lock().unwrap();
            state.senders -= 1;
            if state.senders == 0 {
                self.0.not_empty.notify_all();
            }
        }
    }

    impl<T> Receiver<T> {
        pub(crate) fn recv(&self) -> Result<T, RecvError> {
            let mut state = self.0.state.lock().unwrap();
            loop {
                if let Some(value) = state.queue.pop_front() {
                    self.0.not_full.notify_one();
                    return Ok(value);
                }
                if state.senders == 0 {
                    return Err(RecvError);
                }
                state = self.0.not_empty.wait(state).unwrap();
            }
        }

        pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
            let mut state = self.0.state.lock().unwrap();
            match state.queue.pop_front() {
                Some(value) => {
                    self.0.not_full.notify_one();
                    Ok(value)
                }
                None if state.senders == 0 => Err(TryRecvError::Disconnected),
                None => Err(TryRecvError::Empty),
            }
        }

        pub(crate) fn len(&self) -> usize {
            self.0.state.lock().unwrap().queue.len()
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    impl<T> Clone for Receiver<T> {
        fn clone(&self) -> Self {
            self.0.state.lock().unwrap().receivers += 1;
            Receiver(self.0.clone())
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            let mut state = self.0.state.lock().unwrap();
            state.receivers -= 1;
            if state.receivers == 0 {
                self.0.not_full.notify_all();
            }
        }
    }
}
