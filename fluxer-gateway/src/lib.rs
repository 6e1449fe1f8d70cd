//! # fluxer-gateway
//!
//! Fluxer's real-time gateway: the Discord-style v1 WebSocket protocol (HELLO, IDENTIFY, READY,
//! heartbeats, RESUME with replay, presence, member chunks) over the [`EventBus`] port, as an axum
//! router a host mounts at `/gateway`.
//!
//! Each identified session is a task that outlives its socket for a resume window: it owns the bus
//! subscription (user topic + one topic per guild), numbers dispatches, keeps those not yet acknowledged
//! for RESUME, and filters guild events by what the member may view. Payloads are serialized once by the
//! publisher; every session splices the same bytes into its frame.
//!
//! # Resuming on another node
//!
//! With several gateway nodes, a client whose node died resumes on another one and misses nothing,
//! when the bus keeps a history ([`Dispatch::position`], [`EventBus::replay`]; the NATS bus does, the
//! in-process one does not, and there nothing below applies):
//!
//! 1. Dispatch numbers (`s`) encode bus positions (see `sequence`): a bus event at position `p` is
//!    `p * 1024`, the session's own dispatches (READY, RESUMED, member chunks) follow it below
//!    `(p + 1) * 1024`. From a client's `s` any node knows the client saw every event up to
//!    `s / 1024` and none after, with no per-event bookkeeping. Clients accept gaps in `s`.
//! 2. Each session is recorded in the [`Cache`] port at `gw:session:{id}` (see `registry`): user,
//!    SHA-256 of the token, ignored events, presence, holding node; its TTL (resume window plus a
//!    heartbeat interval) is refreshed on heartbeats and drops, and a clean end deletes it.
//! 3. A RESUME of a session this node does not hold looks the record up, checks the user and the
//!    token hash (constant time), subscribes to the user's current topics through
//!    [`EventBus::replay`] from `s / 1024`, sends the missed dispatches (filtered by visibility as
//!    usual), then RESUMED, then live events. An unknown or expired record, another token, or a
//!    history that no longer reaches back far enough gets INVALID_SESSION as before.
//!
//! A session that makes 1023 dispatches of its own between two bus events can no longer be numbered
//! this way; it leaves the registry and resumes only on its own node.
//!
//! [`Dispatch::position`]: fluxer_core::ports::Dispatch::position
//! [`EventBus::replay`]: fluxer_core::ports::EventBus::replay
//! [`Cache`]: fluxer_core::ports::Cache
//!
//! [`EventBus`]: fluxer_core::ports::EventBus

mod connection;
mod guild_cache;
mod protocol;
mod registry;
mod sequence;
mod session;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluxer_core::id::UserId;
use fluxer_core::model::MemberResponse;
use fluxer_core::ports::{Cache, EventKind, Presence, PresenceEntry, Replay};
use fluxer_core::service::{Actor, Fluxer, MembersRequest};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

pub use protocol::{close, op};
use registry::Registry;
use sequence::Numbering;
use session::{Command, Initial, Outbound, SessionHandle, SessionTask};

/// Gateway settings. Defaults are upstream's.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub heartbeat_interval_ms: u64,
    /// A connection without a heartbeat for this long is closed (4009).
    pub heartbeat_timeout_ms: u64,
    /// How long a session waits for a RESUME after its socket drops.
    pub resume_window_ms: u64,
    /// Dispatches kept for RESUME until the client acknowledges them. Past this (or
    /// `max_buffered_bytes`) the oldest are let go: the client still receives everything live, and
    /// only a RESUME from before them is refused (INVALID_SESSION, then a new IDENTIFY).
    pub max_unacked: usize,
    /// Bytes of dispatches kept for RESUME per session (payloads are shared between sessions, so
    /// this counts each session's share in full: a bound, not the memory used).
    pub max_buffered_bytes: usize,
    /// A connection that has not identified (or resumed) within this is closed (4009).
    pub identify_timeout_ms: u64,
    /// Events buffered between the bus and a session before it counts as lagging.
    pub subscription_capacity: usize,
    /// Inbound frames allowed per window (4008 beyond).
    pub rate_limit_frames: u32,
    pub rate_window_ms: u64,
    /// IDENTIFYs allowed per user per day (`session_start_limit`).
    pub identifies_per_day: u32,
    /// Presence entries lapse after this long without a refresh.
    pub presence_ttl_ms: u64,
    /// Frames queued for a connection before its client counts as too slow and is disconnected.
    pub outbound_capacity: usize,
    /// A socket write that takes longer than this disconnects the client (resumably).
    pub write_timeout_ms: u64,
    /// Locks the shared guild state is spread over (upstream's `guild_shards`; 0: one per CPU).
    pub guild_shards: usize,
    /// The URL sessions are told to resume at.
    pub public_url: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            heartbeat_interval_ms: 41_250,
            heartbeat_timeout_ms: 45_000,
            resume_window_ms: 60_000,
            max_unacked: 4096,
            max_buffered_bytes: 16 << 20,
            identify_timeout_ms: 30_000,
            subscription_capacity: 4096,
            rate_limit_frames: 120,
            rate_window_ms: 60_000,
            identifies_per_day: 1000,
            presence_ttl_ms: 120_000,
            outbound_capacity: 1024,
            write_timeout_ms: 10_000,
            guild_shards: 0,
            public_url: "ws://127.0.0.1:8080/gateway".to_owned(),
        }
    }
}

struct Inner {
    fluxer: Fluxer,
    guilds: guild_cache::GuildCache,
    presence: Arc<dyn Presence>,
    config: GatewayConfig,
    sessions: Mutex<HashMap<String, SessionHandle>>,
    identifies: Mutex<HashMap<UserId, (i64, u32)>>,
    /// Sessions other nodes may take over (used when the bus has positions).
    registry: Registry,
    /// This instance's name in the registry.
    node: String,
    /// Set once the host shuts the gateway down: every connection says RECONNECT and closes.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Open WebSocket connections, identified or not.
    connections: std::sync::atomic::AtomicUsize,
}

/// The gateway service. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

#[derive(Deserialize)]
struct ConnectQuery {
    v: Option<String>,
    encoding: Option<String>,
    compress: Option<String>,
}

impl Gateway {
    /// A gateway over the use-cases. `cache` keeps the registry of resumable sessions (shared by
    /// every node when it is shared: a client whose node died resumes on another); `presence`
    /// holds who is online.
    pub fn new(
        fluxer: Fluxer,
        cache: Arc<dyn Cache>,
        presence: Arc<dyn Presence>,
        config: GatewayConfig,
    ) -> Self {
        let registry = Registry {
            cache,
            ttl: Duration::from_millis(config.resume_window_ms + config.heartbeat_interval_ms),
        };
        Gateway {
            inner: Arc::new(Inner {
                guilds: guild_cache::GuildCache::new(config.guild_shards),
                registry,
                node: random_hex_32(),
                fluxer,
                presence,
                config,
                sessions: Mutex::new(HashMap::new()),
                identifies: Mutex::new(HashMap::new()),
                stopping: tokio::sync::watch::channel(false).0,
                connections: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    /// The gateway's routes: the WebSocket endpoint at `/gateway` (and `/gateway/`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/gateway", get(upgrade))
            .route("/gateway/", get(upgrade))
            .with_state(self.clone())
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    pub fn fluxer(&self) -> &Fluxer {
        &self.inner.fluxer
    }

    pub(crate) fn guild_cache(&self) -> &guild_cache::GuildCache {
        &self.inner.guilds
    }

    pub(crate) fn presence(&self) -> &Arc<dyn Presence> {
        &self.inner.presence
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    pub(crate) fn node(&self) -> &str {
        &self.inner.node
    }

    /// Tells every connection to reconnect (op 7 RECONNECT, then close 4000, which clients resume
    /// after), refuses new ones, and waits up to `deadline` for the connections to close. In a
    /// cluster, the clients resume on another node; a restarted monolith answers their RESUME with
    /// INVALID_SESSION and they identify anew.
    pub async fn shutdown(&self, deadline: Duration) {
        let _ = self.inner.stopping.send(true);
        let wait = async {
            while self
                .inner
                .connections
                .load(std::sync::atomic::Ordering::Acquire)
                > 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(deadline, wait).await.is_err() {
            tracing::warn!(
                connections = self.connection_count(),
                "gateway: connections still open at the shutdown deadline"
            );
        }
    }

    /// How many WebSocket connections are open.
    pub fn connection_count(&self) -> usize {
        self.inner
            .connections
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.inner.stopping.subscribe()
    }

    /// How many sessions are live (connected or waiting for a resume).
    pub fn session_count(&self) -> usize {
        self.inner.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    pub(crate) fn session(&self, id: &str) -> Option<SessionHandle> {
        self.inner.sessions.lock().ok()?.get(id).cloned()
    }

    pub(crate) fn forget_session(&self, id: &str) {
        if let Ok(mut s) = self.inner.sessions.lock() {
            s.remove(id);
        }
    }

    /// Counts an IDENTIFY against the user's daily allowance.
    pub(crate) fn allow_identify(&self, user: UserId) -> bool {
        let now = self.fluxer().now().unix_ms();
        let Ok(mut map) = self.inner.identifies.lock() else {
            return false;
        };
        let entry = map.entry(user).or_insert((now, 0));
        if now - entry.0 > 24 * 3600 * 1000 {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.config().identifies_per_day
    }

    /// Creates a session for an identified actor: subscribes, builds READY, starts the session task.
    pub(crate) async fn start_session(
        &self,
        actor: &Actor,
        token: &str,
        presence: PresenceEntry,
        ignored_events: Vec<String>,
    ) -> fluxer_core::Result<(
        SessionHandle,
        mpsc::Receiver<Outbound>,
        tokio::sync::oneshot::Receiver<session::CloseReason>,
    )> {
        let start = self
            .fluxer()
            .start_gateway_session(actor, self.config().subscription_capacity)
            .await?;
        let session_id = random_hex_32();
        let mut initial: Vec<(EventKind, String)> = Vec::new();
        let guilds_in_ready: Vec<Value> = if actor.is_bot() {
            // Bots get unavailable guilds in READY, then one GUILD_CREATE each (as Discord does).
            start
                .guild_ids
                .iter()
                .map(|g| json!({ "id": g, "unavailable": true }))
                .collect()
        } else {
            start
                .guilds
                .iter()
                .map(|g| serde_json::to_value(g).unwrap_or_default())
                .collect()
        };
        let (private_channels, relationships, read_states) = (
            &start.private_channels,
            &start.relationships,
            &start.read_states,
        );
        let mut ready = json!({
            "v": 1,
            "version": 1,
            "user": actor.user.private(),
            "session_id": session_id,
            "resume_gateway_url": self.config().public_url,
            "guilds": guilds_in_ready,
            "private_channels": private_channels,
            "relationships": relationships,
            "read_states": read_states,
            "presences": [],
            "sessions": [],
            "users": [],
            "user_settings": {},
            "user_guild_settings": [],
            "notes": {},
            "shard": [0, 1],
        });
        if actor.is_bot() {
            ready["application"] = json!({ "id": actor.id(), "flags": 0 });
        }
        initial.push((EventKind::Ready, ready.to_string()));
        if actor.is_bot() {
            for g in &start.guilds {
                initial.push((
                    EventKind::GuildCreate,
                    serde_json::to_string(g).unwrap_or_default(),
                ));
            }
        }
        let subscription = start.subscription;
        let guild_ids = start.guild_ids;
        let start = subscription.start_position();
        let session = SessionTask {
            gateway: self.clone(),
            session_id: session_id.clone(),
            user_id: actor.id(),
            subscription,
            commands: mpsc::channel(1).1,
            guilds: guild_ids.into_iter().collect(),
            ignored: ignored_events
                .into_iter()
                .map(|e| e.to_uppercase())
                .collect::<HashSet<_>>(),
            presence,
            initial: Initial {
                frames: initial,
                replayed: Vec::new(),
            },
            numbering: Numbering::starting_at(start),
            // Only a bus with positions lets another node take the session over.
            token_hash: start.map(|_| registry::token_hash(token)),
            credential: actor.session,
        };
        self.spawn_session(session, None).await
    }

    /// Takes over a session this node does not hold, from the shared registry: for a client whose
    /// node died. `None` when the session is unknown or expired, belongs to another token, or the
    /// bus cannot replay what the client missed.
    pub(crate) async fn resume_elsewhere(
        &self,
        actor: &Actor,
        token: &str,
        session_id: &str,
        seq: u64,
    ) -> Option<(
        SessionHandle,
        mpsc::Receiver<Outbound>,
        tokio::sync::oneshot::Receiver<session::CloseReason>,
    )> {
        // Session ids are ours (32 hex characters): anything else is not looked up.
        let well_formed =
            session_id.len() == 32 && session_id.bytes().all(|b| b.is_ascii_hexdigit());
        if seq == 0 || !well_formed {
            return None;
        }
        let record = self.registry().load(session_id).await?;
        if record.user_id != actor.id()
            || !registry::same_hash(&record.token_hash, &registry::token_hash(token))
        {
            return None;
        }
        let numbering = Numbering::resumed_at(seq);
        let after = numbering.position?;
        let replay = self
            .fluxer()
            .resume_events(actor.id(), after, self.config().max_unacked)
            .await;
        let (
            guild_ids,
            Replay {
                missed,
                subscription,
            },
        ) = match replay {
            Ok(Some(found)) => found,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(error = %fluxer_core::error::chain(&e), "could not replay a session's missed events");
                return None;
            }
        };
        tracing::debug!(session = %session_id, after, missed = missed.len(), "taking over a session from another node");
        let session = SessionTask {
            gateway: self.clone(),
            session_id: session_id.to_owned(),
            user_id: actor.id(),
            subscription,
            commands: mpsc::channel(1).1,
            guilds: guild_ids.into_iter().collect(),
            ignored: record.ignored_events.into_iter().collect(),
            presence: record.presence,
            initial: Initial {
                frames: Vec::new(),
                replayed: missed,
            },
            numbering,
            token_hash: Some(record.token_hash),
            credential: actor.session,
        };
        self.spawn_session(session, Some(seq)).await.ok()
    }

    /// Registers and starts a session task, and attaches a first connection to it (as a RESUME from
    /// `resume_from` for a session taken over).
    async fn spawn_session(
        &self,
        mut task: SessionTask,
        resume_from: Option<u64>,
    ) -> fluxer_core::Result<(
        SessionHandle,
        mpsc::Receiver<Outbound>,
        tokio::sync::oneshot::Receiver<session::CloseReason>,
    )> {
        let session_id = task.session_id.clone();
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        task.commands = cmd_rx;
        let handle = SessionHandle {
            user_id: task.user_id,
            commands: cmd_tx,
        };
        let (attached, out_rx, kill_rx) = session::Attached::new(self.config().outbound_capacity);
        if let Ok(mut s) = self.inner.sessions.lock() {
            s.insert(session_id, handle.clone());
        }
        tokio::spawn(task.run());
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        handle
            .commands
            .send(Command::Attach(Box::new(session::AttachRequest {
                conn: attached,
                resume_from,
                reply: reply_tx,
            })))
            .await
            .map_err(|_| fluxer_core::Error::Internal("session task ended".into()))?;
        match reply_rx.await {
            Ok(Ok(())) => Ok((handle, out_rx, kill_rx)),
            _ => Err(fluxer_core::Error::Internal(
                "session refused its first connection".into(),
            )),
        }
    }

    /// Answers REQUEST_GUILD_MEMBERS with GUILD_MEMBERS_CHUNK dispatches (1000 members per chunk).
    /// A request the user may not make (not a member, or listing everyone without the privilege)
    /// gets no answer, as upstream; a failure to read the members closes the connection resumably.
    pub(crate) async fn send_member_chunks(
        &self,
        session: &SessionHandle,
        req: protocol::RequestMembers,
    ) {
        let fluxer = self.fluxer();
        let request = MembersRequest {
            guild_id: req.guild_id,
            user_ids: req.user_ids,
            query: req.query.unwrap_or_default(),
            limit: req.limit.unwrap_or(0),
        };
        let list = match fluxer
            .request_guild_members(session.user_id, &request)
            .await
        {
            Ok(list) => list,
            Err(e) if e.status() < 500 => return,
            Err(e) => {
                tracing::warn!(guild = %req.guild_id, error = %fluxer_core::error::chain(&e), "could not list members");
                let _ = session
                    .commands
                    .send(Command::Fail("could not list members"))
                    .await;
                return;
            }
        };
        let chunks: Vec<&[MemberResponse]> = if list.members.is_empty() {
            vec![&[][..]]
        } else {
            list.members.chunks(1000).collect()
        };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let mut payload = json!({
                "guild_id": req.guild_id,
                "members": chunk,
                "chunk_index": i,
                "chunk_count": count,
            });
            if let Some(n) = &req.nonce {
                payload["nonce"] = json!(n);
            }
            if i == 0 && !list.not_found.is_empty() {
                payload["not_found"] = json!(list.not_found);
            }
            if req.presences {
                let mut presences = Vec::new();
                for m in chunk {
                    let id = m.user.id;
                    if let Ok(p) = self.presence().get_presence(id, fluxer.now()).await {
                        presences
                            .push(json!({ "user": { "id": id }, "status": p.status.public() }));
                    }
                }
                payload["presences"] = json!(presences);
            }
            let _ = session
                .commands
                .send(Command::Direct(
                    EventKind::GuildMembersChunk,
                    payload.to_string(),
                ))
                .await;
        }
    }
}

async fn upgrade(
    State(gateway): State<Gateway>,
    Query(q): Query<ConnectQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let version_ok = q.v.as_deref().is_none_or(|v| v == "1");
    let encoding_ok = q.encoding.as_deref().is_none_or(|e| e == "json");
    // zlib-stream is supported; other schemes (zstd-stream) fall back to none, as upstream v1 does.
    let zlib = q.compress.as_deref() == Some("zlib-stream");
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |mut socket| async move {
            if !version_ok || !encoding_ok {
                let (code, reason) = if version_ok {
                    (close::DECODE_ERROR, "only encoding=json is supported")
                } else {
                    (close::INVALID_API_VERSION, "invalid API version")
                };
                let _ = socket
                    .send(axum::extract::ws::Message::Close(Some(
                        axum::extract::ws::CloseFrame {
                            code,
                            reason: reason.into(),
                        },
                    )))
                    .await;
                return;
            }
            if *gateway.stopping().borrow() {
                let _ = socket
                    .send(axum::extract::ws::Message::Close(Some(
                        axum::extract::ws::CloseFrame {
                            code: close::UNKNOWN_ERROR,
                            reason: "the server is restarting".into(),
                        },
                    )))
                    .await;
                return;
            }
            connection::run(gateway, socket, zlib).await;
        })
        .into_response()
}

/// 16 random bytes as 32 hex characters (upstream's session ID form).
fn random_hex_32() -> String {
    fluxer_core::secret::random_hex(16)
}
