//! The in-process event bus: topics map to subscribers, each with a bounded inbox.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use async_trait::async_trait;
use fluxer_core::ports::{Dispatch, EventBus, Lagged, PortResult, Subscription, Topic};
use tokio::sync::mpsc;

/// The bus's side of a subscription.
struct Inbox {
    sender: mpsc::Sender<Arc<Dispatch>>,
    /// Set when an event did not fit; nothing more is delivered.
    lagged: AtomicBool,
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
            if !inbox.lagged.load(Ordering::Acquire)
                && inbox.sender.try_send(dispatch.clone()).is_err()
            {
                inbox.lagged.store(true, Ordering::Release);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Ok(Box::new(InProcessSubscription {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            bus: self.clone(),
            inbox: Arc::new(Inbox {
                sender,
                lagged: AtomicBool::new(false),
            }),
            receiver,
            topics: HashSet::new(),
            reported_lag: false,
        }))
    }
}

struct InProcessSubscription {
    id: u64,
    bus: InProcessEventBus,
    inbox: Arc<Inbox>,
    receiver: mpsc::Receiver<Arc<Dispatch>>,
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
        match self.receiver.try_recv() {
            Ok(d) => return Some(Ok(d)),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if self.inbox.lagged.load(Ordering::Acquire) {
            self.reported_lag = true;
            return Some(Err(Lagged));
        }
        // The sender lives in `self.inbox`, so this waits for the next publish; a lag while waiting is
        // seen on the next call, once the buffer is drained.
        self.receiver.recv().await.map(Ok)
    }
}

impl Drop for InProcessSubscription {
    fn drop(&mut self) {
        for topic in &self.topics {
            self.bus.unregister(topic, self.id);
        }
    }
}
