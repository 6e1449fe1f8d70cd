//! The in-process event bus: topics map to subscribers, each with a bounded inbox.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockWriteGuard};

use async_trait::async_trait;
use fluxer_core::ports::{Dispatch, EventBus, Lagged, PortResult, Subscription, Topic};
use tokio::sync::Notify;

/// A drained inbox whose buffer holds more slots than this gives it back.
const KEPT_WHEN_EMPTY: usize = 8;

/// A subscription's bounded inbox, shared by the bus (which fills it) and the subscriber.
///
/// Every gateway session has one and most of the time it is empty, so it is a `VecDeque` that
/// allocates on its first dispatch and gives a burst's buffer back once drained, not tokio's
/// `mpsc`, which allocates about 0.8 KB up front (its state and a first block of 32 slots) and keeps
/// it for the channel's life.
struct Inbox {
    state: Mutex<InboxState>,
    capacity: usize,
    /// Wakes the subscriber: a dispatch was queued. A wake with no one waiting is kept for the next
    /// wait, so one sent between the subscriber's look at the queue and its wait is not lost.
    queued: Notify,
}

struct InboxState {
    dispatches: VecDeque<Arc<Dispatch>>,
    /// Set when a dispatch did not fit; nothing more is queued.
    lagged: bool,
}

impl Inbox {
    fn new(capacity: usize) -> Inbox {
        Inbox {
            state: Mutex::new(InboxState {
                dispatches: VecDeque::new(),
                lagged: false,
            }),
            capacity: capacity.max(1),
            queued: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `dispatch`, or marks the inbox lagged if it is full (or was already).
    fn offer(&self, dispatch: &Arc<Dispatch>) {
        {
            let mut state = self.state();
            if state.lagged {
                return;
            }
            if state.dispatches.len() >= self.capacity {
                state.lagged = true;
            } else {
                state.dispatches.push_back(Arc::clone(dispatch));
            }
        }
        self.queued.notify_one();
    }

    /// The next queued dispatch, `Err(Lagged)` once a lagged inbox is drained, `None` while it is
    /// empty.
    fn take(&self) -> Option<Result<Arc<Dispatch>, Lagged>> {
        let mut state = self.state();
        match state.dispatches.pop_front() {
            Some(dispatch) => {
                if state.dispatches.is_empty() && state.dispatches.capacity() > KEPT_WHEN_EMPTY {
                    state.dispatches = VecDeque::new();
                }
                Some(Ok(dispatch))
            }
            None if state.lagged => Some(Err(Lagged)),
            None => None,
        }
    }
}

type Registry = HashMap<Topic, HashMap<u64, Arc<Inbox>>>;

/// Delivers dispatches to subscribers in this process. A publish never waits: a subscriber whose inbox
/// is full is marked lagged, gets nothing more, and receives `Err(Lagged)` once it has drained what it
/// had (then `None`: the subscription is over and the gateway resyncs the client).
#[derive(Clone, Default)]
pub struct InProcessEventBus {
    registry: Arc<RwLock<Registry>>,
    next_id: Arc<AtomicU64>,
}

impl InProcessEventBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        self.registry.write().unwrap_or_else(|e| e.into_inner())
    }

    fn unregister(&self, topic: &Topic, id: u64) {
        let mut registry = self.write();
        if let Some(subs) = registry.get_mut(topic) {
            subs.remove(&id);
            if subs.is_empty() {
                registry.remove(topic);
            }
        }
    }
}

#[async_trait]
impl EventBus for InProcessEventBus {
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()> {
        let dispatch = Arc::new(dispatch);
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        for inbox in registry
            .get(&dispatch.topic)
            .into_iter()
            .flat_map(HashMap::values)
        {
            inbox.offer(&dispatch);
        }
        Ok(())
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        Ok(Box::new(InProcessSubscription {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            bus: self.clone(),
            inbox: Arc::new(Inbox::new(capacity)),
            topics: HashSet::new(),
            reported_lag: false,
        }))
    }
}

struct InProcessSubscription {
    id: u64,
    bus: InProcessEventBus,
    inbox: Arc<Inbox>,
    topics: HashSet<Topic>,
    reported_lag: bool,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn add_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.insert(topic) {
            self.bus
                .write()
                .entry(topic)
                .or_default()
                .insert(self.id, self.inbox.clone());
        }
        Ok(())
    }

    async fn remove_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.remove(&topic) {
            self.bus.unregister(&topic, self.id);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Option<Result<Arc<Dispatch>, Lagged>> {
        if self.reported_lag {
            return None;
        }
        loop {
            // What is queued is taken at once, without a wait: the gateway drains an inbox before a
            // resume by polling this once per event (`now_or_never`), and takes all of it. The only
            // wait is for a dispatch, and a receive given up there has taken nothing.
            if let Some(next) = self.inbox.take() {
                self.reported_lag = next.is_err();
                return Some(next);
            }
            self.inbox.queued.notified().await;
        }
    }
}

impl Drop for InProcessSubscription {
    fn drop(&mut self) {
        for topic in &self.topics {
            self.bus.unregister(topic, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fluxer_core::id::GuildId;
    use fluxer_core::ports::EventKind;

    use super::*;

    fn dispatch(n: u64) -> Arc<Dispatch> {
        Arc::new(Dispatch::new(EventKind::MessageCreate, TOPIC, &n))
    }

    const TOPIC: Topic = Topic::Guild(GuildId::new(1));

    /// A bus with one subscriber of [`TOPIC`] whose inbox holds `capacity`, after `published`
    /// dispatches (payloads `0`, `1`, ...).
    async fn subscribed(
        capacity: usize,
        published: u64,
    ) -> (InProcessEventBus, Box<dyn Subscription>) {
        let bus = InProcessEventBus::new();
        let mut sub = bus.subscribe(capacity).await.unwrap();
        sub.add_topic(TOPIC).await.unwrap();
        for n in 0..published {
            bus.publish(Dispatch::new(EventKind::MessageCreate, TOPIC, &n))
                .await
                .unwrap();
        }
        (bus, sub)
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back_and_a_small_one_is_kept() {
        let inbox = Inbox::new(100);
        assert_eq!(
            inbox.state().dispatches.capacity(),
            0,
            "nothing before the first dispatch"
        );
        for n in 0..50 {
            inbox.offer(&dispatch(n));
        }
        for n in 0..50 {
            let next = inbox.take().expect("queued").expect("not lagged");
            assert_eq!(&*next.payload, n.to_string());
        }
        assert!(inbox.take().is_none());
        assert_eq!(
            inbox.state().dispatches.capacity(),
            0,
            "the burst's buffer went back"
        );

        inbox.offer(&dispatch(1));
        assert!(inbox.take().is_some());
        let kept = inbox.state().dispatches.capacity();
        assert!(
            (1..=KEPT_WHEN_EMPTY).contains(&kept),
            "a single dispatch's small buffer is kept: {kept}"
        );
    }

    #[test]
    fn a_full_inbox_lags_delivers_what_it_holds_then_says_so() {
        let inbox = Inbox::new(2);
        for n in 0..4 {
            inbox.offer(&dispatch(n));
        }
        assert_eq!(&*inbox.take().unwrap().unwrap().payload, "0");
        // Room again, but a lagged inbox takes nothing more: the subscriber would miss events.
        inbox.offer(&dispatch(9));
        assert_eq!(&*inbox.take().unwrap().unwrap().payload, "1");
        assert!(matches!(inbox.take(), Some(Err(Lagged))));
    }

    #[tokio::test]
    async fn a_waiting_subscriber_wakes_for_a_publish_after_a_wait_given_up() {
        let (bus, mut sub) = subscribed(8, 0).await;

        // A wait given up before anything came.
        let waited = tokio::time::timeout(Duration::from_millis(20), sub.recv()).await;
        assert!(waited.is_err(), "nothing was published");

        let publisher = bus.clone();
        let published = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            for n in 0..3u64 {
                publisher
                    .publish(Dispatch::new(EventKind::MessageCreate, TOPIC, &n))
                    .await
                    .unwrap();
            }
        });
        for n in 0..3u64 {
            let next = tokio::time::timeout(Duration::from_secs(5), sub.recv())
                .await
                .expect("woken by the publish")
                .expect("subscribed")
                .expect("not lagged");
            assert_eq!(&*next.payload, n.to_string());
        }
        published.await.unwrap();
    }

    #[tokio::test]
    async fn a_dispatch_between_a_look_and_a_wait_is_not_missed() {
        // The subscriber found the inbox empty; the dispatch comes before it starts waiting.
        let inbox = Inbox::new(8);
        assert!(inbox.take().is_none());
        inbox.offer(&dispatch(1));
        tokio::time::timeout(Duration::from_secs(5), inbox.queued.notified())
            .await
            .expect("the wake was kept for the wait");
        assert!(inbox.take().is_some());
    }

    #[tokio::test]
    async fn what_is_queued_is_taken_without_waiting_however_much() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};

        let (_bus, mut sub) = subscribed(4096, 1000).await;
        // Polled once each, as a resume drains an inbox: more than a task's cooperative budget
        // (128 a poll) must all be ready.
        let mut cx = Context::from_waker(Waker::noop());
        for n in 0..1000u64 {
            let Poll::Ready(Some(Ok(next))) = std::pin::pin!(sub.recv()).poll(&mut cx) else {
                panic!("event {n} was queued but not ready");
            };
            assert_eq!(&*next.payload, n.to_string());
        }
        assert!(std::pin::pin!(sub.recv()).poll(&mut cx).is_pending());
    }

    #[tokio::test]
    async fn after_reporting_its_lag_a_subscription_is_over() {
        let (_bus, mut sub) = subscribed(1, 2).await;
        assert!(matches!(sub.recv().await, Some(Ok(_))));
        assert!(matches!(sub.recv().await, Some(Err(Lagged))));
        assert!(sub.recv().await.is_none());
    }
}
