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
//! ```
//! use std::sync::Arc;
//!
//! use fluxer_core::service::{Config, Fluxer, Ports};
//! use fluxer_gateway::{Gateway, GatewayConfig};
//! use fluxer_storage::memory::{
//!     InProcessEventBus, LogMailer, MemoryCache, MemoryPresence, MemoryStore,
//! };
//!
//! let cache = Arc::new(MemoryCache::new());
//! let ports = Ports::new(
//!     Arc::new(MemoryStore::new()),
//!     Arc::new(InProcessEventBus::new()),
//!     Arc::new(LogMailer),
//!     cache.clone(),
//! );
//! let fluxer = Fluxer::new(ports, Config::default());
//! let gateway = Gateway::new(fluxer, cache, Arc::new(MemoryPresence::new()), GatewayConfig::default());
//! // Mount `/gateway` next to the API (or alone) and serve it; `gateway.shutdown(..)` on SIGTERM.
//! let app: axum::Router = gateway.router();
//! assert_eq!(gateway.session_count(), 0);
//! # drop(app);
//! ```
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

mod config;
mod connection;
mod guild_cache;
mod hub;
mod member_list;
mod protocol;
mod queue;
mod registry;
mod sequence;
mod session;
mod socket;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluxer_core::id::UserId;
use fluxer_core::ports::{Cache, Presence};
use fluxer_core::service::Fluxer;
use futures_util::SinkExt;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use config::GatewayConfig;
use hub::Hub;
pub use protocol::{close, op};
use registry::Registry;
use session::SessionContext;

/// The gateway service. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    hub: Arc<Hub>,
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
        let ctx = SessionContext {
            guilds: guild_cache::GuildCache::new(config.guild_shards),
            registry,
            node: fluxer_core::secret::random_hex(16),
            fluxer,
            presence,
            config,
            sessions: Mutex::new(HashMap::new()),
            sidebars: Default::default(),
        };
        Gateway {
            hub: Arc::new(Hub::new(ctx)),
        }
    }

    /// The gateway's routes: the WebSocket endpoint at `/gateway` (and `/gateway/`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/gateway", get(upgrade))
            .route("/gateway/", get(upgrade))
            .with_state(self.clone())
    }

    /// The settings it was built with.
    pub fn config(&self) -> &GatewayConfig {
        self.hub.config()
    }

    /// The use-cases it serves.
    pub fn fluxer(&self) -> &Fluxer {
        self.hub.fluxer()
    }

    /// Tells every connection to reconnect (op 7 RECONNECT, then close 4000, which clients resume
    /// after), refuses new ones, and waits up to `deadline` for the connections to close. In a
    /// cluster, the clients resume on another node; a restarted monolith answers their RESUME with
    /// INVALID_SESSION and they identify anew.
    pub async fn shutdown(&self, deadline: Duration) {
        let _ = self.hub.stopping.send(true);
        let wait = async {
            while self
                .hub
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
        self.hub
            .connections
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many sessions are live (connected or waiting for a resume).
    pub fn session_count(&self) -> usize {
        self.hub.ctx.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// How many guilds this node holds in memory (those its sessions' users are in).
    pub fn cached_guild_count(&self) -> usize {
        self.hub.ctx.guilds.len()
    }

    /// The guilds this node holds in memory, each with the size of its state and the sessions
    /// here that follow it.
    pub fn loaded_guilds(&self) -> Vec<LoadedGuild> {
        let mut followers: HashMap<fluxer_core::id::GuildId, (usize, HashSet<UserId>)> =
            HashMap::new();
        if let Ok(sessions) = self.hub.ctx.sessions.lock() {
            for handle in sessions.values() {
                let Ok(joined) = handle.joined.lock() else {
                    continue;
                };
                for guild in joined.iter() {
                    let entry = followers.entry(*guild).or_default();
                    entry.0 += 1;
                    entry.1.insert(handle.user_id);
                }
            }
        }
        self.hub
            .ctx
            .guilds
            .loaded()
            .into_iter()
            .map(|state| {
                let (sessions, users) = followers
                    .remove(&state.guild.id)
                    .map(|(n, users)| (n, users.len()))
                    .unwrap_or_default();
                LoadedGuild {
                    guild_id: state.guild.id,
                    name: state.guild.name.clone(),
                    icon: state.guild.icon.clone(),
                    state_bytes: state.approximate_bytes(),
                    sessions,
                    users,
                }
            })
            .collect()
    }
}

/// A guild a gateway node holds in memory ([`Gateway::loaded_guilds`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedGuild {
    /// The guild.
    pub guild_id: fluxer_core::id::GuildId,
    /// Its name.
    pub name: String,
    /// Its icon hash.
    pub icon: Option<String>,
    /// About how much memory its shared state takes: the size of the guild, its roles and its
    /// channels as JSON (the in-memory form is of the same order).
    pub state_bytes: usize,
    /// This node's sessions that follow it.
    pub sessions: usize,
    /// The distinct users of those sessions.
    pub users: usize,
}

async fn upgrade(
    State(gateway): State<Gateway>,
    Query(q): Query<ConnectQuery>,
    ws: socket::Upgrade,
) -> Response {
    let version_ok = q.v.as_deref().is_none_or(|v| v == "1");
    let encoding_ok = q.encoding.as_deref().is_none_or(|e| e == "json");
    // zlib-stream is supported; other schemes (zstd-stream) fall back to none, as upstream v1 does.
    let zlib = q.compress.as_deref() == Some("zlib-stream");
    // Every connection keeps its read buffer for life. What clients send is small (a heartbeat is
    // a few dozen bytes, an IDENTIFY a few hundred, and a text frame over 4 KiB is refused), so
    // 1 KiB covers all but the rare large frame, for which the buffer grows.
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    ws.on_upgrade(config, move |mut socket| async move {
        if !version_ok || !encoding_ok {
            let (code, reason) = if version_ok {
                (close::DECODE_ERROR, "only encoding=json is supported")
            } else {
                (close::INVALID_API_VERSION, "invalid API version")
            };
            let _ = socket.send(socket::close_message(code, reason)).await;
            return;
        }
        if *gateway.hub.stopping().borrow() {
            let restarting =
                socket::close_message(close::UNKNOWN_ERROR, "the server is restarting");
            let _ = socket.send(restarting).await;
            return;
        }
        connection::run(gateway.hub.clone(), socket, zlib).await;
    })
    .into_response()
}
