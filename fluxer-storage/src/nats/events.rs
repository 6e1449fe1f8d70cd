//! The event bus on NATS: live delivery on core NATS, history in a JetStream stream so a session can
//! be resumed on another node.
//!
//! # Design
//!
//! - **Publishing** is a JetStream publish to `<prefix>.events.<topic>` (`fluxer.events.guild.123`),
//!   stored by the stream `<prefix>_EVENTS` (subjects `<prefix>.events.>`, limits retention, kept for
//!   [`NatsConfig::event_history_ms`]). The event name and channel travel in headers, the JSON payload
//!   unchanged as the body. The stream sequence is the event's [`Dispatch::position`]. `publish`
//!   does not wait for the acknowledgement (unless this node delivers too, below): at most
//!   4 096 may be outstanding (`publish` waits for room beyond that), and a publish the
//!   stream refused is counted ([`NatsEventBus::unacknowledged`]) and logged.
//! - **Live delivery rides core NATS**: the stream republishes every event it has stored, with its
//!   sequence in the `Nats-Sequence` header, to `<prefix>.live.<topic>` (JetStream's `republish`).
//!   Each bus instance (one per process) holds one plain subscription to `<prefix>.live.>`, started
//!   lazily by the first subscription, and fans its messages out to the local subscriptions by topic.
//!   No consumer, flow control or acknowledgement is involved, and an event is delivered only once
//!   stored, so everything delivered can be replayed. One subscription per node, rather than one per
//!   session, keeps the server's work independent of the number of sessions; every node receives
//!   every event (as a gateway node subscribed to most guilds would anyway). The stream republishes in
//!   sequence order, so positions increase along a subscription across topics. Core NATS may drop
//!   messages (a slow consumer, a reconnection): a jump in the sequence is filled from the stream
//!   before the event after it is delivered, and if that fails every local subscription is marked
//!   lagged (its session resyncs by RESUME, which replays from the stream). Adding or removing a topic
//!   is local and takes effect at once; a subscription lags alone when its inbox is full.
//! - **Read your own publishes**: when this instance also delivers (it has subscriptions), `publish`
//!   waits for the acknowledgement and returns once its own fan-out has passed the event, so a
//!   subscription made after `publish` returns never sees the event (as with core NATS on one
//!   connection).
//! - **Replay** ([`EventBus::replay`]): a subscription is registered with the local fan-out at
//!   position `D`, the last position the node has delivered; an ordered consumer from `after + 1`
//!   then reads the stream up to `D` and keeps the events of the requested topics. Live delivery
//!   starts after `D` and the replay stops at `D`: no gap, no duplicate. When the node has not yet
//!   reached `after` (its subscription started later), live events up to `after` are skipped. NATS
//!   2.9 has no multi-subject filters, so a replay of several topics reads every event of the span
//!   and filters here (with one topic the server filters).

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::consumer::{DeliverPolicy, push};
use async_nats::jetstream::context::{ContextBuilder, PublishAckFuture};
use async_nats::jetstream::stream::{self, RetentionPolicy};
use async_nats::{Client, HeaderMap, Subscriber};
use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::ports::{
    Dispatch, EventBus, EventKind, Lagged, PortResult, Replay, Subscription, Topic,
};
use futures_util::StreamExt;
use tokio::sync::{OnceCell, mpsc, watch};
use tokio::task::JoinHandle;

use super::NatsConfig;

/// The header carrying [`Dispatch::event`].
const EVENT_HEADER: &str = "Fluxer-Event";
/// The header carrying [`Dispatch::channel_id`], when there is one.
const CHANNEL_HEADER: &str = "Fluxer-Channel";
const GUILD_HEADER: &str = "Fluxer-Guild";
const SUBJECT_HEADER: &str = "Fluxer-Subject";
/// How long `publish` waits for this node's consumer to pass its own event.
const OWN_DELIVERY_WAIT: Duration = Duration::from_secs(2);
/// How long a replay (or the filling of a gap in live delivery) may take before it is given up.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the live loop waits without an event before it asks the stream whether core NATS lost
/// one (the last events before a quiet spell would otherwise wait for the next event to be noticed).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// The header in which the stream's republished copy of an event carries its stream sequence.
const SEQUENCE_HEADER: &str = "Nats-Sequence";
/// Publishes whose acknowledgements may be outstanding at once; `publish` waits for room beyond.
const ACKS_IN_FLIGHT: usize = 4096;
/// The subjects' section where events are published (and stored).
const STORED: &str = "events";
/// The subjects' section where the stream republishes them for live delivery.
const LIVE: &str = "live";

fn backend(what: &str, e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_while("nats", format!("events: {what}"), e)
}

/// [`EventBus`] on NATS JetStream, so every node's subscribers see every node's events and a session
/// can resume on another node; see the `nats::events` module documentation for the design.
///
/// Cheap to clone: clones share the connection and the node's consumer.
#[derive(Clone)]
pub struct NatsEventBus {
    client: Client,
    prefix: String,
    history: Duration,
    replicas: usize,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    /// One JetStream context per bus (each spawns an acknowledgement task), made on first use.
    js: OnceLock<Context>,
    stream: OnceCell<stream::Stream>,
    router: OnceCell<Arc<Router>>,
    /// Publishes the stream did not acknowledge (not stored, so not delivered).
    unacknowledged: AtomicU64,
}

impl NatsEventBus {
    /// Connects to the configured server.
    pub async fn connect(config: &NatsConfig) -> PortResult<NatsEventBus> {
        Self::from_config(config.connect().await?, config)
    }

    /// A bus on an existing connection, with subjects under `<prefix>.events.` and the default
    /// history (see [`NatsConfig::event_history_ms`]).
    pub fn new(client: Client, prefix: &str) -> PortResult<NatsEventBus> {
        Self::from_config(client, &NatsConfig::new("").with_prefix(prefix))
    }

    /// A bus on an existing connection, set up from `config` (prefix, history, replicas).
    pub fn from_config(client: Client, config: &NatsConfig) -> PortResult<NatsEventBus> {
        super::check_prefix(&config.prefix)?;
        Ok(NatsEventBus {
            client,
            prefix: config.prefix.clone(),
            history: Duration::from_millis(config.event_history_ms.max(1000)),
            replicas: config.replicas.max(1),
            shared: Arc::default(),
        })
    }

    fn subject(&self, topic: &Topic) -> String {
        format!("{}.{STORED}.{}", self.prefix, topic.subject())
    }

    fn all_subjects(&self) -> String {
        format!("{}.{STORED}.>", self.prefix)
    }

    /// Publishes the stream did not acknowledge since this bus was made (they were not stored, so
    /// nobody received them); each is also logged.
    pub fn unacknowledged(&self) -> u64 {
        self.shared.unacknowledged.load(Ordering::Relaxed)
    }

    fn js(&self) -> &Context {
        self.shared.js.get_or_init(|| {
            ContextBuilder::new()
                .max_ack_inflight(ACKS_IN_FLIGHT)
                .backpressure_on_inflight(true)
                .build(self.client.clone())
        })
    }

    /// The republication of every stored event on the live subjects.
    fn republish(&self) -> stream::Republish {
        stream::Republish {
            source: self.all_subjects(),
            destination: format!("{}.{LIVE}.>", self.prefix),
            headers_only: false,
        }
    }

    /// The events stream, created on first use (every node creates it if missing, so the first
    /// publish of any node is kept). A stream made by an older build, without the republication live
    /// delivery needs, gets it.
    async fn stream(&self) -> PortResult<&stream::Stream> {
        self.shared
            .stream
            .get_or_try_init(|| async {
                let republish = Some(self.republish());
                let js = self.js();
                let mut stream = js
                    .get_or_create_stream(stream::Config {
                        name: format!("{}_EVENTS", self.prefix),
                        subjects: vec![self.all_subjects()],
                        retention: RetentionPolicy::Limits,
                        max_age: self.history,
                        num_replicas: self.replicas,
                        republish: republish.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| backend("creating the events stream", e))?;
                let config = &stream.cached_info().config;
                if config.republish != republish {
                    let config = stream::Config {
                        republish,
                        ..config.clone()
                    };
                    js.update_stream(&config)
                        .await
                        .map_err(|e| backend("adding republication to the events stream", e))?;
                    stream = js
                        .get_stream(&config.name)
                        .await
                        .map_err(|e| backend("reading the events stream", e))?;
                }
                Ok(stream)
            })
            .await
    }

    /// Counts and logs a publish the stream did not acknowledge.
    fn unacknowledged_publish(shared: &Shared, error: impl std::fmt::Display) {
        let n = shared.unacknowledged.fetch_add(1, Ordering::Relaxed) + 1;
        // Every one while they are few, then one line per hundred (NATS down would flood the log).
        if n <= 10 || n.is_multiple_of(100) {
            tracing::warn!(error = %error, unacknowledged = n, "nats events: a publish was not stored");
        }
    }

    /// This node's consumer and fan-out, started on first use.
    async fn router(&self) -> PortResult<Arc<Router>> {
        let router = self
            .shared
            .router
            .get_or_try_init(|| async {
                let stream = self.stream().await?;
                // Subscribed before reading where the stream is, so every later event reaches us.
                let live = self
                    .client
                    .subscribe(format!("{}.{LIVE}.>", self.prefix))
                    .await
                    .map_err(|e| backend("subscribing to live events", e))?;
                self.client
                    .flush()
                    .await
                    .map_err(|e| backend("subscribing to live events", e))?;
                let last = stream
                    .get_info()
                    .await
                    .map_err(|e| backend("reading the events stream", e))?
                    .state
                    .last_sequence;
                let (delivered, _) = watch::channel(last);
                let router = Arc::new(Router {
                    state: Mutex::new(RouterState {
                        delivered: last,
                        next_id: 0,
                        inboxes: HashMap::new(),
                        topics: HashMap::new(),
                        gone: false,
                    }),
                    delivered,
                    task: OnceCell::new(),
                });
                let history = History {
                    stream: stream.clone(),
                    client: self.client.clone(),
                    prefix: self.prefix.clone(),
                };
                let task = tokio::spawn(route(Arc::downgrade(&router), live, history));
                let _ = router.task.set(task);
                Ok::<_, StoreError>(router)
            })
            .await?;
        Ok(router.clone())
    }

    /// A subscription registered with the fan-out, complete from the router's current position.
    async fn register(
        &self,
        capacity: usize,
        topics: &[Topic],
        skip_until: u64,
    ) -> PortResult<(NatsSubscription, u64)> {
        let router = self.router().await?;
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let lagged = Arc::new(AtomicBool::new(false));
        let (id, delivered) = {
            let mut st = router.lock();
            if st.gone {
                return Err(backend("subscribing", "the connection is closed"));
            }
            let id = st.next_id;
            st.next_id += 1;
            st.inboxes.insert(
                id,
                Inbox {
                    sender,
                    lagged: lagged.clone(),
                },
            );
            for topic in topics {
                st.topics.entry(*topic).or_default().insert(id);
            }
            (id, st.delivered)
        };
        let subscription = NatsSubscription {
            router,
            id,
            lagged,
            receiver,
            topics: topics.iter().copied().collect(),
            skip_until,
            start: delivered.max(skip_until),
            reported_end: false,
        };
        Ok((subscription, delivered))
    }
}

/// An ordered push consumer over `filter`, from stream sequence `start`.
async fn ordered_consumer(
    stream: &stream::Stream,
    client: &Client,
    filter: String,
    start: u64,
) -> PortResult<(push::Ordered, u64)> {
    let consumer = stream
        .create_consumer(push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: filter,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start.max(1),
            },
            ..Default::default()
        })
        .await
        .map_err(|e| backend("creating an ordered consumer", e))?;
    let pending = consumer.cached_info().num_pending;
    let messages = consumer
        .messages()
        .await
        .map_err(|e| backend("consuming the events stream", e))?;
    Ok((messages, pending))
}

/// One node's fan-out of its live events to its subscriptions.
struct Router {
    state: Mutex<RouterState>,
    /// The last position fanned out, for `publish` to wait on.
    delivered: watch::Sender<u64>,
    task: OnceCell<JoinHandle<()>>,
}

struct RouterState {
    delivered: u64,
    next_id: u64,
    /// The live subscriptions' senders. Dropping one is how its subscription learns that nothing
    /// more will come: it reads what is buffered, then ends.
    inboxes: HashMap<u64, Inbox>,
    topics: HashMap<Topic, HashSet<u64>>,
    /// The live subscription ended (the connection was closed): nothing more will be delivered.
    gone: bool,
}

impl Router {
    fn lock(&self) -> MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fans the event at `position` out to its topic's subscriptions (`None`: a message that is not
    /// ours, which only moves the position), without ever waiting for room: a full inbox marks that
    /// subscription lagged.
    fn deliver(&self, position: u64, dispatch: Option<Dispatch>) {
        let dispatch = dispatch.map(Arc::new);
        {
            let mut st = self.lock();
            st.delivered = position;
            if let Some(dispatch) = &dispatch
                && let Some(ids) = st.topics.get(&dispatch.topic)
            {
                let mut full = Vec::new();
                for id in ids {
                    let Some(inbox) = st.inboxes.get(id) else {
                        continue;
                    };
                    if inbox.sender.try_send(dispatch.clone()).is_err() {
                        full.push(*id);
                    }
                }
                for id in full {
                    if let Some(inbox) = st.inboxes.remove(&id) {
                        inbox.lagged.store(true, Ordering::Release);
                    }
                }
            }
        }
        self.delivered.send_replace(position);
    }

    /// Events up to `position` were lost to every subscription: each must resync.
    fn lag_all(&self, position: u64) {
        let mut st = self.lock();
        st.delivered = st.delivered.max(position);
        for (_, inbox) in st.inboxes.drain() {
            inbox.lagged.store(true, Ordering::Release);
        }
    }

    fn remove(&self, id: u64, topic: &Topic) {
        let mut st = self.lock();
        if let Some(ids) = st.topics.get_mut(topic) {
            ids.remove(&id);
            if ids.is_empty() {
                st.topics.remove(topic);
            }
        }
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        if let Some(task) = self.task.get() {
            task.abort();
        }
    }
}

/// What the live loop needs to fill a gap from the stream.
struct History {
    stream: stream::Stream,
    client: Client,
    prefix: String,
}

impl History {
    /// Delivers what the stream holds beyond what this node has delivered, if anything.
    async fn catch_up(&self, router: &Router) {
        let last = match self.stream.get_info().await {
            Ok(info) => info.state.last_sequence,
            Err(e) => {
                tracing::debug!(error = %e, "nats events: could not read the events stream");
                return;
            }
        };
        let delivered = router.lock().delivered;
        if last > delivered {
            self.fill_or_lag(router, delivered, last).await;
        }
    }

    /// [`fill`](Self::fill), or when it fails, every subscription lags (and resyncs by RESUME).
    async fn fill_or_lag(&self, router: &Router, from: u64, until: u64) {
        tracing::debug!(
            from = from + 1,
            until,
            "nats events: filling a gap in live delivery"
        );
        if let Err(e) = self.fill(router, from, until).await {
            tracing::warn!(error = %fluxer_core::error::chain(&e), from = from + 1, until, "nats events: live events were lost; every subscription resyncs");
            router.lag_all(until);
        }
    }

    /// Delivers the stored events after `from` up to `until`, which core NATS did not bring.
    async fn fill(&self, router: &Router, from: u64, until: u64) -> PortResult<()> {
        let filter = format!("{}.{STORED}.>", self.prefix);
        tokio::time::timeout(REPLAY_TIMEOUT, async {
            let (mut messages, pending) =
                ordered_consumer(&self.stream, &self.client, filter, from + 1).await?;
            if pending == 0 {
                return Ok(());
            }
            while let Some(message) = messages.next().await {
                let message = message.map_err(|e| backend("filling a gap", e))?;
                let info = message.info().map_err(|e| backend("filling a gap", e))?;
                let (position, left) = (info.stream_sequence, info.pending);
                if position > until {
                    break;
                }
                let dispatch = topic_of(&self.prefix, STORED, &message.subject)
                    .and_then(|topic| decode(topic, &message, position));
                router.deliver(position, dispatch);
                if position == until || left == 0 {
                    break;
                }
            }
            Ok(())
        })
        .await
        .map_err(|_| backend("filling a gap", "timed out"))?
    }
}

/// The node's live loop: each event the stream republishes goes to the inboxes of its topic's
/// subscriptions, in sequence order, a gap first filled from the stream.
async fn route(router: Weak<Router>, mut live: Subscriber, history: History) {
    loop {
        let next = tokio::time::timeout(IDLE_CHECK, live.next()).await;
        let Some(router) = router.upgrade() else {
            return;
        };
        let message = match next {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(_) => {
                history.catch_up(&router).await;
                continue;
            }
        };
        let position = message
            .headers
            .as_ref()
            .and_then(|h| h.get(SEQUENCE_HEADER))
            .and_then(|v| v.as_str().parse::<u64>().ok());
        let Some(position) = position else {
            tracing::warn!(subject = %message.subject, "dropping a live event without a stream sequence");
            continue;
        };
        let delivered = router.lock().delivered;
        // Already delivered (read from the stream with a gap, or before this node started).
        if position <= delivered {
            continue;
        }
        if position > delivered + 1 {
            history.fill_or_lag(&router, delivered, position - 1).await;
        }
        let dispatch = topic_of(&history.prefix, LIVE, &message.subject)
            .and_then(|topic| decode(topic, &message, position));
        router.deliver(position, dispatch);
    }
    if let Some(router) = router.upgrade() {
        let mut st = router.lock();
        st.gone = true;
        // Without a sender each subscription reads what it holds, then ends.
        st.inboxes.clear();
    }
}

/// The topic of a subject under `<prefix>.<section>.`.
fn topic_of(prefix: &str, section: &str, subject: &str) -> Option<Topic> {
    let rest = subject
        .strip_prefix(prefix)?
        .strip_prefix('.')?
        .strip_prefix(section)?
        .strip_prefix('.')?;
    let (kind, id) = rest.split_once('.')?;
    let id: u64 = id.parse().ok()?;
    match kind {
        "guild" => Some(Topic::Guild(GuildId::new(id))),
        "user" => Some(Topic::User(UserId::new(id))),
        "presence" => Some(Topic::GuildPresence(GuildId::new(id))),
        _ => None,
    }
}

#[async_trait]
impl EventBus for NatsEventBus {
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()> {
        self.stream().await?;
        let mut headers = HeaderMap::new();
        headers.insert(EVENT_HEADER, dispatch.event.as_str());
        if let Some(channel) = dispatch.channel_id {
            headers.insert(CHANNEL_HEADER, channel.to_string().as_str());
        }
        if let Some(guild) = dispatch.guild_id {
            headers.insert(GUILD_HEADER, guild.to_string().as_str());
        }
        if let Some(user) = dispatch.subject {
            headers.insert(SUBJECT_HEADER, user.to_string().as_str());
        }
        // Waits only while ACKS_IN_FLIGHT acknowledgements are outstanding.
        let ack: PublishAckFuture = self
            .js()
            .publish_with_headers(
                self.subject(&dispatch.topic),
                headers,
                dispatch.payload.as_bytes().to_vec().into(),
            )
            .await
            .map_err(|e| backend("publish", e))?;
        let Some(router) = self.shared.router.get() else {
            // Nothing to read back here: the acknowledgement is awaited on the side.
            let shared = self.shared.clone();
            tokio::spawn(async move {
                if let Err(e) = ack.await {
                    Self::unacknowledged_publish(&shared, e);
                }
            });
            return Ok(());
        };
        // Read your own publishes: wait for the position, then for this node's live loop to pass
        // it. The loop never waits for a subscriber, so this never blocks on a slow one.
        let ack = match ack.await {
            Ok(ack) => ack,
            Err(e) => {
                Self::unacknowledged_publish(&self.shared, &e);
                return Err(backend("publish acknowledgement", e));
            }
        };
        let mut delivered = router.delivered.subscribe();
        let _ = tokio::time::timeout(
            OWN_DELIVERY_WAIT,
            delivered.wait_for(|d| *d >= ack.sequence),
        )
        .await;
        Ok(())
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        let (subscription, _) = self.register(capacity, &[], 0).await?;
        Ok(Box::new(subscription))
    }

    async fn replay(
        &self,
        topics: &[Topic],
        after: u64,
        capacity: usize,
    ) -> PortResult<Option<Replay>> {
        let stream = self.stream().await?;
        let state = stream
            .get_info()
            .await
            .map_err(|e| backend("reading the events stream", e))?
            .state;
        // Beyond the history, or part of what followed `after` is gone.
        if after > state.last_sequence || after + 1 < state.first_sequence {
            return Ok(None);
        }
        let (subscription, delivered) = self.register(capacity, topics, after).await?;
        let mut missed = Vec::new();
        if delivered > after {
            let wanted: HashSet<Topic> = topics.iter().copied().collect();
            let filter = match topics {
                [one] => self.subject(one),
                _ => self.all_subjects(),
            };
            let read = tokio::time::timeout(REPLAY_TIMEOUT, async {
                let (mut messages, pending) =
                    ordered_consumer(stream, &self.client, filter, after + 1).await?;
                if pending == 0 {
                    return Ok(true);
                }
                while let Some(message) = messages.next().await {
                    let message = message.map_err(|e| backend("replaying", e))?;
                    let info = message.info().map_err(|e| backend("replaying", e))?;
                    let (position, left) = (info.stream_sequence, info.pending);
                    if position > delivered {
                        break;
                    }
                    let dispatch = topic_of(&self.prefix, STORED, &message.subject)
                        .filter(|t| wanted.contains(t))
                        .and_then(|t| decode(t, &message, position));
                    if let Some(dispatch) = dispatch {
                        if missed.len() >= capacity {
                            return Ok(false);
                        }
                        missed.push(Arc::new(dispatch));
                    }
                    if position == delivered || left == 0 {
                        break;
                    }
                }
                Ok::<_, StoreError>(true)
            })
            .await
            .map_err(|_| backend("replaying", "timed out"))??;
            if !read {
                return Ok(None);
            }
        }
        Ok(Some(Replay {
            missed,
            subscription: Box::new(subscription),
        }))
    }
}

/// The fan-out's side of a subscription's inbox.
struct Inbox {
    sender: mpsc::Sender<Arc<Dispatch>>,
    /// Set, before the sender is dropped, when an event did not fit or was lost: the subscription
    /// ends with `Err(Lagged)` rather than `None`.
    lagged: Arc<AtomicBool>,
}

struct NatsSubscription {
    router: Arc<Router>,
    id: u64,
    /// Shared with the fan-out's [`Inbox`]: why the channel closed, once it has.
    lagged: Arc<AtomicBool>,
    receiver: mpsc::Receiver<Arc<Dispatch>>,
    topics: HashSet<Topic>,
    /// Events at or before this position were replayed or already seen: skipped.
    skip_until: u64,
    start: u64,
    /// `recv` returned `Err(Lagged)` or found the bus gone: it returns `None` from now on.
    reported_end: bool,
}

/// The dispatch in a message, or `None` (logged) for a message no publisher of ours would send.
fn decode(topic: Topic, message: &async_nats::Message, position: u64) -> Option<Dispatch> {
    let headers = message.headers.as_ref();
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    // A name this build does not know (a newer node, a misbehaving publisher) is dropped.
    let Some(event) = header(EVENT_HEADER).and_then(|name| EventKind::try_from(name).ok()) else {
        tracing::warn!(subject = %message.subject, "dropping a bus message without a known event name");
        return None;
    };
    // An ID header that does not parse: the message is not ours.
    fn id<T: FromStr>(value: Option<&str>) -> Result<Option<T>, ()> {
        value.map(|v| T::from_str(v).map_err(|_| ())).transpose()
    }
    let (Ok(channel_id), Ok(guild_id), Ok(subject)) = (
        id::<ChannelId>(header(CHANNEL_HEADER)),
        id::<GuildId>(header(GUILD_HEADER)),
        id::<UserId>(header(SUBJECT_HEADER)),
    ) else {
        tracing::warn!(subject = %message.subject, "dropping a bus message with a bad id header");
        return None;
    };
    let Ok(payload) = std::str::from_utf8(&message.payload) else {
        tracing::warn!(subject = %message.subject, "dropping a bus message whose payload is not UTF-8");
        return None;
    };
    let mut dispatch = Dispatch::new(event, topic, &());
    dispatch.channel_id = channel_id;
    dispatch.guild_id = guild_id;
    dispatch.subject = subject;
    dispatch.payload = payload.into();
    dispatch.position = Some(position);
    Some(dispatch)
}

#[async_trait]
impl Subscription for NatsSubscription {
    async fn add_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.insert(topic) {
            let mut st = self.router.lock();
            st.topics.entry(topic).or_default().insert(self.id);
        }
        Ok(())
    }

    async fn remove_topic(&mut self, topic: Topic) -> PortResult<()> {
        if self.topics.remove(&topic) {
            self.router.remove(self.id, &topic);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Option<Result<Arc<Dispatch>, Lagged>> {
        if self.reported_end {
            return None;
        }
        loop {
            // The fan-out drops the sender when the subscription lags or the bus is gone: what is
            // buffered is read first, then the end.
            let Some(dispatch) = self.receiver.recv().await else {
                self.reported_end = true;
                return self.lagged.load(Ordering::Acquire).then_some(Err(Lagged));
            };
            // Removed topics may still have events in the inbox.
            if !self.topics.contains(&dispatch.topic)
                || dispatch.position.is_some_and(|p| p <= self.skip_until)
            {
                continue;
            }
            return Some(Ok(dispatch));
        }
    }

    fn start_position(&self) -> Option<u64> {
        Some(self.start)
    }
}

impl Drop for NatsSubscription {
    fn drop(&mut self) {
        let mut st = self.router.lock();
        st.inboxes.remove(&self.id);
        for topic in &self.topics {
            if let Some(ids) = st.topics.get_mut(topic) {
                ids.remove(&self.id);
                if ids.is_empty() {
                    st.topics.remove(topic);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_map_back_to_topics() {
        assert_eq!(
            topic_of("fx", STORED, "fx.events.guild.12"),
            Some(Topic::Guild(GuildId::new(12)))
        );
        assert_eq!(
            topic_of("fx", STORED, "fx.events.user.7"),
            Some(Topic::User(UserId::new(7)))
        );
        assert_eq!(
            topic_of("fx", LIVE, "fx.live.presence.12"),
            Some(Topic::GuildPresence(GuildId::new(12)))
        );
        assert_eq!(topic_of("fx", STORED, "fy.events.user.7"), None);
        assert_eq!(topic_of("fx", LIVE, "fx.events.user.7"), None);
        assert_eq!(topic_of("fx", STORED, "fx.eventsx.user.7"), None);
        assert_eq!(topic_of("fx", STORED, "fx.events.channel.7"), None);
        assert_eq!(topic_of("fx", STORED, "fx.events.user.x"), None);
    }
}
