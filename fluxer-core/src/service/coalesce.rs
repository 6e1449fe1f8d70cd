//! Group commit for work that callers hand over one item at a time: the items submitted while one
//! caller flushes are flushed together by the next, so that 64 messages edited at once become one or
//! two index jobs instead of 64 (each a queue write, a reservation and an acknowledgement). New
//! messages need none of it: their follow-ups go into the store's outbox with them.
//!
//! Every caller returns once its items are flushed, as before batching. No task is spawned: one
//! caller at a time leads. The leader flushes everything pending, tells the callers whose items that
//! was, and hands the lead to a caller that arrived meanwhile; each caller flushes at most once
//! unless the callers it could hand over to have all gone (their requests were cancelled), so no
//! request is held by others' load. A leader that is cancelled mid-flush puts its batch back and
//! hands the lead on.

use std::mem;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

pub(crate) struct Coalescer<T> {
    state: Mutex<State<T>>,
}

struct State<T> {
    pending: Vec<T>,
    /// The callers whose items are in `pending`, other than the leader.
    waiting: Vec<oneshot::Sender<Turn>>,
    /// Someone leads: the next caller waits.
    led: bool,
}

enum Turn {
    /// Your items were flushed.
    Done,
    /// Flush what is pending.
    Lead,
}

/// A caller waiting for its turn. If its request is cancelled after the lead was sent to it but
/// before it woke to take it, dropping this passes the lead on: otherwise `led` would stay set with
/// nobody leading, and every later caller would wait forever.
struct Waiting<'a, T> {
    coalescer: &'a Coalescer<T>,
    turn: oneshot::Receiver<Turn>,
}

impl<T> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        // Closing first means no turn can arrive after the check below.
        self.turn.close();
        if let Ok(Turn::Lead) = self.turn.try_recv() {
            let mut state = self.coalescer.lock();
            if !Coalescer::hand_over(&mut state) {
                // Nobody is left waiting: the next caller leads and flushes what is pending.
                state.led = false;
            }
        }
    }
}

/// The lead: flush [`Lead::batch`], then call [`Lead::finish`].
pub(crate) struct Lead<'a, T> {
    coalescer: &'a Coalescer<T>,
    batch: Vec<T>,
    flushed_for: Vec<oneshot::Sender<Turn>>,
    finished: bool,
}

impl<T> Default for Coalescer<T> {
    fn default() -> Self {
        Coalescer {
            state: Mutex::new(State {
                pending: Vec::new(),
                waiting: Vec::new(),
                led: false,
            }),
        }
    }
}

impl<T> Coalescer<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `items`; returns once another caller flushed them (`None`), or with the lead when this
    /// caller is to flush them (with whatever else is pending).
    pub(crate) async fn submit(&self, items: impl IntoIterator<Item = T>) -> Option<Lead<'_, T>> {
        let turn = {
            let mut state = self.lock();
            state.pending.extend(items);
            if state.led {
                let (tx, rx) = oneshot::channel();
                state.waiting.push(tx);
                Some(rx)
            } else {
                state.led = true;
                None
            }
        };
        if let Some(turn) = turn {
            let mut waiting = Waiting {
                coalescer: self,
                turn,
            };
            match (&mut waiting.turn).await {
                Ok(Turn::Lead) => {}
                // A leader never drops a sender unanswered; if one did, its items went with it.
                Ok(Turn::Done) | Err(_) => return None,
            }
        }
        Some(self.take_lead())
    }

    fn take_lead(&self) -> Lead<'_, T> {
        let mut state = self.lock();
        Lead {
            coalescer: self,
            batch: mem::take(&mut state.pending),
            flushed_for: mem::take(&mut state.waiting),
            finished: false,
        }
    }

    /// Passes the lead to a waiting caller; false if none is left to take it.
    fn hand_over(state: &mut State<T>) -> bool {
        while !state.waiting.is_empty() {
            if state.waiting.remove(0).send(Turn::Lead).is_ok() {
                return true;
            }
        }
        false
    }
}

impl<'a, T> Lead<'a, T> {
    /// What to flush.
    pub(crate) fn batch(&self) -> &[T] {
        &self.batch
    }

    /// The batch is flushed: answers its callers and passes the lead on. Returns the lead again when
    /// items are pending that no waiting caller is left to flush.
    pub(crate) fn finish(mut self) -> Option<Lead<'a, T>> {
        self.finished = true;
        for caller in self.flushed_for.drain(..) {
            let _ = caller.send(Turn::Done);
        }
        let coalescer = self.coalescer;
        let mut state = coalescer.lock();
        if state.pending.is_empty() {
            state.led = false;
            return None;
        }
        if Coalescer::hand_over(&mut state) {
            return None;
        }
        drop(state);
        Some(coalescer.take_lead())
    }
}

impl<T> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Cancelled before the flush was known to be done: the batch goes back in front, its
        // callers wait again, and the lead goes to one of them (or to the next caller).
        let mut state = self.coalescer.lock();
        let later = mem::replace(&mut state.pending, mem::take(&mut self.batch));
        state.pending.extend(later);
        let later = mem::replace(&mut state.waiting, mem::take(&mut self.flushed_for));
        state.waiting.extend(later);
        if !Coalescer::hand_over(&mut state) {
            state.led = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Flushes by recording the batch, after yielding so that other submitters pile up.
    async fn submit(c: &Coalescer<u32>, item: u32, batches: &Mutex<Vec<Vec<u32>>>) {
        let Some(mut lead) = c.submit([item]).await else {
            return;
        };
        loop {
            tokio::task::yield_now().await;
            batches.lock().unwrap().push(lead.batch().to_vec());
            match lead.finish() {
                Some(next) => lead = next,
                None => return,
            }
        }
    }

    #[tokio::test]
    async fn every_item_is_flushed_once_and_callers_are_batched() {
        let c = Arc::new(Coalescer::default());
        let batches = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (c, batches) = (c.clone(), batches.clone());
            tasks.push(tokio::spawn(async move { submit(&c, i, &batches).await }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let batches = batches.lock().unwrap();
        let mut all: Vec<u32> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..200).collect::<Vec<_>>());
        assert!(
            batches.len() < 200,
            "{} batches for 200 items",
            batches.len()
        );
        assert!(
            !c.lock().led,
            "the lead is released when nothing is pending"
        );
    }

    /// A waiter cancelled after the lead was sent to it, but before it woke to take it, must not
    /// take the lead with it: the next caller still gets to flush.
    #[tokio::test]
    async fn a_waiter_cancelled_with_the_lead_in_hand_passes_it_on() {
        use std::future::Future;
        use std::pin::pin;
        use std::task::{Context, Waker};

        let c = Coalescer::default();
        let lead = c.submit([1]).await.expect("the first caller leads");
        let mut cx = Context::from_waker(Waker::noop());
        {
            let mut second = pin!(c.submit([2]));
            assert!(
                second.as_mut().poll(&mut cx).is_pending(),
                "waits behind the leader"
            );
            // The leader flushes [1], sees [2] pending and hands the lead to the second caller...
            assert!(lead.finish().is_none());
            // ...whose request is dropped before it runs again.
        }
        let third = tokio::time::timeout(std::time::Duration::from_secs(5), c.submit([3]))
            .await
            .expect("a later caller is not stuck behind a lost lead")
            .expect("and it leads");
        assert_eq!(third.batch(), &[2, 3]);
        assert!(third.finish().is_none());
        assert!(!c.lock().led);
    }

    #[tokio::test]
    async fn a_cancelled_leader_hands_its_batch_on() {
        let c = Coalescer::default();
        let lead = c.submit([1]).await.expect("the first caller leads");
        // A second caller waits behind the leader.
        let flushed = AtomicUsize::new(0);
        let second = async {
            let mut lead = c.submit([2]).await.expect("handed the lead");
            let mut seen = lead.batch().to_vec();
            while let Some(next) = {
                flushed.fetch_add(1, Ordering::SeqCst);
                lead.finish()
            } {
                lead = next;
                seen.extend_from_slice(lead.batch());
            }
            seen
        };
        let cancel = async {
            tokio::task::yield_now().await;
            drop(lead);
        };
        let (seen, ()) = tokio::join!(second, cancel);
        assert_eq!(seen, vec![1, 2]);
        assert_eq!(flushed.load(Ordering::SeqCst), 1);
        assert!(!c.lock().led);
    }
}
