//! A bounded multi-producer, single-consumer queue: what a session and its connection say to each
//! other (the session's commands, the connection's frames).
//!
//! tokio's `mpsc` allocates its channel state (512 bytes, its counters on cache lines of their own)
//! and a first block of 32 slots when it is made, and keeps them for the channel's life. A gateway
//! has two of these per session, and an idle session leaves both empty: this queue holds its items
//! in a `VecDeque` that allocates on the first item and is freed again once a burst of more than
//! [`KEPT_WHEN_EMPTY`] items has drained (a smaller buffer is kept, so a heartbeat's command or a
//! single frame costs no allocation), so an empty one costs its shared state (about 130 bytes) and
//! at most 8 slots. Sending waits for room when the queue is full ([`Sender::send`]) or refuses at
//! once ([`Sender::try_send`]); receiving is cancel-safe and spends tokio's cooperative budget, as
//! tokio's does. Unlike tokio's, a waiting sender can be overtaken by a new one.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// A queue's items, above which a drained queue gives its buffer back rather than keep it.
const KEPT_WHEN_EMPTY: usize = 8;

struct Shared<T> {
    state: Mutex<State<T>>,
    capacity: usize,
    /// Wakes the receiver: an item was queued, or the last sender went.
    item: Notify,
    /// Wakes senders waiting for room: an item was taken, or the receiver went.
    room: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    senders: usize,
    receiver: bool,
}

impl<T> Shared<T> {
    fn state(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A queue holding at most `capacity` items (at least 1).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            senders: 1,
            receiver: true,
        }),
        capacity: capacity.max(1),
        item: Notify::new(),
        room: Notify::new(),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Receiver { shared },
    )
}

/// Why [`Sender::try_send`] gave the item back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError<T> {
    /// The queue holds `capacity` items.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

/// [`Sender::send`]'s item, given back: the receiver is gone.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SendError<T>(pub T);

/// [`Receiver::try_recv`] found nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TryRecvError {
    /// Nothing queued now; senders remain.
    Empty,
    /// Nothing queued, and every sender is gone.
    Disconnected,
}

/// The sending end; clones send into the same queue.
pub(crate) struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.state().senders += 1;
        Sender {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let last = {
            let mut state = self.shared.state();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.shared.item.notify_one();
        }
    }
}

impl<T> Sender<T> {
    /// Queues `item` if there is room now.
    pub(crate) fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        {
            let mut state = self.shared.state();
            if !state.receiver {
                return Err(TrySendError::Closed(item));
            }
            if state.items.len() >= self.shared.capacity {
                return Err(TrySendError::Full(item));
            }
            state.items.push_back(item);
        }
        self.shared.item.notify_one();
        Ok(())
    }

    /// Queues `item`, waiting for room while the queue is full. Cancel-safe: dropped before it
    /// returns, it has queued nothing.
    pub(crate) async fn send(&self, item: T) -> Result<(), SendError<T>> {
        let mut item = match self.try_send(item) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Closed(back)) => return Err(SendError(back)),
            Err(TrySendError::Full(back)) => back,
        };
        loop {
            // Registered before looking, so room made between the look and the wait is not missed.
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(back)) => return Err(SendError(back)),
                Err(TrySendError::Full(back)) => item = back,
            }
            room.await;
        }
    }

    /// The most items the queue holds.
    pub(crate) fn max_capacity(&self) -> usize {
        self.shared.capacity
    }
}

/// The receiving end. Dropping it refuses every later send and drops what was queued.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut state = self.shared.state();
            state.receiver = false;
            std::mem::take(&mut state.items)
        };
        drop(queued);
        self.shared.room.notify_waiters();
    }
}

impl<T> Receiver<T> {
    /// The next item if one is queued now.
    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let item = {
            let mut state = self.shared.state();
            match state.items.pop_front() {
                Some(item) => {
                    if state.items.is_empty() && state.items.capacity() > KEPT_WHEN_EMPTY {
                        state.items = VecDeque::new();
                    }
                    item
                }
                None if state.senders == 0 => return Err(TryRecvError::Disconnected),
                None => return Err(TryRecvError::Empty),
            }
        };
        self.shared.room.notify_one();
        Ok(item)
    }

    /// The next item, waiting for one; `None` once every sender is gone and nothing is left.
    /// Cancel-safe: an item is taken only when this returns it.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            // Before anything is taken, so a task always fed still yields now and then.
            tokio::task::consume_budget().await;
            match self.try_recv() {
                Ok(item) => return Some(item),
                Err(TryRecvError::Disconnected) => return None,
                // A single receiver: an item queued after this look leaves a permit this wait takes.
                Err(TryRecvError::Empty) => self.shared.item.notified().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_and_the_end_is_seen_after_them() {
        let (tx, mut rx) = channel(4);
        let tx2 = tx.clone();
        tx.try_send(1).unwrap();
        tx2.send(2).await.unwrap();
        drop(tx);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        drop(tx2);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_or_makes_the_sender_wait_for_room() {
        let (tx, mut rx) = channel(2);
        assert_eq!(tx.max_capacity(), 2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        // A send that waits is cancel-safe: timed out, it queued nothing.
        assert!(
            tokio::time::timeout(Duration::from_millis(20), tx.send(3))
                .await
                .is_err()
        );
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(3).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        assert_eq!(rx.recv().await, Some(1));
        waiting.await.unwrap().unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[tokio::test]
    async fn a_gone_receiver_refuses_sends_and_wakes_the_waiting_ones() {
        let (tx, rx) = channel(1);
        tx.try_send(1).unwrap();
        let waiting = tokio::spawn({
            let tx = tx.clone();
            async move { tx.send(2).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        drop(rx);
        assert_eq!(waiting.await.unwrap(), Err(SendError(2)));
        assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
        assert_eq!(tx.send(4).await, Err(SendError(4)));
    }

    #[tokio::test]
    async fn a_gone_receiver_drops_what_was_queued() {
        let item = Arc::new(());
        let (tx, rx) = channel(4);
        tx.try_send(Arc::clone(&item)).unwrap();
        tx.try_send(Arc::clone(&item)).unwrap();
        assert_eq!(Arc::strong_count(&item), 3);
        drop(rx);
        assert_eq!(Arc::strong_count(&item), 1);
    }

    #[test]
    fn a_woken_sender_that_gives_up_passes_the_room_on() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};

        let mut cx = Context::from_waker(Waker::noop());
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let mut first = Box::pin(tx.send(1));
        let mut second = Box::pin(tx.send(2));
        assert!(first.as_mut().poll(&mut cx).is_pending());
        assert!(second.as_mut().poll(&mut cx).is_pending());
        // Room for one: the wakeup goes to the first, which is dropped (a timeout, a select!)
        // before it runs again. The second must get the room, not wait on.
        assert_eq!(rx.try_recv(), Ok(0));
        drop(first);
        assert_eq!(second.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok(2));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_an_item_or_the_last_sender() {
        let (tx, mut rx) = channel::<u32>(8);
        let reader = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.try_send(7).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        assert_eq!(reader.await.unwrap(), (Some(7), None));
    }

    #[tokio::test]
    async fn a_drained_burst_gives_its_buffer_back() {
        let (tx, mut rx) = channel(1024);
        for i in 0..500 {
            tx.try_send(i).unwrap();
        }
        assert!(rx.shared.state().items.capacity() >= 500);
        for i in 0..500 {
            assert_eq!(rx.try_recv(), Ok(i));
        }
        assert_eq!(rx.shared.state().items.capacity(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_senders_lose_nothing_under_contention() {
        let (tx, mut rx) = channel(16);
        let senders: Vec<_> = (0..4u64)
            .map(|s| {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for i in 0..2_000u64 {
                        tx.send(s * 1_000_000 + i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut last = [None::<u64>; 4];
        let mut count = 0;
        while let Some(v) = rx.recv().await {
            let (s, i) = ((v / 1_000_000) as usize, v % 1_000_000);
            // Each sender's items arrive in the order it sent them.
            assert!(
                last[s].is_none_or(|l| l + 1 == i),
                "{s}: {:?} then {i}",
                last[s]
            );
            last[s] = Some(i);
            count += 1;
        }
        assert_eq!(count, 8_000);
        for s in senders {
            s.await.unwrap();
        }
    }
}
