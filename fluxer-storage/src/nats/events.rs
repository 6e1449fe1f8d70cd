//! The event bus on core NATS: one subject per topic, one NATS subscription per subscribed topic.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::{Client, HeaderMap, Subscriber};
use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::ChannelId;
use fluxer_core::ports::{Dispatch, EventBus, Lagged, PortResult, Subscription, Topic};
use futures_util::StreamExt;
use futures_util::future::{self, Either};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use super::{NatsConfig, event_names};

/// The header carrying [`Dispatch::event`].
const EVENT_HEADER: &str = "Fluxer-Event";
/// The header carrying [`Dispatch::channel_id`], when there is one.
const CHANNEL_HEADER: &str = "Fluxer-Channel";

/// [`EventBus`] on core NATS, so every node's subscribers see every node's events.
///
/// A dispatch is published to `<prefix>.events.<topic>` (`fluxer.events.guild.123`) with the event name
/// and channel in headers and the JSON payload as the body, unchanged. Core NATS delivers at most once
/// and keeps one publisher's order per subject, which is the port's per-topic order.
///
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct NatsEventBus {
    client: Client,
    prefix: String,
}

impl NatsEventBus {
    /// Connects to the configured server.
    pub async fn connect(config: &NatsConfig) -> PortResult<NatsEventBus> {
        Self::new(config.connect().await?, &config.prefix)
    }

    /// A bus on an existing connection, with subjects under `<prefix>.events.`.
    pub fn new(client: Client, prefix: &str) -> PortResult<NatsEventBus> {
        super::check_prefix(prefix)?;
        Ok(NatsEventBus {
            client,
            prefix: prefix.to_owned(),
        })
    }

    fn subject(&self, topic: &Topic) -> String {
        format!("{}.events.{}", self.prefix, topic.subject())
    }
}

#[async_trait]
impl EventBus for NatsEventBus {
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()> {
        let mut headers = HeaderMap::new();
        headers.insert(EVENT_HEADER, dispatch.event);
        if let Some(channel) = dispatch.channel_id {
            headers.insert(CHANNEL_HEADER, channel.to_string().as_str());
        }
        // This only queues the message on the connection: a slow subscriber never holds it up.
        self.client
            .publish_with_headers(
                self.subject(&dispatch.topic),
                headers,
                dispatch.payload.as_bytes().to_vec().into(),
            )
            .await
            .map_err(|e| StoreError::Backend(format!("nats publish: {e}")))
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Ok(Box::new(NatsSubscription {
            bus: self.clone(),
            inbox: Arc::new(Inbox {
                sender,
                lagged: AtomicBool::new(false),
                gone: AtomicBool::new(false),
                woken: Notify::new(),
            }),
            receiver,
            topics: HashMap::new(),
            reported_end: false,
        }))
    }
}

/// The forwarders' side of a subscription's inbox.
struct Inbox {
    sender: mpsc::Sender<Arc<Dispatch>>,
    /// Set when an event did not fit: nothing more is delivered.
    lagged: AtomicBool,
    /// Set when a topic's NATS subscription ended on its own (the connection was closed).
    gone: AtomicBool,
    /// Wakes a waiting `recv` when `gone` is set.
    woken: Notify,
}

/// One subscribed topic: the task moving its NATS messages into the inbox.
struct TopicForwarder {
    /// Cleared before the task is aborted, so nothing is forwarded once the topic is removed.
    active: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl TopicForwarder {
    fn stop(self) {
        self.active.store(false, Ordering::Release);
        self.task.abort();
    }
}

struct NatsSubscription {
    bus: NatsEventBus,
    inbox: Arc<Inbox>,
    receiver: mpsc::Receiver<Arc<Dispatch>>,
    topics: HashMap<Topic, TopicForwarder>,
    /// `recv` returned `Err(Lagged)` or found the bus gone: it returns `None` from now on.
    reported_end: bool,
}

/// Moves one topic's messages into the inbox, in order, without ever waiting for room: a full inbox
/// marks the subscription lagged and stops the forwarding (dropping the NATS subscription).
async fn forward(
    mut subscriber: Subscriber,
    topic: Topic,
    inbox: Arc<Inbox>,
    active: Arc<AtomicBool>,
) {
    while let Some(message) = subscriber.next().await {
        if !active.load(Ordering::Acquire) || inbox.lagged.load(Ordering::Acquire) {
            return;
        }
        let Some(dispatch) = decode(topic, &message) else {
            continue;
        };
        if inbox.sender.try_send(Arc::new(dispatch)).is_err() {
            inbox.lagged.store(true, Ordering::Release);
            return;
        }
    }
    if active.load(Ordering::Acquire) {
        inbox.gone.store(true, Ordering::Release);
        inbox.woken.notify_one();
    }
}

/// The dispatch in a message, or `None` (logged) for a message no publisher of ours would send.
fn decode(topic: Topic, message: &async_nats::Message) -> Option<Dispatch> {
    let headers = message.headers.as_ref();
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    let Some(event) = header(EVENT_HEADER).and_then(event_names::intern) else {
        tracing::warn!(subject = %message.subject, "dropping a bus message without a valid event name");
        return None;
    };
    let channel_id = match header(CHANNEL_HEADER).map(ChannelId::from_str) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            tracing::warn!(subject = %message.subject, "dropping a bus message with a bad channel id");
            return None;
        }
    };
    let Ok(payload) = std::str::from_utf8(&message.payload) else {
        tracing::warn!(subject = %message.subject, "dropping a bus message whose payload is not UTF-8");
        return None;
    };
    Some(Dispatch {
        event,
        topic,
        channel_id,
        payload: payload.into(),
    })
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn add_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.contains_key(&topic) {
            return Ok(());
        }
        let subscriber = self
            .bus
            .client
            .subscribe(self.bus.subject(&topic))
            .await
            .map_err(|e| StoreError::Backend(format!("nats subscribe: {e}")))?;
        let active = Arc::new(AtomicBool::new(true));
        let task = tokio::spawn(forward(
            subscriber,
            topic,
            self.inbox.clone(),
            active.clone(),
        ));
        self.topics.insert(topic, TopicForwarder { active, task });
        Ok(())
    }

    async fn remove_topic(&mut self, topic: Topic) -> PortResult<()> {
        if let Some(forwarder) = self.topics.remove(&topic) {
            forwarder.stop();
        }
        Ok(())
    }

    async fn recv(&mut self) -> Option<Result<Arc<Dispatch>, Lagged>> {
        if self.reported_end {
            return None;
        }
        loop {
            match self.receiver.try_recv() {
                Ok(d) => return Some(Ok(d)),
                // The inbox keeps a sender, so the channel never closes under us.
                Err(mpsc::error::TryRecvError::Disconnected) => return None,
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
            if self.inbox.lagged.load(Ordering::Acquire) {
                self.reported_end = true;
                return Some(Err(Lagged));
            }
            if self.inbox.gone.load(Ordering::Acquire) {
                self.reported_end = true;
                return None;
            }
            // A lag while waiting shows on the next call, once the buffer is drained.
            let received = std::pin::pin!(self.receiver.recv());
            let woken = std::pin::pin!(self.inbox.woken.notified());
            if let Either::Left((d, _)) = future::select(received, woken).await {
                return d.map(Ok);
            }
        }
    }
}

impl Drop for NatsSubscription {
    fn drop(&mut self) {
        for (_, forwarder) in self.topics.drain() {
            forwarder.stop();
        }
    }
}
