//! Sessions: one task per identified session that outlives its socket for the resume window. It owns the
//! event-bus subscription, numbers dispatches, keeps the un-acknowledged ones for RESUME, filters by
//! visibility, and pushes frames to whichever connection is attached.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fluxer_core::id::{ChannelId, GuildId, UserId};
use fluxer_core::model::{Channel, ChannelResponse, Member};
use fluxer_core::permission::Permissions;
use fluxer_core::ports::{
    Dispatch, EventKind, Presence, PresenceEntry, SessionsRevoked, Status, Subscription, Topic,
};
use fluxer_core::service::{Fluxer, member_channel_permissions};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::GatewayConfig;
use crate::guild_cache::GuildCache;
use crate::member_list::{LazyRequest, SidebarCache, Subscriptions};
use crate::protocol::{close, dispatch_frame};
use crate::queue;
use crate::registry::{Registry, SessionRecord};
use crate::sequence::Numbering;

/// What a session sends to its connection. A connection's queue holds a burst of these in one
/// buffer, so it is kept to the size of a `String`: the rare variant is boxed.
#[derive(Debug)]
pub(crate) enum Outbound {
    Text(String),
    /// A `MESSAGE_CREATE` frame and when its message was created: the connection measures the
    /// delivery time when it writes the frame (only while telemetry records).
    Message(Box<(String, std::time::SystemTime)>),
}

impl Outbound {
    /// The frame for `event`, carrying its message's creation time when that is measured.
    fn new(event: EventKind, frame: String, payload: &str) -> Outbound {
        if event == EventKind::MessageCreate
            && fluxer_core::telemetry::recorder().is_some()
            && let Some(created) = message_created(payload)
        {
            return Outbound::Message(Box::new((frame, created)));
        }
        Outbound::Text(frame)
    }
}

/// When the message a `MESSAGE_CREATE` payload carries was created, read from its snowflake ID.
/// The payload's keys are in no set order (nested objects have IDs too), so it is parsed, with
/// every other field skipped unread; only while telemetry records.
fn message_created(payload: &str) -> Option<std::time::SystemTime> {
    #[derive(serde::Deserialize)]
    struct Created<'a> {
        #[serde(borrow)]
        id: &'a str,
    }
    let id: u64 = serde_json::from_str::<Created<'_>>(payload)
        .ok()?
        .id
        .parse()
        .ok()?;
    let ms = fluxer_core::id::Snowflake(id).timestamp().unix_ms();
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_millis(u64::try_from(ms).ok()?))
}

/// A close code and reason, sent on a connection's kill switch (never blocked by a full queue).
pub(crate) type CloseReason = (u16, &'static str);

/// Which WebSocket connection is which, unique in the process: a session compares it to tell the
/// connection attached now from one a RESUME has already replaced (see [`Command::Detach`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionId(u64);

impl ConnectionId {
    /// A fresh ID, for a new connection.
    pub(crate) fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The session's end of an attached connection.
pub(crate) struct Attached {
    pub out: queue::Sender<Outbound>,
    pub kill: oneshot::Sender<CloseReason>,
    /// The connection at the other end.
    pub id: ConnectionId,
}

impl Attached {
    /// A new end for connection `id`, with room for `capacity` queued frames.
    pub(crate) fn new(
        capacity: usize,
        id: ConnectionId,
    ) -> (
        Attached,
        queue::Receiver<Outbound>,
        oneshot::Receiver<CloseReason>,
    ) {
        let (out, out_rx) = queue::channel(capacity);
        let (kill, kill_rx) = oneshot::channel();
        (Attached { out, kill, id }, out_rx, kill_rx)
    }

    /// Closes the connection with a code (the session decides whether it can be resumed).
    fn close(self, code: u16, reason: &'static str) {
        let _ = self.kill.send((code, reason));
    }
}

/// Why an attach (RESUME) failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AttachError {
    /// The missed events are no longer all buffered.
    Stale,
    /// The client claims a sequence the server never sent.
    InvalidSeq,
}

/// A connection asking to receive the session's dispatches (IDENTIFY, or RESUME from a sequence).
pub(crate) struct AttachRequest {
    pub conn: Attached,
    pub resume_from: Option<u64>,
    pub reply: oneshot::Sender<Result<(), AttachError>>,
}

/// What a connection asks of its session. Anything larger than a `String` is boxed: a command channel
/// allocates room for 32 commands up front, for every session.
pub(crate) enum Command {
    Attach(Box<AttachRequest>),
    Ack(u64),
    /// The connection with this ID has gone. A connection may notice its drop late, after the
    /// client has already resumed on a new one: that Detach names a connection no longer
    /// attached and is ignored, or it would cut the new one.
    Detach(ConnectionId),
    /// A dispatch produced by the connection itself (member chunks), sequenced like any other.
    Direct(Box<(EventKind, String)>),
    Presence(Box<PresenceEntry>),
    /// Something the session was asked for failed: the connection is closed resumably (4000) with
    /// this reason; the session waits for the client's RESUME.
    Fail(&'static str),
    /// Op 14: member list subscriptions.
    Lazy(Box<LazyRequest>),
    /// Op 4: join, move, update or leave a voice channel or call.
    Voice(Box<fluxer_core::service::VoiceStateRequest>),
}

/// A handle to a live session.
#[derive(Clone)]
pub(crate) struct SessionHandle {
    pub user_id: UserId,
    pub commands: queue::Sender<Command>,
    /// The guilds the session follows, as it keeps them (for the node's statistics).
    pub joined: JoinedGuilds,
}

/// A session's guilds, shared with its handle: written by the session when it joins or leaves
/// one, read by the node's statistics.
pub(crate) type JoinedGuilds = Arc<std::sync::Mutex<HashSet<GuildId>>>;

/// What a session needs from the gateway that runs it, and no more: the use-cases, settings, the
/// guild state and presence every session shares, the registry of resumable sessions, and the
/// node's table of live sessions (which a session leaves when it ends).
pub(crate) struct SessionContext {
    pub(crate) fluxer: Fluxer,
    pub(crate) config: GatewayConfig,
    pub(crate) guilds: GuildCache,
    pub(crate) presence: Arc<dyn Presence>,
    pub(crate) registry: Registry,
    /// This node's name in the registry.
    pub(crate) node: String,
    pub(crate) sessions: Mutex<HashMap<String, SessionHandle>>,
    /// Channels' member lists, shared by the node's sessions.
    pub(crate) sidebars: SidebarCache,
}

impl SessionContext {
    pub(crate) fn config(&self) -> &GatewayConfig {
        &self.config
    }

    pub(crate) fn fluxer(&self) -> &Fluxer {
        &self.fluxer
    }

    pub(crate) fn guild_cache(&self) -> &GuildCache {
        &self.guilds
    }

    pub(crate) fn presence(&self) -> &Arc<dyn Presence> {
        &self.presence
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// The live session with this ID, on this node.
    pub(crate) fn session(&self, id: &str) -> Option<SessionHandle> {
        self.sessions.lock().ok()?.get(id).cloned()
    }

    /// Takes an ended session off this node's table.
    pub(crate) fn forget_session(&self, id: &str) {
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(id);
        }
    }
}

pub(crate) struct SessionTask {
    pub ctx: Arc<SessionContext>,
    pub session_id: String,
    pub user_id: UserId,
    pub subscription: Box<dyn Subscription>,
    pub commands: queue::Receiver<Command>,
    pub guilds: HashSet<GuildId>,
    /// A copy of `guilds` its handle reads (set when the session is spawned).
    pub joined: JoinedGuilds,
    /// Guilds too large for every presence to reach the session: their presences come through
    /// member lists and followed members (op 14). Past the highest `large_threshold` the publisher
    /// does the filtering's first half: presences go to [`Topic::GuildPresence`], which the
    /// session hears only while it shows or follows members there.
    pub large: HashSet<GuildId>,
    pub ignored: HashSet<String>,
    pub presence: PresenceEntry,
    /// What to send once a connection attaches.
    pub initial: Initial,
    /// Where numbering starts (see [`crate::sequence`]).
    pub numbering: Numbering,
    /// The token hash for the shared registry, on a bus with positions; `None`: this session is not
    /// in the registry (a bus without positions, or it became unportable).
    pub token_hash: Option<String>,
    /// The hash of the session token it identified with (`None`: a bot token), to end it when that
    /// credential is revoked.
    pub credential: Option<[u8; 32]>,
}

/// What a session sends when its first connection attaches.
#[derive(Default)]
pub(crate) struct Initial {
    /// Its own dispatches (READY, GUILD_CREATE...).
    pub frames: Vec<(EventKind, String)>,
    /// Bus events replayed for a session taken over from another node: numbered and buffered before
    /// the connection attaches, which it does as a RESUME, so they go out with backpressure and are
    /// followed by RESUMED like any resume's.
    pub replayed: Vec<Arc<Dispatch>>,
}

/// A dispatch kept for RESUME. The payload is the one the publisher serialized, shared by every
/// session that received it; the frame (which carries this session's number) is rebuilt on replay.
struct Buffered {
    seq: u64,
    event: EventKind,
    payload: Arc<str>,
}

impl Buffered {
    /// What it counts against [`GatewayConfig::max_buffered_bytes`](crate::GatewayConfig).
    fn cost(&self) -> usize {
        self.payload.len() + self.event.as_str().len() + std::mem::size_of::<Self>()
    }
}

/// Deleted channels whose visibility a session remembers (see `State::deleted`).
const RECENTLY_DELETED: usize = 16;

struct State {
    numbering: Numbering,
    acked: u64,
    /// Dispatches after `floor`, not yet acknowledged. Bounded by count and bytes: the oldest go
    /// first, and a RESUME from before them is refused (the client identifies anew). A client that
    /// reads and heartbeats is never dropped for what it has not acknowledged yet.
    buffer: VecDeque<Buffered>,
    buffered_bytes: usize,
    /// The newest number that can no longer be replayed: acknowledged, or trimmed off the buffer.
    floor: u64,
    out: Option<Attached>,
    detached_at: Option<Instant>,
    /// This session's member record per guild (`None`: not a member), for visibility checks.
    members: HashMap<GuildId, Option<Member>>,
    /// Channels' visibility per guild, valid for one generation of the shared guild state.
    visible: HashMap<GuildId, (u64, HashMap<ChannelId, bool>)>,
    /// Whether this session could see the channels deleted lately, as judged on their
    /// `CHANNEL_DELETE`: the events that follow a deletion (the voice departures it causes) are
    /// judged the same way, though the channel is gone from the guild's state.
    deleted: VecDeque<(ChannelId, bool)>,
    /// Member lists the client shows (op 14).
    lists: Subscriptions,
    /// Guilds whose [`Topic::GuildPresence`] the subscription has: those where the client shows
    /// a member list or follows members.
    presence_topics: HashSet<GuildId>,
}

enum Flow {
    Continue,
    End,
}

/// Counts a session as live for as long as its task runs (attached or awaiting a resume).
struct LiveSession;

impl LiveSession {
    fn new() -> LiveSession {
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.gateway_sessions(1);
        }
        LiveSession
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        if let Some(recorder) = fluxer_core::telemetry::recorder() {
            recorder.gateway_sessions(-1);
        }
    }
}

/// The trace of one event's handling by one session (filtering, sequencing, the hand-over to the
/// connection), while telemetry records; every session handles each event it receives, so the
/// sampling ratio is what keeps these in proportion.
fn dispatch_span(event: EventKind) -> tracing::Span {
    if fluxer_core::telemetry::recorder().is_none() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        parent: None,
        "gateway.dispatch",
        otel.name = %format_args!("dispatch {}", event.as_str()),
        otel.kind = "consumer",
        gateway.event = event.as_str(),
    )
}

impl SessionTask {
    pub(crate) async fn run(mut self) {
        let _live = LiveSession::new();
        // The three settings the loop reads, not the whole configuration: this future lives as long
        // as the session, and an idle one is mostly this future.
        let config = self.ctx.config();
        let save_every = Duration::from_millis(config.heartbeat_interval_ms / 2);
        let refresh_every = Duration::from_millis(config.presence_ttl_ms / 2);
        let resume_window = Duration::from_millis(config.resume_window_ms);
        let mut st = State {
            numbering: self.numbering,
            acked: self.numbering.seq,
            buffer: VecDeque::new(),
            buffered_bytes: 0,
            floor: self.numbering.seq,
            out: None,
            detached_at: Some(Instant::now()),
            members: HashMap::new(),
            visible: HashMap::new(),
            deleted: VecDeque::new(),
            lists: Subscriptions::default(),
            presence_topics: HashSet::new(),
        };
        Box::pin(self.set_presence(self.presence.clone())).await;
        let mut initial = std::mem::take(&mut self.initial);
        for dispatch in std::mem::take(&mut initial.replayed) {
            Box::pin(self.on_event(&mut st, &dispatch)).await;
        }
        let mut pending_initial = Some(initial);
        Box::pin(self.save_record()).await;
        let mut last_saved = Instant::now();
        let mut refresh = tokio::time::interval(refresh_every);
        refresh.tick().await;
        loop {
            let window_end = st
                .detached_at
                .map(|at| at + resume_window)
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let lists_due = st.lists.next_refresh();
            let flow = tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        // Heartbeats and drops keep the shared record alive.
                        let refresh = match &cmd {
                            Command::Ack(_) => last_saved.elapsed() >= save_every,
                            Command::Detach(_) => true,
                            _ => false,
                        };
                        // Events already queued for this session happened before a resume:
                        // buffer them first, so the replay (not the live stream after RESUMED)
                        // carries them. A session whose events are lost cannot resume (the
                        // unanswered request reads as an invalid session).
                        let resuming = matches!(&cmd, Command::Attach(r) if r.resume_from.is_some());
                        let flow = if resuming
                            && pending_initial.is_none()
                            && matches!(Box::pin(self.drain_queued(&mut st)).await, Flow::End)
                        {
                            Flow::End
                        } else {
                            Box::pin(self.on_command(&mut st, cmd)).await
                        };
                        if let Some(initial) = pending_initial.take() {
                            if st.out.is_some() {
                                for (event, payload) in initial.frames {
                                    self.push(&mut st, event, payload.into(), None);
                                }
                            } else {
                                pending_initial = Some(initial);
                            }
                        }
                        if refresh {
                            Box::pin(self.save_record()).await;
                            last_saved = Instant::now();
                        }
                        flow
                    }
                    None => Flow::End,
                },
                event = self.subscription.recv(), if pending_initial.is_none() => match event {
                    Some(Ok(dispatch)) => {
                        let span = dispatch_span(dispatch.event);
                        Box::pin(self.on_event(&mut st, &dispatch)).instrument(span).await
                    }
                    Some(Err(_lagged)) => {
                        // Events were lost before they reached the buffer: a resume would have a gap.
                        tracing::warn!(session = %self.session_id, "session lagged behind the event bus; invalidating");
                        if let Some(conn) = st.out.take() {
                            conn.close(close::UNKNOWN_ERROR, "session fell behind");
                        }
                        Flow::End
                    }
                    None => Flow::End,
                },
                _ = refresh.tick() => {
                    Box::pin(self.refresh_presence()).await;
                    Flow::Continue
                }
                () = tokio::time::sleep_until(lists_due.unwrap_or_else(Instant::now)), if lists_due.is_some() => {
                    Box::pin(self.refresh_lists(&mut st)).await
                }
                () = tokio::time::sleep_until(window_end), if st.detached_at.is_some() => Flow::End,
            };
            if st.numbering.unportable && self.token_hash.is_some() {
                tracing::debug!(session = %self.session_id, "session can no longer move to another node");
                self.token_hash = None;
                self.ctx
                    .registry()
                    .remove(&self.session_id, self.ctx.node())
                    .await;
            }
            if let Flow::End = flow {
                break;
            }
        }
        Box::pin(self.end()).await;
    }

    async fn on_command(&mut self, st: &mut State, cmd: Command) -> Flow {
        match cmd {
            Command::Attach(request) => {
                let AttachRequest {
                    conn,
                    resume_from,
                    reply,
                } = *request;
                if let Some(from) = resume_from {
                    if from > st.numbering.seq {
                        let _ = reply.send(Err(AttachError::InvalidSeq));
                        return Flow::Continue;
                    }
                    // Everything after the floor is buffered (numbers may have gaps, see
                    // `crate::sequence`).
                    if from < st.floor {
                        let _ = reply.send(Err(AttachError::Stale));
                        return Flow::End;
                    }
                    // Replace any previous connection.
                    if let Some(old) = st.out.take() {
                        old.close(close::UNKNOWN_ERROR, "session resumed elsewhere");
                    }
                    let _ = reply.send(Ok(()));
                    // Replay with backpressure: a client that reads slowly still gets every event, one
                    // that stops reading is dropped after the write timeout.
                    let write_timeout = Duration::from_millis(self.ctx.config().write_timeout_ms);
                    for kept in st.buffer.iter().filter(|b| b.seq > from) {
                        let frame = dispatch_frame(kept.event.as_str(), kept.seq, &kept.payload);
                        let sent = tokio::time::timeout(
                            write_timeout,
                            conn.out.send(Outbound::Text(frame)),
                        )
                        .await;
                        if !matches!(sent, Ok(Ok(()))) {
                            tracing::debug!(seq = kept.seq, "resume replay stalled");
                            conn.close(close::UNKNOWN_ERROR, "client too slow");
                            st.detached_at = Some(Instant::now());
                            return Flow::Continue;
                        }
                    }
                    // RESUMED goes through the same backpressured path: the replay may have left
                    // the connection's queue full.
                    if let Some(frame) =
                        self.sequence(st, EventKind::Resumed, Arc::from("null"), None)
                    {
                        let sent = tokio::time::timeout(
                            write_timeout,
                            conn.out.send(Outbound::Text(frame)),
                        )
                        .await;
                        if !matches!(sent, Ok(Ok(()))) {
                            conn.close(close::UNKNOWN_ERROR, "client too slow");
                            st.detached_at = Some(Instant::now());
                            return Flow::Continue;
                        }
                    }
                    st.out = Some(conn);
                    st.detached_at = None;
                } else {
                    st.out = Some(conn);
                    st.detached_at = None;
                    let _ = reply.send(Ok(()));
                }
                Flow::Continue
            }
            Command::Ack(seq) => {
                if seq > st.numbering.seq || seq < st.acked {
                    if let Some(conn) = st.out.take() {
                        conn.close(close::INVALID_SEQ, "invalid sequence");
                    }
                    st.detached_at = Some(Instant::now());
                    return Flow::Continue;
                }
                st.acked = seq;
                st.floor = st.floor.max(seq);
                while st.buffer.front().is_some_and(|b| b.seq <= seq) {
                    if let Some(gone) = st.buffer.pop_front() {
                        st.buffered_bytes -= gone.cost();
                    }
                }
                // Give back what a burst grew the buffer to, once it has drained.
                if st.buffer.capacity() > 256 && st.buffer.len() < st.buffer.capacity() / 4 {
                    st.buffer.shrink_to(st.buffer.len() * 2);
                }
                Flow::Continue
            }
            Command::Detach(id) => {
                // Only the attached connection detaches; a session without one already counts
                // its resume window from when it let go.
                if st.out.as_ref().is_some_and(|conn| conn.id == id) {
                    st.out = None;
                    st.detached_at = Some(Instant::now());
                }
                Flow::Continue
            }
            Command::Direct(direct) => {
                let (event, payload) = *direct;
                self.push(st, event, payload.into(), None);
                Flow::Continue
            }
            Command::Presence(entry) => {
                self.set_presence(*entry).await;
                Flow::Continue
            }
            Command::Lazy(request) => Box::pin(self.on_lazy(&mut *st, *request)).await,
            Command::Voice(request) => {
                Box::pin(self.on_voice(st, *request)).await;
                Flow::Continue
            }
            Command::Fail(reason) => {
                if let Some(conn) = st.out.take() {
                    conn.close(close::UNKNOWN_ERROR, reason);
                }
                st.detached_at = Some(Instant::now());
                Flow::Continue
            }
        }
    }

    /// Numbers a dispatch, keeps it for RESUME and returns its frame; `None` when the client
    /// ignores this event.
    fn sequence(
        &mut self,
        st: &mut State,
        event: EventKind,
        payload: Arc<str>,
        position: Option<u64>,
    ) -> Option<String> {
        if self.ignored.contains(event.as_str()) {
            st.numbering.saw(position);
            return None;
        }
        let seq = st.numbering.next(position);
        let frame = dispatch_frame(event.as_str(), seq, &payload);
        let kept = Buffered {
            seq,
            event,
            payload,
        };
        st.buffered_bytes += kept.cost();
        st.buffer.push_back(kept);
        let config = self.ctx.config();
        while st.buffer.len() > config.max_unacked || st.buffered_bytes > config.max_buffered_bytes
        {
            let Some(oldest) = st.buffer.pop_front() else {
                break;
            };
            st.buffered_bytes -= oldest.cost();
            st.floor = oldest.seq;
        }
        Some(frame)
    }

    /// Sequences a dispatch, buffers it for resume and sends it if a connection is attached.
    fn push(&mut self, st: &mut State, event: EventKind, payload: Arc<str>, position: Option<u64>) {
        let Some(frame) = self.sequence(st, event, payload.clone(), position) else {
            return;
        };
        if let Some(conn) = &st.out {
            match conn.out.try_send(Outbound::new(event, frame, &payload)) {
                Ok(()) => {}
                Err(queue::TrySendError::Full(_)) => {
                    // A client that cannot keep up is disconnected; it may resume and get the rest.
                    tracing::warn!(session = %self.session_id, queued = conn.out.max_capacity(), "the client's queue of frames is full; disconnecting resumably");
                    if let Some(conn) = st.out.take() {
                        conn.close(close::UNKNOWN_ERROR, "client too slow");
                    }
                    st.detached_at = Some(Instant::now());
                }
                Err(queue::TrySendError::Closed(_)) => {
                    st.out = None;
                    st.detached_at = Some(Instant::now());
                }
            }
        }
    }

    /// Takes every event already waiting in the subscription (without waiting for more).
    async fn drain_queued(&mut self, st: &mut State) -> Flow {
        use futures_util::FutureExt;
        while let Some(event) = self.subscription.recv().now_or_never() {
            match event {
                Some(Ok(dispatch)) => {
                    if let Flow::End = Box::pin(self.on_event(st, &dispatch)).await {
                        return Flow::End;
                    }
                }
                // Lost before the buffer, or the bus is gone: this session cannot resume whole.
                Some(Err(_)) | None => return Flow::End,
            }
        }
        Flow::Continue
    }

    async fn on_event(&mut self, st: &mut State, dispatch: &Dispatch) -> Flow {
        let event = dispatch.event;
        // Seen, whether delivered or not: a resume elsewhere replays after it.
        st.numbering.saw(dispatch.position);
        let position = dispatch.position;
        match dispatch.topic {
            Topic::User(_) if event == EventKind::SessionsRevoked => {
                let covered = serde_json::from_str::<SessionsRevoked>(&dispatch.payload)
                    .is_ok_and(|revoked| revoked.covers(self.credential.as_ref()));
                if !covered {
                    return Flow::Continue;
                }
                tracing::debug!(session = %self.session_id, "credential revoked; closing the session");
                if let Some(conn) = st.out.take() {
                    conn.close(close::AUTHENTICATION_FAILED, "authentication failed");
                }
                return Flow::End;
            }
            Topic::User(_) => {
                if matches!(event, EventKind::GuildCreate | EventKind::GuildDelete)
                    && let Some(g) = dispatch.guild_id
                {
                    if event == EventKind::GuildCreate {
                        self.guilds.insert(g);
                        self.mirror_guilds();
                        if dispatch.payload.contains("\"large\":true") {
                            self.large.insert(g);
                        }
                        let _ = self.subscription.add_topic(Topic::Guild(g)).await;
                    } else {
                        self.leave(st, g).await;
                    }
                }
            }
            Topic::Guild(guild) | Topic::GuildPresence(guild) => {
                if !self.guilds.contains(&guild) {
                    return Flow::Continue;
                }
                if let Some(channel) = dispatch.channel_id {
                    // A deleted channel is gone from the guild's state by now: who could see it
                    // is decided on the channel the event carries.
                    let deleted = (event == EventKind::ChannelDelete)
                        .then(|| serde_json::from_str::<ChannelResponse>(&dispatch.payload).ok())
                        .flatten()
                        .map(deleted_channel);
                    let seen = self.can_view(st, guild, channel, deleted.as_ref()).await;
                    if let (Some(_), Ok(visible)) = (&deleted, &seen) {
                        if st.deleted.len() == RECENTLY_DELETED {
                            st.deleted.pop_front();
                        }
                        st.deleted.push_back((channel, *visible));
                    }
                    match seen {
                        Ok(true) => {}
                        Ok(false) => {
                            self.invalidate(st, guild, dispatch);
                            return Flow::Continue;
                        }
                        Err(e) => {
                            // Whether this client may see the event is unknown: rather than
                            // guess, the session ends and the client identifies afresh.
                            tracing::warn!(session = %self.session_id, error = %fluxer_core::error::chain(&e), "cannot check an event's visibility; ending the session");
                            if let Some(conn) = st.out.take() {
                                conn.close(close::UNKNOWN_ERROR, "session state unavailable");
                            }
                            return Flow::End;
                        }
                    }
                }
                self.invalidate(st, guild, dispatch);
                if lists_change(event) {
                    st.lists.mark_dirty(guild);
                }
                // In a large guild a presence reaches only the sessions that show or follow
                // its user; the member list updates carry it to the rest.
                if event == EventKind::PresenceUpdate
                    && self.large.contains(&guild)
                    && !dispatch
                        .subject
                        .is_some_and(|u| u == self.user_id || st.lists.follows(guild, u))
                {
                    return Flow::Continue;
                }
                if event == EventKind::GuildMemberRemove && dispatch.subject == Some(self.user_id) {
                    self.push(st, event, dispatch.payload.clone(), position);
                    self.leave(st, guild).await;
                    return Flow::Continue;
                }
                if event == EventKind::GuildDelete
                    && dispatch.payload.contains("\"unavailable\":true")
                {
                    self.push(st, event, dispatch.payload.clone(), position);
                    self.reload_guild(st, guild).await;
                    return Flow::Continue;
                }
                if event == EventKind::GuildDelete {
                    self.push(st, event, dispatch.payload.clone(), position);
                    self.leave(st, guild).await;
                    return Flow::Continue;
                }
            }
        }
        self.push(st, event, dispatch.payload.clone(), position);
        Flow::Continue
    }

    /// Copies the session's guilds where its handle reads them.
    fn mirror_guilds(&self) {
        if let Ok(mut joined) = self.joined.lock() {
            joined.clone_from(&self.guilds);
        }
    }

    async fn leave(&mut self, st: &mut State, guild: GuildId) {
        self.guilds.remove(&guild);
        self.mirror_guilds();
        self.large.remove(&guild);
        st.lists.leave(guild);
        st.members.remove(&guild);
        st.visible.remove(&guild);
        let _ = self.subscription.remove_topic(Topic::Guild(guild)).await;
        if st.presence_topics.remove(&guild) {
            let _ = self
                .subscription
                .remove_topic(Topic::GuildPresence(guild))
                .await;
        }
    }

    /// After staff shut a guild down (an unavailable `GUILD_DELETE`): forgets what the node and
    /// the session keep of it and sends the guild afresh (`GUILD_CREATE`), as upstream's session
    /// does once its retry restarts the guild. The session stays subscribed; when the guild
    /// cannot be loaded it is left.
    async fn reload_guild(&mut self, st: &mut State, guild: GuildId) {
        self.ctx.guild_cache().invalidate(guild);
        st.lists.leave(guild);
        st.members.remove(&guild);
        st.visible.remove(&guild);
        match self.ctx.fluxer().guild_snapshot(guild, self.user_id).await {
            Ok(snapshot) => {
                let payload: Arc<str> = serde_json::to_string(&snapshot).unwrap_or_default().into();
                self.push(st, EventKind::GuildCreate, payload, None);
            }
            Err(e) => {
                tracing::warn!(session = %self.session_id, error = %fluxer_core::error::chain(&e), "cannot reload a guild after its shutdown; leaving it");
                self.leave(st, guild).await;
            }
        }
    }

    /// Forgets cached state that an event may have changed: the guild's shared state (roles,
    /// channels, settings) and this session's own member record.
    fn invalidate(&self, st: &mut State, guild: GuildId, dispatch: &Dispatch) {
        let event = dispatch.event;
        if matches!(
            event,
            EventKind::GuildRoleCreate
                | EventKind::GuildRoleUpdate
                | EventKind::GuildRoleUpdateBulk
                | EventKind::GuildRoleDelete
                | EventKind::ChannelCreate
                | EventKind::ChannelUpdate
                | EventKind::ChannelDelete
                | EventKind::ChannelPinsUpdate
                | EventKind::GuildUpdate
        ) {
            self.ctx.guild_cache().invalidate(guild);
        }
        // A deleted role is taken off members; a member update may be this member's.
        if event == EventKind::GuildRoleDelete
            || (event == EventKind::GuildMemberUpdate && dispatch.subject == Some(self.user_id))
        {
            st.members.remove(&guild);
            st.visible.remove(&guild);
        }
    }

    /// Whether this session's member may view a channel of a guild.
    /// `deleted` is the channel of a `CHANNEL_DELETE`, judged as it was.
    async fn can_view(
        &self,
        st: &mut State,
        guild: GuildId,
        channel: ChannelId,
        deleted: Option<&Channel>,
    ) -> fluxer_core::Result<bool> {
        if let Some(&(_, visible)) = st.deleted.iter().find(|(c, _)| *c == channel) {
            return Ok(visible);
        }
        let cache = self.ctx.guild_cache();
        // Fast path: computed before against the same generation of the guild's state.
        if let Some(generation) = cache.loaded_generation(guild)
            && let Some((memo_generation, channels)) = st.visible.get(&guild)
            && *memo_generation == generation
            && let Some(visible) = channels.get(&channel)
        {
            return Ok(*visible);
        }
        let fluxer = self.ctx.fluxer();
        if let std::collections::hash_map::Entry::Vacant(slot) = st.members.entry(guild) {
            slot.insert(fluxer.membership(guild, self.user_id).await?);
        }
        let Some(Some(member)) = st.members.get(&guild) else {
            return Ok(false);
        };
        let mut shared = cache.get(fluxer, guild).await?;
        if shared
            .as_ref()
            .is_some_and(|g| !g.channels.contains_key(&channel))
        {
            // A channel created since the state was loaded.
            cache.invalidate(guild);
            shared = cache.get(fluxer, guild).await?;
        }
        let Some(shared) = shared else {
            return Ok(false);
        };
        if let Some(deleted) = deleted.filter(|_| !shared.channels.contains_key(&channel)) {
            return Ok(member_channel_permissions(
                &shared.guild,
                &shared.roles,
                member,
                deleted,
                fluxer.now(),
            )
            .contains(Permissions::VIEW_CHANNEL));
        }
        // Visibility does not depend on time (a timeout keeps VIEW_CHANNEL), so it can be memoized.
        let visible = shared.channels.get(&channel).is_some_and(|c| {
            member_channel_permissions(&shared.guild, &shared.roles, member, c, fluxer.now())
                .contains(Permissions::VIEW_CHANNEL)
        });
        let memo = st
            .visible
            .entry(guild)
            .or_insert_with(|| (shared.generation, HashMap::new()));
        if memo.0 != shared.generation {
            *memo = (shared.generation, HashMap::new());
        }
        memo.1.insert(channel, visible);
        Ok(visible)
    }

    /// Op 14: records the subscriptions, sends `GUILD_SYNC` for guilds asked to sync and a first
    /// `GUILD_MEMBER_LIST_UPDATE` for each list newly shown.
    async fn on_lazy(&mut self, st: &mut State, request: LazyRequest) -> Flow {
        let requested = st.lists.apply(request, &self.guilds);
        // A large guild's presences reach only the sessions that show or follow its members.
        for guild in requested.touched.iter().copied() {
            let wanted = st.lists.wants_presence(guild);
            if wanted == st.presence_topics.contains(&guild) {
                continue;
            }
            let topic = Topic::GuildPresence(guild);
            let changed = if wanted {
                self.subscription.add_topic(topic).await
            } else {
                self.subscription.remove_topic(topic).await
            };
            match changed {
                Ok(()) if wanted => {
                    st.presence_topics.insert(guild);
                }
                Ok(()) => {
                    st.presence_topics.remove(&guild);
                }
                Err(e) => {
                    tracing::warn!(error = %fluxer_core::error::chain(&e), "could not follow a guild's presences");
                }
            }
        }
        let fluxer = self.ctx.fluxer().clone();
        for guild in requested.sync_guilds {
            match fluxer.guild_snapshot(guild, self.user_id).await {
                Ok(snapshot) => {
                    let payload = serde_json::to_string(&snapshot).unwrap_or_default();
                    self.push(st, EventKind::GuildSync, payload.into(), None);
                }
                Err(e) => tracing::debug!(error = %fluxer_core::error::chain(&e), "no GUILD_SYNC"),
            }
        }
        for (guild, channel) in requested.lists {
            if !matches!(self.can_view(st, guild, channel, None).await, Ok(true)) {
                continue;
            }
            let list = self.ctx.sidebars.get(&fluxer, guild, channel, None).await;
            self.show_list(st, guild, channel, list);
        }
        Flow::Continue
    }

    /// Sends the changes of every list whose refresh is due.
    async fn refresh_lists(&mut self, st: &mut State) -> Flow {
        let fluxer = self.ctx.fluxer().clone();
        for (guild, dirty_at) in st.lists.take_due(Instant::now()) {
            for channel in st.lists.channels(guild) {
                let list = self
                    .ctx
                    .sidebars
                    .get(&fluxer, guild, channel, Some(dirty_at))
                    .await;
                self.show_list(st, guild, channel, list);
            }
        }
        Flow::Continue
    }

    fn show_list(
        &mut self,
        st: &mut State,
        guild: GuildId,
        channel: ChannelId,
        list: fluxer_core::Result<Option<Arc<fluxer_core::service::Sidebar>>>,
    ) {
        match list {
            Ok(list) => {
                if let Some(update) = st.lists.update(guild, channel, list) {
                    self.push(
                        st,
                        EventKind::GuildMemberListUpdate,
                        update.to_string().into(),
                        None,
                    );
                }
            }
            Err(e) => {
                // The list stays as the client has it; the next change tries again.
                tracing::warn!(error = %fluxer_core::error::chain(&e), "member list unavailable");
            }
        }
    }

    async fn set_presence(&mut self, entry: PresenceEntry) {
        let fluxer = self.ctx.fluxer().clone();
        let now = fluxer.now();
        let before = self
            .ctx
            .presence()
            .get_presence(self.user_id, now)
            .await
            .ok();
        self.presence = entry.clone();
        if let Err(e) = self
            .ctx
            .presence()
            .set_session(
                self.user_id,
                &self.session_id,
                &entry,
                now,
                self.ctx.config().presence_ttl_ms,
            )
            .await
        {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "presence update failed");
            return;
        }
        let after = self
            .ctx
            .presence()
            .get_presence(self.user_id, now)
            .await
            .ok();
        let key = |p: &PresenceEntry| (p.status.public(), p.afk, p.custom_status.clone());
        if let Some(after) = after
            && before.as_ref().map(key) != Some(key(&after))
        {
            self.broadcast_presence(&after).await;
        }
    }

    async fn refresh_presence(&self) {
        let now = self.ctx.fluxer().now();
        let _ = self
            .ctx
            .presence()
            .set_session(
                self.user_id,
                &self.session_id,
                &self.presence,
                now,
                self.ctx.config().presence_ttl_ms,
            )
            .await;
    }

    /// Tells the user's guilds (and the user's other sessions) about a presence change.
    async fn broadcast_presence(&self, entry: &PresenceEntry) {
        let fluxer = self.ctx.fluxer();
        let user = fluxer
            .user_partials(&[self.user_id])
            .await
            .ok()
            .and_then(|mut m| m.remove(&self.user_id));
        let Some(user) = user else { return };
        let published = fluxer
            .publish_presence(self.user_id, self.guilds.iter().copied(), |guild| {
                let mut update = json!({
                    "user": user,
                    "status": entry.status.public(),
                    "afk": entry.afk,
                    "mobile": entry.mobile,
                    "custom_status": entry.custom_status,
                    "activities": [],
                });
                if let Some(guild) = guild {
                    update["guild_id"] = json!(guild);
                }
                update
            })
            .await;
        if let Err(e) = published {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "presence not published");
        }
    }

    /// Records (or refreshes) this session in the shared registry, if it is portable.
    async fn save_record(&self) {
        let Some(token_hash) = &self.token_hash else {
            return;
        };
        let record = SessionRecord {
            user_id: self.user_id,
            token_hash: token_hash.clone(),
            ignored_events: self.ignored.iter().cloned().collect(),
            presence: self.presence.clone(),
            node: self.ctx.node().to_owned(),
        };
        self.ctx.registry().save(&self.session_id, &record).await;
    }

    /// Op 4: the use-case decides; a new token goes to this session only (`VOICE_SERVER_UPDATE`),
    /// a refusal comes back as op 12 `{code, message}` and changes nothing.
    async fn on_voice(&mut self, st: &mut State, request: fluxer_core::service::VoiceStateRequest) {
        let result = self
            .ctx
            .fluxer()
            .update_voice_state(self.user_id, &self.session_id, request)
            .await;
        match result {
            Ok(Some(update)) => {
                let payload = serde_json::to_string(&update).unwrap_or_else(|_| "null".into());
                self.push(st, EventKind::VoiceServerUpdate, payload.into(), None);
            }
            Ok(None) => {}
            Err(e) => {
                let (code, message) = match &e {
                    fluxer_core::Error::Rejected { code, message }
                    | fluxer_core::Error::Forbidden { code, message } => (*code, message.clone()),
                    other => {
                        tracing::warn!(error = %fluxer_core::error::chain(other), "voice state update failed");
                        ("UNKNOWN_ERROR", "An unknown error occurred".to_owned())
                    }
                };
                if let Some(conn) = &st.out {
                    let frame = crate::protocol::frame(
                        crate::protocol::op::GATEWAY_ERROR,
                        &serde_json::json!({ "code": code, "message": message }),
                    );
                    let _ = conn.out.try_send(Outbound::Text(frame));
                }
            }
        }
    }

    async fn end(self) {
        self.ctx.forget_session(&self.session_id);
        if let Err(e) = self
            .ctx
            .fluxer()
            .leave_voice_session(self.user_id, &self.session_id)
            .await
        {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "voice states of an ended session not cleared");
        }
        if self.token_hash.is_some() {
            self.ctx
                .registry()
                .remove(&self.session_id, self.ctx.node())
                .await;
        }
        let now = self.ctx.fluxer().now();
        match self
            .ctx
            .presence()
            .remove_session(self.user_id, &self.session_id, now)
            .await
        {
            Ok(entry) if entry.status == Status::Offline => self.broadcast_presence(&entry).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %fluxer_core::error::chain(&e), "presence removal failed")
            }
        }
        tracing::debug!(session = %self.session_id, "session ended");
    }
}

/// The channel a `CHANNEL_DELETE` carries, as far as permissions go.
fn deleted_channel(c: ChannelResponse) -> Channel {
    Channel {
        id: c.id,
        kind: c.kind,
        guild_id: c.guild_id,
        name: c.name,
        topic: None,
        icon: None,
        url: None,
        parent_id: c.parent_id,
        position: c.position.unwrap_or_default(),
        nsfw: c.nsfw.unwrap_or_default(),
        rate_limit_per_user: 0,
        bitrate: None,
        user_limit: None,
        rtc_region: None,
        owner_id: None,
        recipient_ids: Vec::new(),
        permission_overwrites: c.permission_overwrites.unwrap_or_default(),
        last_message_id: None,
        last_pin_timestamp: None,
        nicks: Default::default(),
    }
}

/// Events that can change what a member list shows.
fn lists_change(event: EventKind) -> bool {
    matches!(
        event,
        EventKind::GuildMemberAdd
            | EventKind::GuildMemberUpdate
            | EventKind::GuildMemberRemove
            | EventKind::PresenceUpdate
            | EventKind::GuildRoleCreate
            | EventKind::GuildRoleUpdate
            | EventKind::GuildRoleUpdateBulk
            | EventKind::GuildRoleDelete
            | EventKind::ChannelUpdate
            | EventKind::ChannelDelete
            | EventKind::UserUpdate
    )
}

#[cfg(test)]
mod tests {
    use super::{Command, Outbound, message_created};

    /// Every session's command channel and every connection's frame channel allocate room for 32
    /// items when they are made: what an idle session costs grows with these sizes.
    #[test]
    fn channel_items_stay_small() {
        assert_eq!(size_of::<Outbound>(), size_of::<String>());
        assert!(
            size_of::<Command>() <= size_of::<String>(),
            "{}",
            size_of::<Command>()
        );
    }

    #[test]
    fn a_message_payload_tells_when_it_was_created() {
        let at = fluxer_core::time::Timestamp::from_unix_ms(1_700_000_000_123);
        let id = fluxer_core::id::Snowflake::from_parts(at.unix_ms(), 1, 2).0;
        let created = message_created(&format!("{{\"id\":\"{id}\",\"content\":\"hi\"}}")).unwrap();
        assert_eq!(
            created,
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123)
        );
        let later = format!("{{\"author\":{{\"id\":\"5\"}},\"content\":\"hi\",\"id\":\"{id}\"}}");
        assert_eq!(message_created(&later), Some(created));
        assert_eq!(message_created("{\"content\":\"hi\"}"), None);
    }
}
