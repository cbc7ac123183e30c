//! The synchronisation primitives the crate is built on, switched by `cfg(loom)`.
//!
//! In a normal build these are `std`'s types and crossbeam's queues
//! (`crossbeam-channel`, `crossbeam-queue`, `crossbeam-deque`). Under
//! `RUSTFLAGS="--cfg loom"` they are [loom]'s, so that `tests/loom.rs` can
//! explore the interleavings of the pool's and the worker's shutdown,
//! `wait_idle`, idle and helping paths. loom cannot see inside crossbeam's
//! atomics (it would miss the happens-before from a push to its pop, and
//! report the jobs' own state as raced), so the loom build swaps in small
//! `Mutex<VecDeque>` twins with the same API: [`channel`] (and the same
//! disconnection semantics), [`queue`] and [`deque`].
//!
//! What the models therefore check is ptm's own protocol (its counters,
//! fences, locks and shutdown order) over queues that are more strongly
//! ordered than crossbeam's (one lock orders every operation: a model does
//! not fail if a fence that pairs with a queue operation is removed), and
//! without a rendezvous queue: `bounded(0)` is modelled as `bounded(1)`.
//! loom also models `fence(SeqCst)` more strongly than the C++ memory model
//! requires. The proofs sketched in the `pool` module docs do not lean on
//! the queues beyond their push-to-pop happens-before.
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

/// The MPMC queue: `crossbeam-channel` normally, a loom-visible twin under loom.
#[cfg(not(loom))]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{
        bounded, unbounded, Receiver, SendError, Sender, TrySendError,
    };
}

/// A `Mutex<VecDeque>` + `Condvar` channel with the subset of
/// `crossbeam-channel`'s API the crate uses, for loom models only.
#[cfg(loom)]
pub(crate) mod channel {
    pub(crate) use crossbeam_channel::{RecvError, SendError, TryRecvError, TrySendError};
    use loom::sync::{Arc, Condvar, Mutex};
    use std::collections::VecDeque;

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

/// The unbounded pool's ring and overflow list: `crossbeam-queue` normally;
/// under loom, `Mutex<VecDeque>` twins, so that loom sees the happens-before
/// from a push to its pop (it cannot see inside crossbeam's atomics, and
/// would report the jobs' own state as raced).
#[cfg(not(loom))]
pub(crate) mod queue {
    pub(crate) use crossbeam_queue::{ArrayQueue, SegQueue};
}

/// The loom twins of [`crossbeam_queue`]'s queues (the subset ptm uses).
#[cfg(loom)]
pub(crate) mod queue {
    use loom::sync::Mutex;
    use std::collections::VecDeque;

    pub(crate) struct ArrayQueue<T> {
        items: Mutex<VecDeque<T>>,
        cap: usize,
    }

    impl<T> ArrayQueue<T> {
        pub(crate) fn new(cap: usize) -> Self {
            ArrayQueue {
                items: Mutex::new(VecDeque::new()),
                cap,
            }
        }
        pub(crate) fn push(&self, value: T) -> Result<(), T> {
            let mut items = self.items.lock().unwrap();
            if items.len() == self.cap {
                return Err(value);
            }
            items.push_back(value);
            Ok(())
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.items.lock().unwrap().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.items.lock().unwrap().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.items.lock().unwrap().len()
        }
    }

    pub(crate) struct SegQueue<T>(ArrayQueue<T>);

    impl<T> SegQueue<T> {
        pub(crate) fn new() -> Self {
            SegQueue(ArrayQueue::new(usize::MAX))
        }
        pub(crate) fn push(&self, value: T) {
            let _ = self.0.push(value);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.pop()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

/// The workers' deques: `crossbeam-deque` normally, loom twins under loom
/// (for the reason given at [`queue`]).
#[cfg(not(loom))]
pub(crate) mod deque {
    pub(crate) use crossbeam_deque::{Steal, Stealer, Worker};
}

/// The loom twins of [`crossbeam_deque`]'s `Worker` (LIFO) and `Stealer`.
#[cfg(loom)]
pub(crate) mod deque {
    pub(crate) use crossbeam_deque::Steal;
    use loom::sync::{Arc, Mutex};
    use std::collections::VecDeque;

    pub(crate) struct Worker<T>(Arc<Mutex<VecDeque<T>>>);
    pub(crate) struct Stealer<T>(Arc<Mutex<VecDeque<T>>>);

    impl<T> Worker<T> {
        pub(crate) fn new_lifo() -> Self {
            Worker(Arc::new(Mutex::new(VecDeque::new())))
        }
        pub(crate) fn push(&self, value: T) {
            self.0.lock().unwrap().push_back(value);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            self.0.lock().unwrap().pop_back()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
        pub(crate) fn stealer(&self) -> Stealer<T> {
            Stealer(Arc::clone(&self.0))
        }
    }

    impl<T> Stealer<T> {
        pub(crate) fn steal(&self) -> Steal<T> {
            match self.0.lock().unwrap().pop_front() {
                Some(value) => Steal::Success(value),
                None => Steal::Empty,
            }
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().unwrap().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }
}
