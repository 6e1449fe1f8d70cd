//! The event bus on NATS: live delivery on core NATS, history in a JetStream stream so a session can
//! be resumed on another node.
//!
//! # Design
//!
//! - **Publishing** is a JetStream publish to `<prefix>.events.<topic>` (`fluxer.events.guild.123`),
//!   stored by the stream `<prefix>_EVENTS` (subjects `<prefix>.events.>`, limits retention, kept for
//!   [`NatsConfig::event_history_ms`]). `publish` hands the event to the bus's sender task, which
//!   stores what has queued up meanwhile in as few messages as it can: each run of consecutive
//!   events of one topic (up to 64 events and 256 KiB) is one message, so a busy guild costs the server one
//!   stored message per batch rather than per event, and a lone event goes out at once. A message's
//!   body is its events one after another, each a line of its name and IDs then its JSON payload
//!   (see [`encode`]). `publish` does not wait for the acknowledgement (unless this node delivers
//!   too, below): at most 4 096 events may wait to be sent (`publish` waits for room beyond that),
//!   and an event the stream refused is counted ([`NatsEventBus::unacknowledged`]) and logged.
//! - **Positions**: the event at index `i` of the message with stream sequence `s` is at
//!   [`Dispatch::position`] `s * 64 + i`, so positions increase along the stream and tell the
//!   message to replay from (see [`MAX_BATCH`] for how far sequences may go).
//! - **Live delivery rides core NATS**: the stream republishes every message it has stored, with its
//!   sequence in the `Nats-Sequence` header, to `<prefix>.live.<topic>` (JetStream's `republish`).
//!   Each bus instance (one per process) holds one plain subscription to `<prefix>.live.>`, started
//!   lazily by the first subscription, and fans its events out to the local subscriptions by topic.
//!   No consumer, flow control or acknowledgement is involved, and an event is delivered only once
//!   stored, so everything delivered can be replayed. One subscription per node, rather than one per
//!   session, keeps the server's work independent of the number of sessions; every node receives
//!   every event (as a gateway node subscribed to most guilds would anyway). The stream republishes in
//!   sequence order, so positions increase along a subscription across topics. Core NATS may drop
//!   messages (a slow consumer, a reconnection): a jump in the sequence is filled from the stream
//!   before the message after it is delivered, and if that fails every local subscription is marked
//!   lagged (its session resyncs by RESUME, which replays from the stream). Adding or removing a topic
//!   is local and takes effect at once; a subscription lags alone when its inbox is full.
//! - **Read your own publishes**: when this instance also delivers (it has subscriptions), `publish`
//!   waits for the acknowledgement and returns once its own fan-out has passed the event, so a
//!   subscription made after `publish` returns never sees the event (as with core NATS on one
//!   connection).
//! - **Replay** ([`EventBus::replay`]): a subscription is registered with the local fan-out at
//!   the last message the node has delivered, `D`; an ordered consumer from the message holding the
//!   event after `after` then reads the stream up to `D` and keeps the later events of the requested
//!   topics. Live delivery starts after `D` and the replay stops at `D`: no gap, no duplicate. When
//!   the node has not yet reached `after` (its subscription started later), live events up to `after`
//!   are skipped. NATS 2.9 has no multi-subject filters, so a replay of several topics reads every
//!   message of the span and filters here (with one topic the server filters).
//! - **Older builds** stored one event per message, its name and IDs in headers. This build still
//!   reads such a message (as a message of one event), but an older build drops this build's
//!   batches: in a rolling upgrade, upgrade the nodes that deliver (gateways) before those that
//!   only publish (API, workers). Positions changed meaning with batches: a session resumed across
//!   the upgrade may be sent events it had already seen, or told to identify again.
//! - **An event name this build does not know** (a newer node's) is skipped alone; the message's
//!   other events are delivered at their positions.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use async_nats::jetstream::Context;
use async_nats::jetstream::consumer::{DeliverPolicy, push};
use async_nats::jetstream::context::ContextBuilder;
use async_nats::jetstream::stream::{self, RetentionPolicy};
use async_nats::{Client, HeaderMap, Subscriber};
use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::ports::{
    Dispatch, EventBus, EventKind, Lagged, PortResult, Replay, Subscription, Topic,
};
use futures_util::StreamExt;
use tokio::sync::{OnceCell, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::NatsConfig;

/// The header marking a message whose body is a batch of events (see [`encode`]), with the format's
/// version.
const BATCH_HEADER: &str = "Fluxer-Batch";
const BATCH_FORMAT: &str = "1";
/// Older builds' one-event messages: the header carrying [`Dispatch::event`], and those carrying its
/// channel, guild and subject when it has them.
const EVENT_HEADER: &str = "Fluxer-Event";
const CHANNEL_HEADER: &str = "Fluxer-Channel";
const GUILD_HEADER: &str = "Fluxer-Guild";
const SUBJECT_HEADER: &str = "Fluxer-Subject";
/// The most events in one stored message: positions keep 6 bits for the index in the message.
///
/// The gateway numbers a dispatch `position * 1024` and JavaScript clients read numbers exactly up to
/// 2^53, so stream sequences must stay below 2^37 (1.4 * 10^11 stored messages: 4 years at 1 000
/// messages a second, each of up to 64 events). Deleting the events stream starts the sequence over
/// (sessions connected then must identify again).
const MAX_BATCH: usize = 64;
const INDEX_BITS: u32 = 6;
/// The most bytes in one stored message's body, when the server allows more (see
/// [`Sender::max_bytes`]); one larger event goes alone.
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// What an event adds to a body beside its payload, at most: its name, three IDs, its length.
const EVENT_LINE_BYTES: usize = 128;
/// How long `publish` waits for this node's consumer to pass its own event.
const OWN_DELIVERY_WAIT: Duration = Duration::from_secs(2);
/// How long a replay (or the filling of a gap in live delivery) may take before it is given up.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the live loop waits without an event before it asks the stream whether core NATS lost
/// one (the last events before a quiet spell would otherwise wait for the next event to be noticed).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// The header in which the stream's republished copy of an event carries its stream sequence.
const SEQUENCE_HEADER: &str = "Nats-Sequence";
/// Events that may wait for the sender task, and stored messages whose acknowledgements may be
/// outstanding at once; `publish` waits for room beyond.
const ACKS_IN_FLIGHT: usize = 4096;
/// The subjects' section where events are published (and stored).
const STORED: &str = "events";
/// The subjects' section where the stream republishes them for live delivery.
const LIVE: &str = "live";

fn backend(what: &str, e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_while("nats", format!("events: {what}"), e)
}

/// The position of the event at `index` in the stored message `sequence`.
fn position(sequence: u64, index: usize) -> u64 {
    (sequence << INDEX_BITS) | index as u64
}

/// The position at the end of the stored message `sequence`: past all of its events.
fn end_of(sequence: u64) -> u64 {
    position(sequence, MAX_BATCH - 1)
}

/// The stored message holding the event at `position`.
fn sequence_of(position: u64) -> u64 {
    position >> INDEX_BITS
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
    /// The sender task's queue, made (and the task spawned) on the first publish. Dropping it, with
    /// the last clone of the bus, lets the task send what is queued and end.
    outbox: OnceLock<mpsc::Sender<Outgoing>>,
    /// Events the stream did not acknowledge (not stored, so not delivered).
    unacknowledged: Arc<AtomicU64>,
}

/// An event waiting for the sender task, and who waits for its stored message's sequence.
struct Outgoing {
    dispatch: Dispatch,
    stored: Option<oneshot::Sender<PortResult<u64>>>,
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

    /// The sender task's queue; the first call spawns the task.
    fn outbox(&self) -> &mpsc::Sender<Outgoing> {
        self.shared.outbox.get_or_init(|| {
            let (outbox, queued) = mpsc::channel(ACKS_IN_FLIGHT);
            let sender = Sender {
                js: self.js().clone(),
                prefix: self.prefix.clone(),
                unacknowledged: self.shared.unacknowledged.clone(),
                max_bytes: Sender::max_bytes(self.client.server_info().max_payload),
            };
            tokio::spawn(sender.run(queued));
            outbox
        })
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

    /// A subscription registered with the fan-out, complete from the router's current message, and
    /// that message's stream sequence. Live events at or before the position `skip_until` are
    /// skipped.
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
            start: end_of(delivered).max(skip_until),
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

/// The bus's sender task: stores the queued events, each run of one topic's events in one message.
struct Sender {
    js: Context,
    prefix: String,
    unacknowledged: Arc<AtomicU64>,
    /// See [`Sender::max_bytes`].
    max_bytes: usize,
}

impl Sender {
    /// The most bytes a batch's body may hold: [`MAX_BATCH_BYTES`], or half of what the server
    /// accepts in one message when that is less (the headers travel beside the body).
    fn max_bytes(server_max_payload: usize) -> usize {
        match server_max_payload {
            0 => MAX_BATCH_BYTES,
            max => MAX_BATCH_BYTES.min(max / 2),
        }
    }

    /// Takes what has queued up (at once when one event is alone), in order, until every bus clone
    /// is gone and the queue is empty.
    async fn run(self, mut queued: mpsc::Receiver<Outgoing>) {
        let mut taken = Vec::with_capacity(MAX_BATCH);
        while queued.recv_many(&mut taken, MAX_BATCH).await > 0 {
            let mut events = taken.drain(..).peekable();
            while let Some(first) = events.next() {
                let topic = first.dispatch.topic;
                let size = |o: &Outgoing| o.dispatch.payload.len() + EVENT_LINE_BYTES;
                let mut bytes = size(&first);
                let mut batch = vec![first];
                while let Some(next) = events.next_if(|next| {
                    next.dispatch.topic == topic && bytes + size(next) <= self.max_bytes
                }) {
                    bytes += size(&next);
                    batch.push(next);
                }
                self.store(topic, batch).await;
            }
        }
    }

    /// Publishes `batch` (one topic's events, in order) as one message; the acknowledgement is
    /// awaited on the side, so the next message goes out meanwhile.
    async fn store(&self, topic: Topic, batch: Vec<Outgoing>) {
        let subject = format!("{}.{STORED}.{}", self.prefix, topic.subject());
        let mut headers = HeaderMap::new();
        headers.insert(BATCH_HEADER, BATCH_FORMAT);
        let body = encode(batch.iter().map(|o| &o.dispatch));
        let events = batch.len();
        let waiting: Vec<_> = batch.into_iter().filter_map(|o| o.stored).collect();
        // Waits only while ACKS_IN_FLIGHT acknowledgements are outstanding.
        let ack = match self
            .js
            .publish_with_headers(subject, headers, body.into())
            .await
        {
            Ok(ack) => ack,
            Err(e) => return not_stored(&self.unacknowledged, events, waiting, e),
        };
        let unacknowledged = self.unacknowledged.clone();
        tokio::spawn(async move {
            match ack.await {
                Ok(ack) => {
                    for waiter in waiting {
                        let _ = waiter.send(Ok(ack.sequence));
                    }
                }
                Err(e) => not_stored(&unacknowledged, events, waiting, e),
            }
        });
    }
}

/// Counts and logs `events` the stream did not store, and tells those waiting for them.
fn not_stored(
    unacknowledged: &AtomicU64,
    events: usize,
    waiting: Vec<oneshot::Sender<PortResult<u64>>>,
    error: impl std::fmt::Display,
) {
    let before = unacknowledged.fetch_add(events as u64, Ordering::Relaxed);
    let now = before + events as u64;
    // Every time while they are few, then once per hundred (NATS down would flood the log).
    if before < 10 || before / 100 != now / 100 {
        tracing::warn!(error = %error, events, unacknowledged = now, "nats events: a publish was not stored");
    }
    let error = error.to_string();
    for waiter in waiting {
        let _ = waiter.send(Err(backend("publish acknowledgement", error.clone())));
    }
}

/// A stored message's body: each event as a line of its name, channel, guild and subject (empty
/// when it has none) and the length of its payload in bytes, tab-separated, then the payload.
fn encode<'a>(events: impl IntoIterator<Item = &'a Dispatch>) -> Vec<u8> {
    use std::io::Write as _;
    fn id(out: &mut Vec<u8>, id: Option<impl std::fmt::Display>) {
        if let Some(id) = id {
            let _ = write!(out, "{id}");
        }
    }
    let mut body = Vec::new();
    for dispatch in events {
        body.extend_from_slice(dispatch.event.as_str().as_bytes());
        body.push(b'\t');
        id(&mut body, dispatch.channel_id);
        body.push(b'\t');
        id(&mut body, dispatch.guild_id);
        body.push(b'\t');
        id(&mut body, dispatch.subject);
        let _ = writeln!(body, "\t{}", dispatch.payload.len());
        body.extend_from_slice(dispatch.payload.as_bytes());
    }
    body
}

/// The events of a stored message's body (see [`encode`]), of `topic`, positioned in the message
/// `sequence`, and how many were skipped for an event name this build does not know (the others
/// keep their positions); an error names what is wrong with a body no publisher of ours would
/// write.
fn decode_batch(
    topic: Topic,
    mut body: &[u8],
    sequence: u64,
) -> Result<(Vec<Dispatch>, usize), &'static str> {
    fn id<T: FromStr>(field: &str) -> Result<Option<T>, &'static str> {
        if field.is_empty() {
            return Ok(None);
        }
        field
            .parse()
            .map(Some)
            .map_err(|_| "an ID that does not parse")
    }
    let (mut events, mut index, mut unknown) = (Vec::new(), 0, 0);
    while !body.is_empty() {
        if index == MAX_BATCH {
            return Err("more events than a message holds");
        }
        let end = body
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a line without its end")?;
        let line = std::str::from_utf8(&body[..end]).map_err(|_| "a line that is not UTF-8")?;
        let fields: Vec<&str> = line.split('\t').collect();
        let [event, channel, guild, subject, length] = fields[..] else {
            return Err("a line without its five fields");
        };
        let length: usize = length.parse().map_err(|_| "a length that does not parse")?;
        let stop = (end + 1).checked_add(length).ok_or("a payload cut short")?;
        let payload = body.get(end + 1..stop).ok_or("a payload cut short")?;
        let payload = std::str::from_utf8(payload).map_err(|_| "a payload that is not UTF-8")?;
        let (channel_id, guild_id, subject) = (id(channel)?, id(guild)?, id(subject)?);
        body = &body[stop..];
        index += 1;
        let Ok(event) = EventKind::try_from(event) else {
            unknown += 1;
            continue;
        };
        events.push(Dispatch {
            event,
            topic,
            channel_id,
            guild_id,
            subject,
            payload: payload.into(),
            position: Some(position(sequence, index - 1)),
        });
    }
    Ok((events, unknown))
}

/// The events in a stored or republished `message` of `topic` at stream sequence `sequence`: a
/// batch, or an older build's one event. Nothing (logged) for a message no publisher of ours
/// would send.
fn events_in(topic: Topic, message: &async_nats::Message, sequence: u64) -> Vec<Dispatch> {
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str())
    };
    if header(BATCH_HEADER) == Some(BATCH_FORMAT) {
        return match decode_batch(topic, &message.payload, sequence) {
            Ok((events, 0)) => events,
            Ok((events, unknown)) => {
                tracing::warn!(subject = %message.subject, unknown, "skipping bus events whose name this build does not know");
                events
            }
            Err(what) => {
                tracing::warn!(subject = %message.subject, what, "dropping a bus message that does not decode");
                Vec::new()
            }
        };
    }
    decode(topic, message, position(sequence, 0))
        .into_iter()
        .collect()
}

/// One node's fan-out of its live events to its subscriptions.
struct Router {
    state: Mutex<RouterState>,
    /// The stream sequence of the last message fanned out, for `publish` to wait on.
    delivered: watch::Sender<u64>,
    task: OnceCell<JoinHandle<()>>,
}

struct RouterState {
    /// The stream sequence of the last message fanned out.
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

    /// Fans the events of the stored message `sequence` (one topic's; none for a message that is
    /// not ours, which only moves the router on) out to their topic's subscriptions, without ever
    /// waiting for room: a full inbox marks that subscription lagged.
    fn deliver(&self, sequence: u64, events: Vec<Dispatch>) {
        let events: Vec<Arc<Dispatch>> = events.into_iter().map(Arc::new).collect();
        {
            let mut st = self.lock();
            st.delivered = sequence;
            if let Some(first) = events.first()
                && let Some(ids) = st.topics.get(&first.topic)
            {
                let mut full = Vec::new();
                for id in ids {
                    let Some(inbox) = st.inboxes.get(id) else {
                        continue;
                    };
                    if events
                        .iter()
                        .any(|event| inbox.sender.try_send(event.clone()).is_err())
                    {
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
        self.delivered.send_replace(sequence);
    }

    /// The stored messages up to `sequence` were lost to every subscription: each must resync.
    fn lag_all(&self, sequence: u64) {
        let mut st = self.lock();
        st.delivered = st.delivered.max(sequence);
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

    /// Delivers the stored messages after `from` up to `until` (stream sequences), which core NATS
    /// did not bring.
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
                let (sequence, left) = (info.stream_sequence, info.pending);
                if sequence > until {
                    break;
                }
                let events = topic_of(&self.prefix, STORED, &message.subject)
                    .map(|topic| events_in(topic, &message, sequence))
                    .unwrap_or_default();
                router.deliver(sequence, events);
                if sequence == until || left == 0 {
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
        let sequence = message
            .headers
            .as_ref()
            .and_then(|h| h.get(SEQUENCE_HEADER))
            .and_then(|v| v.as_str().parse::<u64>().ok());
        let Some(sequence) = sequence else {
            tracing::warn!(subject = %message.subject, "dropping a live event without a stream sequence");
            continue;
        };
        let delivered = router.lock().delivered;
        // Already delivered (read from the stream with a gap, or before this node started).
        if sequence <= delivered {
            continue;
        }
        if sequence > delivered + 1 {
            history.fill_or_lag(&router, delivered, sequence - 1).await;
        }
        let events = topic_of(&history.prefix, LIVE, &message.subject)
            .map(|topic| events_in(topic, &message, sequence))
            .unwrap_or_default();
        router.deliver(sequence, events);
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
        let closed = |_| backend("publish", "the bus's sender task has ended");
        let Some(router) = self.shared.router.get() else {
            // Nothing to read back here: the acknowledgement is awaited by the sender task.
            let stored = None;
            return self
                .outbox()
                .send(Outgoing { dispatch, stored })
                .await
                .map_err(closed);
        };
        // Read your own publishes: wait for the stored message's sequence, then for this node's
        // live loop to pass it. The loop never waits for a subscriber, so this never blocks on a
        // slow one.
        let (tell, told) = oneshot::channel();
        let stored = Some(tell);
        self.outbox()
            .send(Outgoing { dispatch, stored })
            .await
            .map_err(closed)?;
        let sequence = told
            .await
            .map_err(|_| backend("publish", "the bus's sender task has ended"))??;
        let mut delivered = router.delivered.subscribe();
        let _ =
            tokio::time::timeout(OWN_DELIVERY_WAIT, delivered.wait_for(|d| *d >= sequence)).await;
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
        // The message holding the first event after `after`: the rest of `after`'s own message, or
        // the next one.
        let (last_seen, index) = (sequence_of(after), after & (MAX_BATCH as u64 - 1));
        let first_wanted = if last_seen == 0 || index == MAX_BATCH as u64 - 1 {
            last_seen + 1
        } else {
            last_seen
        };
        // Beyond the history, or part of what followed `after` is gone.
        if last_seen > state.last_sequence || first_wanted < state.first_sequence {
            return Ok(None);
        }
        let (subscription, delivered) = self.register(capacity, topics, after).await?;
        let mut missed = Vec::new();
        if end_of(delivered) > after {
            let wanted: HashSet<Topic> = topics.iter().copied().collect();
            let filter = match topics {
                [one] => self.subject(one),
                _ => self.all_subjects(),
            };
            let read = tokio::time::timeout(REPLAY_TIMEOUT, async {
                let (mut messages, pending) =
                    ordered_consumer(stream, &self.client, filter, first_wanted).await?;
                if pending == 0 {
                    return Ok(true);
                }
                while let Some(message) = messages.next().await {
                    let message = message.map_err(|e| backend("replaying", e))?;
                    let info = message.info().map_err(|e| backend("replaying", e))?;
                    let (sequence, left) = (info.stream_sequence, info.pending);
                    if sequence > delivered {
                        break;
                    }
                    let events = topic_of(&self.prefix, STORED, &message.subject)
                        .filter(|t| wanted.contains(t))
                        .map(|t| events_in(t, &message, sequence))
                        .unwrap_or_default();
                    for dispatch in events {
                        if dispatch.position.is_some_and(|p| p <= after) {
                            continue;
                        }
                        if missed.len() >= capacity {
                            return Ok(false);
                        }
                        missed.push(Arc::new(dispatch));
                    }
                    if sequence == delivered || left == 0 {
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

/// The dispatch in an older build's one-event message, or `None` (logged) for a message no
/// publisher of ours would send.
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

    fn dispatch(event: EventKind, topic: Topic, payload: &str) -> Dispatch {
        let mut d = Dispatch::new(event, topic, &());
        d.payload = payload.into();
        d
    }

    #[test]
    fn a_batch_decodes_to_the_events_it_was_made_of_with_their_positions() {
        let topic = Topic::Guild(GuildId::new(9));
        let events = [
            dispatch(
                EventKind::MessageCreate,
                topic,
                r#"{"content":"tab\there\nand a line"}"#,
            )
            .in_channel(ChannelId::new(12)),
            dispatch(EventKind::GuildMemberAdd, topic, "{}").about_user(UserId::new(7)),
            dispatch(EventKind::GuildCreate, topic, "\"héllo\"").about_guild(GuildId::new(9)),
            dispatch(EventKind::TypingStart, topic, ""),
        ];
        let (decoded, unknown) = decode_batch(topic, &encode(&events), 41).unwrap();
        assert_eq!((decoded.len(), unknown), (events.len(), 0));
        for (i, (got, sent)) in decoded.iter().zip(&events).enumerate() {
            assert_eq!(got.event, sent.event);
            assert_eq!(got.topic, topic);
            assert_eq!(got.channel_id, sent.channel_id);
            assert_eq!(got.guild_id, sent.guild_id);
            assert_eq!(got.subject, sent.subject);
            assert_eq!(got.payload, sent.payload);
            assert_eq!(got.position, Some(41 * 64 + i as u64));
        }
        assert!(decode_batch(topic, b"", 41).unwrap().0.is_empty());
    }

    #[test]
    fn an_event_name_this_build_does_not_know_is_skipped_alone() {
        let topic = Topic::Guild(GuildId::new(9));
        let first = encode(&[dispatch(EventKind::MessageCreate, topic, "{}")]);
        let last = encode(&[dispatch(EventKind::MessageDelete, topic, "[]")]);
        let body = [&first[..], b"A_NEWER_EVENT\t\t\t\t2\n{}", &last[..]].concat();
        let (events, unknown) = decode_batch(topic, &body, 3).unwrap();
        assert_eq!(unknown, 1);
        let got: Vec<_> = events.iter().map(|d| (d.event, d.position)).collect();
        assert_eq!(
            got,
            [
                (EventKind::MessageCreate, Some(3 * 64)),
                (EventKind::MessageDelete, Some(3 * 64 + 2)),
            ]
        );
    }

    #[test]
    fn a_batch_stays_under_what_the_server_accepts() {
        assert_eq!(Sender::max_bytes(1024 * 1024), MAX_BATCH_BYTES);
        assert_eq!(Sender::max_bytes(64 * 1024), 32 * 1024);
        assert_eq!(Sender::max_bytes(0), MAX_BATCH_BYTES);
    }

    #[test]
    fn positions_order_messages_then_events_and_tell_their_message() {
        assert!(position(5, MAX_BATCH - 1) < position(6, 0));
        assert_eq!(end_of(5), position(5, MAX_BATCH - 1));
        assert_eq!(sequence_of(position(5, 17)), 5);
        assert_eq!(sequence_of(end_of(5)), 5);
    }

    #[test]
    fn a_body_no_publisher_of_ours_would_write_is_refused() {
        let topic = Topic::User(UserId::new(3));
        let good = encode(&[dispatch(EventKind::MessageCreate, topic, "{}")]);
        let bad: &[&[u8]] = &[
            b"MESSAGE_CREATE\t\t\t\t2",       // no line end
            b"MESSAGE_CREATE\t\t\t2\n{}",     // four fields
            b"MESSAGE_CREATE\t\t\t\t\t2\n{}", // six fields
            b"MESSAGE_CREATE\tx\t\t\t2\n{}",
            b"MESSAGE_CREATE\t\t\t\t3\n{}", // payload cut short
            b"MESSAGE_CREATE\t\t\t\t18446744073709551615\n{}",
            b"MESSAGE_CREATE\t\t\t\t2\n\xff\xfe",
        ];
        for body in bad {
            assert!(
                decode_batch(topic, body, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let too_many = good.repeat(MAX_BATCH + 1);
        assert!(decode_batch(topic, &too_many, 1).is_err());
        assert_eq!(
            decode_batch(topic, &good.repeat(MAX_BATCH), 1)
                .unwrap()
                .0
                .len(),
            MAX_BATCH
        );
    }
}
