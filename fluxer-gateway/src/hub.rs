//! What connections share: the sessions' context, the IDENTIFY allowance, the shutdown signal and
//! the open-connection count, with the operations a connection asks for (start a session, take one
//! over from another node, answer a member request).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use crate::queue;
use fluxer_core::id::UserId;
use fluxer_core::model::{MemberResponse, PresenceResponse, UserPartial};
use fluxer_core::ports::{EventKind, PresenceEntry, Replay, Status};
use fluxer_core::service::{Actor, Fluxer, MembersRequest, SessionStart};
use serde_json::{Value, json};

use crate::config::GatewayConfig;
use crate::protocol;
use crate::registry;
use crate::sequence::Numbering;
use crate::session::{
    self, Command, ConnectionId, Initial, Outbound, SessionContext, SessionHandle, SessionTask,
};

pub(crate) struct Hub {
    /// What every session needs.
    pub(crate) ctx: Arc<SessionContext>,
    /// IDENTIFYs per user today: (window start ms, count).
    identifies: Mutex<HashMap<UserId, (i64, u32)>>,
    /// Set once the host shuts the gateway down: every connection says RECONNECT and closes.
    pub(crate) stopping: tokio::sync::watch::Sender<bool>,
    /// Open WebSocket connections, identified or not.
    pub(crate) connections: AtomicUsize,
}

impl Hub {
    pub(crate) fn new(ctx: SessionContext) -> Hub {
        Hub {
            ctx: Arc::new(ctx),
            identifies: Mutex::new(HashMap::new()),
            stopping: tokio::sync::watch::channel(false).0,
            connections: AtomicUsize::new(0),
        }
    }

    pub(crate) fn config(&self) -> &GatewayConfig {
        &self.ctx.config
    }

    pub(crate) fn fluxer(&self) -> &Fluxer {
        &self.ctx.fluxer
    }

    fn presence(&self) -> &Arc<dyn fluxer_core::ports::Presence> {
        &self.ctx.presence
    }

    fn registry(&self) -> &registry::Registry {
        &self.ctx.registry
    }

    pub(crate) fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    /// Counts an IDENTIFY against the user's daily allowance.
    pub(crate) fn allow_identify(&self, user: UserId) -> bool {
        let now = self.fluxer().now().unix_ms();
        let Ok(mut map) = self.identifies.lock() else {
            return false;
        };
        let entry = map.entry(user).or_insert((now, 0));
        if now - entry.0 > 24 * 3600 * 1000 {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.config().identifies_per_day
    }

    /// Creates a session for an identified actor: subscribes, builds READY, starts the session task
    /// with connection `conn` attached.
    pub(crate) async fn start_session(
        &self,
        conn: ConnectionId,
        actor: &Actor,
        token: &str,
        mut presence: PresenceEntry,
        ignored_events: Vec<String>,
        large_threshold: u64,
    ) -> fluxer_core::Result<(
        SessionHandle,
        queue::Receiver<Outbound>,
        tokio::sync::oneshot::Receiver<session::CloseReason>,
    )> {
        let start = self
            .fluxer()
            .start_gateway_session(actor, self.config().subscription_capacity, large_threshold)
            .await?;
        // As upstream: a client that says "online" starts with the status its settings keep,
        // and the custom status of the settings wins.
        if presence.status == Status::Online
            && let Some(stored) = parse_status(&start.settings.status)
        {
            presence.status = stored;
        }
        if let Some(custom) = &start.settings.custom_status {
            presence.custom_status = serde_json::to_value(custom).ok();
        }
        let session_id = random_hex_32();
        let mut initial: Vec<(EventKind, String)> = Vec::new();
        initial.push((
            EventKind::Ready,
            self.ready(actor, &session_id, &start, &presence)
                .to_string(),
        ));
        if actor.is_bot() {
            for g in &start.guilds {
                initial.push((
                    EventKind::GuildCreate,
                    serde_json::to_string(g).unwrap_or_default(),
                ));
            }
        }
        // As upstream: the calls open in the user's DMs follow READY.
        let private: Vec<_> = start.private_channels.iter().map(|c| c.id).collect();
        let calls = self
            .fluxer()
            .open_calls(&private)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %fluxer_core::error::chain(&e), "open calls not read for READY");
                Vec::new()
            });
        for call in calls {
            initial.push((
                EventKind::CallCreate,
                serde_json::to_string(&call).unwrap_or_default(),
            ));
        }
        let large: HashSet<_> = start
            .guilds
            .iter()
            .filter(|g| g.large)
            .map(|g| g.guild.id)
            .collect();
        let subscription = start.subscription;
        let guild_ids = start.guild_ids;
        let start = subscription.start_position();
        let session = SessionTask {
            ctx: self.ctx.clone(),
            session_id: session_id.clone(),
            user_id: actor.id(),
            subscription,
            commands: queue::channel(1).1,
            guilds: guild_ids.into_iter().collect(),
            joined: Default::default(),
            large,
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
        self.spawn_session(session, conn, None).await
    }

    /// The READY payload: Discord-style fields for bots and libraries, and upstream's for its
    /// clients (settings, folders, notes, pinned DMs, presences, the users everything names).
    fn ready(
        &self,
        actor: &Actor,
        session_id: &str,
        start: &SessionStart,
        presence: &PresenceEntry,
    ) -> Value {
        let bot = actor.is_bot();
        let guilds: Vec<Value> = if bot {
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
        let users: HashMap<UserId, &UserPartial> = start.users.iter().map(|u| (u.id, u)).collect();
        let presences: Vec<Value> = start
            .presences
            .iter()
            .filter_map(|p| {
                let user = users.get(&p.user_id)?;
                let mut v = serde_json::to_value(PresenceResponse::of(p, None)).ok()?;
                v["user"] = serde_json::to_value(user).ok()?;
                Some(v)
            })
            .collect();
        let own = presence;
        let mut ready = json!({
            "v": 1,
            "version": 1,
            "user": actor.user.private(),
            "session_id": session_id,
            "resume_gateway_url": self.config().public_url,
            "guilds": guilds,
            "private_channels": start.private_channels,
            "relationships": start.relationships,
            "read_states": start.read_states,
            "presences": presences,
            "sessions": [
                { "session_id": "all", "status": own.status, "afk": own.afk, "mobile": own.mobile },
                { "session_id": session_id, "status": own.status, "afk": own.afk, "mobile": own.mobile },
            ],
            "users": start.users,
            "user_settings": if bot { Value::Null } else { json!(start.settings) },
            "user_guild_settings": start.guild_settings,
            "notes": start.notes,
            "pinned_dms": start.pinned_dms,
            "favorite_memes": start.favorite_memes,
            "country_code": "US",
            "rtc_regions": [],
            "shard": [0, 1],
        });
        if let Some(hash) = &actor.session {
            ready["auth_session_id_hash"] = json!(
                hash[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
        }
        if bot {
            ready["application"] = json!({ "id": actor.id(), "flags": 0 });
        }
        ready
    }

    /// Takes over a session this node does not hold, from the shared registry: for a client whose
    /// node died. `None` when the session is unknown or expired, belongs to another token, or the
    /// bus cannot replay what the client missed.
    pub(crate) async fn resume_elsewhere(
        &self,
        conn: ConnectionId,
        actor: &Actor,
        token: &str,
        session_id: &str,
        seq: u64,
    ) -> Option<(
        SessionHandle,
        queue::Receiver<Outbound>,
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
            ctx: self.ctx.clone(),
            session_id: session_id.to_owned(),
            user_id: actor.id(),
            subscription,
            commands: queue::channel(1).1,
            guilds: guild_ids.into_iter().collect(),
            joined: Default::default(),
            // Unknown after a takeover: every presence the session hears is delivered, as to a
            // small guild (a guild large for everyone sends its presences on its own topic, which
            // the session hears again once the client shows a member list, op 14).
            large: HashSet::new(),
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
        self.spawn_session(session, conn, Some(seq)).await.ok()
    }

    /// Registers and starts a session task, and attaches a first connection, `conn`, to it (as a
    /// RESUME from `resume_from` for a session taken over).
    async fn spawn_session(
        &self,
        mut task: SessionTask,
        conn: ConnectionId,
        resume_from: Option<u64>,
    ) -> fluxer_core::Result<(
        SessionHandle,
        queue::Receiver<Outbound>,
        tokio::sync::oneshot::Receiver<session::CloseReason>,
    )> {
        let session_id = task.session_id.clone();
        let (cmd_tx, cmd_rx) = queue::channel(64);
        task.commands = cmd_rx;
        if let Ok(mut joined) = task.joined.lock() {
            joined.clone_from(&task.guilds);
        }
        let handle = SessionHandle {
            user_id: task.user_id,
            commands: cmd_tx,
            joined: task.joined.clone(),
        };
        let (attached, out_rx, kill_rx) =
            session::Attached::new(self.config().outbound_capacity, conn);
        if let Ok(mut s) = self.ctx.sessions.lock() {
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
                .send(Command::Direct(Box::new((
                    EventKind::GuildMembersChunk,
                    payload.to_string(),
                ))))
                .await;
        }
    }
}

/// 16 random bytes as 32 hex characters (upstream's session ID form).
fn random_hex_32() -> String {
    fluxer_core::secret::random_hex(16)
}

/// A status as settings store it.
fn parse_status(s: &str) -> Option<Status> {
    match s {
        "online" => Some(Status::Online),
        "idle" => Some(Status::Idle),
        "dnd" => Some(Status::Dnd),
        "invisible" => Some(Status::Invisible),
        _ => None,
    }
}
