//! The in-process event bus: topics map to subscribers, each with a bounded inbox.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use fluxer_core::ports::{Dispatch, EventBus, Lagged, PortResult, Subscription, Topic};
use tokio::sync::mpsc;

struct Subscriber {
    inbox: mpsc::Sender<Arc<Dispatch>>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct Registry {
    topics: HashMap<Topic, HashMap<u64, Arc<Subscriber>>>,
}

/// Delivers dispatches to subscribers in this process. A publish never waits: a subscriber whose inbox
/// is full is marked lagged and receives `Err(Lagged)` once it has drained what it had.
#[derive(Clone, Default)]
pub struct InProcessEventBus {
    registry: Arc<RwLock<Registry>>,
    next_id: Arc<AtomicU64>,
}

impl InProcessEventBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl EventBus for InProcessEventBus {
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()> {
        let dispatch = Arc::new(dispatch);
        let registry = self.registry.read().unwrap_or_else(|e| e.into_inner());
        if let Some(subs) = registry.topics.get(&dispatch.topic) {
            for sub in subs.values() {
                if sub.lagged.load(Ordering::Acquire) {
                    continue;
                }
                if sub.inbox.try_send(dispatch.clone()).is_err() {
                    sub.lagged.store(true, Ordering::Release);
                }
            }
        }
        Ok(())
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Ok(Box::new(InProcessSubscription {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            bus: self.clone(),
            subscriber: Arc::new(Subscriber {
                inbox: tx,
                lagged: Arc::new(AtomicBool::new(false)),
            }),
            inbox: rx,
            topics: HashSet::new(),
            reported_lag: false,
        }))
    }
}

struct InProcessSubscription {
    id: u64,
    bus: InProcessEventBus,
    subscriber: Arc<Subscriber>,
    inbox: mpsc::Receiver<Arc<Dispatch>>,
    topics: HashSet<Topic>,
    reported_lag: bool,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn add_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.insert(topic) {
            let mut registry = self.bus.registry.write().unwrap_or_else(|e| e.into_inner());
            registry.topics.entry(topic).or_default().insert(self.id, self.subscriber.clone());
        }
        Ok(())
    }

    async fn remove_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.remove(&topic) {
            let mut registry = self.bus.registry.write().unwrap_or_else(|e| e.into_inner());
            if let Some(subs) = registry.topics.get_mut(&topic) {
                subs.remove(&self.id);
                if subs.is_empty() {
                    registry.topics.remove(&topic);
                }
            }
        }
        Ok(())
    }

    async fn recv(&mut self) -> Option<Result<Arc<Dispatch>, Lagged>> {
        if self.reported_lag {
            return None;
        }
        match self.inbox.try_recv() {
            Ok(d) => return Some(Ok(d)),
            Err(mpsc::error::TryRecvError::Disconnected) => return None,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if self.subscriber.lagged.load(Ordering::Acquire) {
            self.reported_lag = true;
            return Some(Err(Lagged));
        }
        self.inbox.recv().await.map(Ok)
    }
}

impl Drop for InProcessSubscription {
    fn drop(&mut self) {
        let mut registry = self.bus.registry.write().unwrap_or_else(|e| e.into_inner());
        for topic in &self.topics {
            if let Some(subs) = registry.topics.get_mut(topic) {
                subs.remove(&self.id);
                if subs.is_empty() {
                    registry.topics.remove(topic);
                }
            }
        }
    }
}
