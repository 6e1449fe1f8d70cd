//! Voice channels and calls on LiveKit (see [`crate::ports::VoiceBackend`]): regions and servers,
//! joining, switching and leaving (gateway op 4), the pending window until LiveKit confirms a join,
//! LiveKit's webhooks, and moderation (server mute/deafen, disconnects).
//!
//! Voice states live in this process (one node, or the node that holds the gateway sessions). A
//! join stays pending, unannounced, until LiveKit's `participant_joined` webhook (or the test-mode
//! confirmation) arrives; a pending join that is not confirmed within
//! [`VoiceSettings::pending_timeout`] is dropped.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::Fluxer;
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, UserId};
use crate::model::{ChannelType, VoiceState};
use crate::permission::Permissions;
use crate::ports::{
    Dispatch, EventKind, ParticipantRights, Topic, TrackSource, VoiceGrant, VoiceServerCredentials,
    VoiceWebhookEvent, WebhookRejection,
};

/// A region clients may pick for a voice channel (`rtc_region`), with the servers that serve it.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceRegion {
    /// Short identifier (`eu-west`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Display emoji.
    pub emoji: String,
    /// Where it is, to pick the nearest one for a client that says where it is.
    pub latitude: f64,
    /// See `latitude`.
    pub longitude: f64,
    /// The region used when nothing else decides.
    pub is_default: bool,
    /// The LiveKit servers of this region.
    pub servers: Vec<VoiceServer>,
}

/// One LiveKit server of a region.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceServer {
    /// Identifier, unique within its region.
    pub id: String,
    /// Where it is and the key pair it trusts.
    pub credentials: VoiceServerCredentials,
    /// Inactive servers get no new connections.
    pub active: bool,
}

/// A region as clients list it (`GET /voice/regions`, `GET /channels/{id}/rtc-regions`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RtcRegion {
    /// Identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Display emoji.
    pub emoji: String,
}

/// Voice settings (`integrations.voice`).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceSettings {
    /// The regions known at start (the default region, from the configuration).
    pub regions: Vec<VoiceRegion>,
    /// How long a minted token is good for (LiveKit's SDKs default to 6 hours).
    pub token_ttl: Duration,
    /// How long a join may stay unconfirmed by LiveKit (30 s upstream).
    pub pending_timeout: Duration,
}

impl VoiceSettings {
    /// One default region with one server.
    pub fn single(region: VoiceRegion) -> Self {
        VoiceSettings {
            regions: vec![region],
            token_ttl: Duration::from_secs(6 * 3600),
            pending_timeout: Duration::from_secs(30),
        }
    }
}

/// Gateway op 4's data, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VoiceStateRequest {
    /// The guild of a guild voice channel; `None` for DM calls (and for a disconnect).
    pub guild_id: Option<GuildId>,
    /// The channel to be in; `None` to leave.
    pub channel_id: Option<ChannelId>,
    /// The connection this update is about; `None` for a new connection.
    pub connection_id: Option<String>,
    /// Self mute.
    pub self_mute: bool,
    /// Self deafen.
    pub self_deaf: bool,
    /// Camera on.
    pub self_video: bool,
    /// Screen share on.
    pub self_stream: bool,
    /// On a phone.
    pub is_mobile: bool,
    /// Streams watched.
    pub viewer_stream_keys: Vec<String>,
    /// Where the client is, to pick the nearest region.
    pub latitude: Option<f64>,
    /// See `latitude`.
    pub longitude: Option<f64>,
}

/// `VOICE_SERVER_UPDATE`: where the joining session connects, with which token.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoiceServerUpdate {
    /// The LiveKit access token.
    pub token: String,
    /// The LiveKit server's URL.
    pub endpoint: String,
    /// The connection, to send back in later op 4s.
    pub connection_id: String,
    /// The guild, for guild voice channels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    /// The channel, for DM calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<ChannelId>,
}

/// Most voice states kept at once on a node (a bound against a flood of joins).
const MAX_CONNECTIONS: usize = 100_000;
/// Most streams one connection may say it watches.
const MAX_VIEWER_STREAM_KEYS: usize = 25;

/// A guild change voice connections must follow.
#[derive(Debug, Clone, Copy)]
pub(crate) enum VoiceChange {
    /// A member record changed (mute, deaf, roles, timeout).
    Member(GuildId, UserId),
    /// A member left, was kicked or banned.
    Removed(GuildId, UserId),
    /// A channel was deleted.
    ChannelGone(ChannelId),
    /// Roles, overwrites or the guild changed: permissions may have.
    Permissions(GuildId),
    /// The guild was deleted.
    GuildGone(GuildId),
}

/// One connection's full record.
#[derive(Debug, Clone)]
struct Connection {
    state: VoiceState,
    room: String,
    region_id: String,
    server_id: String,
    /// LiveKit said the participant joined.
    confirmed: bool,
    /// Its state was dispatched (a confirmed join, or an unconfirmed switch of a confirmed one).
    announced: bool,
    /// When it last became pending (ms since the epoch).
    pending_since: i64,
    rights: ParticipantRights,
}

/// An open DM call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CallRecord {
    pub(crate) region: Option<String>,
    pub(crate) ringing: Vec<UserId>,
}

/// The node's voice state: regions, servers, connections, calls.
#[derive(Debug, Default)]
pub(crate) struct VoiceRuntime {
    regions: RwLock<Vec<VoiceRegion>>,
    connections: Mutex<HashMap<String, Connection>>,
    calls: Mutex<HashMap<ChannelId, CallRecord>>,
    version: std::sync::atomic::AtomicU64,
}

impl VoiceRuntime {
    pub(crate) fn new(settings: Option<&VoiceSettings>) -> Self {
        VoiceRuntime {
            regions: RwLock::new(settings.map(|s| s.regions.clone()).unwrap_or_default()),
            ..Default::default()
        }
    }
}

fn refused(code: &'static str, message: &str) -> Error {
    Error::Rejected {
        code,
        message: message.to_owned(),
    }
}

fn forbidden(code: &'static str, message: &str) -> Error {
    Error::Forbidden {
        code,
        message: message.to_owned(),
    }
}

/// The room of a guild channel or a DM call.
pub fn room_name(guild: Option<GuildId>, channel: ChannelId) -> String {
    match guild {
        Some(g) => format!("guild_{g}_channel_{channel}"),
        None => format!("dm_channel_{channel}"),
    }
}

/// A participant's identity.
pub fn participant_identity(user: UserId, connection_id: &str) -> String {
    format!("user_{user}_{connection_id}")
}

fn parse_identity(identity: &str) -> Option<(UserId, &str)> {
    let rest = identity.strip_prefix("user_")?;
    let (user, connection) = rest.split_once('_')?;
    Some((UserId::new(user.parse().ok()?), connection))
}

/// Distance on the sphere, in radians (only compared).
fn angular_distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1) = (a.0.to_radians(), a.1.to_radians());
    let (la2, lo2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * h.sqrt().min(1.0).asin()
}

fn rights_for(permissions: Permissions, mute: bool, deaf: bool) -> ParticipantRights {
    let admin = permissions.contains(Permissions::ADMINISTRATOR);
    let speak = (admin || permissions.contains(Permissions::SPEAK)) && !mute;
    let stream = admin || permissions.contains(Permissions::STREAM);
    let mut sources = Vec::new();
    if speak {
        sources.push(TrackSource::Microphone);
    }
    if stream {
        sources.extend([
            TrackSource::Camera,
            TrackSource::ScreenShare,
            TrackSource::ScreenShareAudio,
        ]);
    }
    ParticipantRights {
        can_publish: !deaf && !sources.is_empty(),
        can_subscribe: !deaf,
        sources,
    }
}

/// What a join was checked against.
struct Target {
    guild: Option<GuildId>,
    channel: ChannelId,
    permissions: Permissions,
    mute: bool,
    deaf: bool,
    rtc_region: Option<String>,
}

impl Fluxer {
    fn voice_runtime(&self) -> &VoiceRuntime {
        &self.inner.voice
    }

    pub(crate) fn voice_calls(&self) -> &Mutex<HashMap<ChannelId, CallRecord>> {
        &self.voice_runtime().calls
    }

    pub(crate) fn call_open(&self, channel: ChannelId) -> bool {
        self.voice_calls()
            .lock()
            .is_ok_and(|c| c.contains_key(&channel))
    }

    pub(crate) fn voice_state_announced(&self, connection_id: &str) -> bool {
        self.voice_connection(connection_id)
            .is_some_and(|c| c.announced)
    }

    /// Everyone connected to a channel (or call) is disconnected, LiveKit included.
    pub(crate) async fn disconnect_channel(&self, channel: ChannelId) -> Result<()> {
        for id in self.connection_ids(|c| c.state.channel_id == Some(channel)) {
            self.drop_connection(&id, true).await?;
        }
        Ok(())
    }

    /// Whether voice is configured (a LiveKit backend and at least one region).
    pub fn voice_enabled(&self) -> bool {
        self.inner.ports.voice.is_some()
            && self.inner.config.voice.is_some()
            && self
                .voice_runtime()
                .regions
                .read()
                .is_ok_and(|r| !r.is_empty())
    }

    fn voice_settings(&self) -> Result<&VoiceSettings> {
        self.inner
            .config
            .voice
            .as_ref()
            .filter(|_| self.inner.ports.voice.is_some())
            .ok_or_else(|| refused("VOICE_DISABLED", "Voice is not enabled on this instance"))
    }

    /// The regions clients may choose from.
    pub fn voice_regions(&self) -> Vec<RtcRegion> {
        if !self.voice_enabled() {
            return Vec::new();
        }
        let regions = self
            .voice_runtime()
            .regions
            .read()
            .map(|r| r.clone())
            .unwrap_or_default();
        regions
            .into_iter()
            .map(|r| RtcRegion {
                id: r.id,
                name: r.name,
                emoji: r.emoji,
            })
            .collect()
    }

    /// The regions a voice channel (or call) may be set to, for someone who can see it.
    pub async fn channel_rtc_regions(
        &self,
        user: UserId,
        channel: ChannelId,
    ) -> Result<Vec<RtcRegion>> {
        let access = self.channel_access(user, channel).await?;
        if !matches!(
            access.channel.kind,
            ChannelType::GuildVoice | ChannelType::Dm | ChannelType::GroupDm
        ) {
            return Err(refused(
                "INVALID_CHANNEL_TYPE",
                "This channel has no voice regions",
            ));
        }
        Ok(self.voice_regions())
    }

    /// Every region with its servers (for the admin API).
    pub fn voice_topology(&self) -> Vec<VoiceRegion> {
        self.voice_runtime()
            .regions
            .read()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Adds or replaces a region (by id), servers included (for the admin API). Kept in memory:
    /// the configured default region is restored at start.
    pub fn put_voice_region(&self, region: VoiceRegion) -> Result<()> {
        if region.id.trim().is_empty() || region.id.len() > 64 || region.name.len() > 100 {
            return Err(Error::field(
                "id",
                "BASE_TYPE_INVALID",
                "A region needs an id of 1 to 64 characters",
            ));
        }
        let mut regions = self
            .voice_runtime()
            .regions
            .write()
            .map_err(|_| Error::Internal("voice regions lock poisoned".into()))?;
        if region.is_default {
            for r in regions.iter_mut() {
                r.is_default = false;
            }
        }
        match regions.iter_mut().find(|r| r.id == region.id) {
            Some(existing) => *existing = region,
            None => regions.push(region),
        }
        Ok(())
    }

    /// Removes a region (for the admin API); whether it existed.
    pub fn delete_voice_region(&self, id: &str) -> Result<bool> {
        let mut regions = self
            .voice_runtime()
            .regions
            .write()
            .map_err(|_| Error::Internal("voice regions lock poisoned".into()))?;
        let before = regions.len();
        regions.retain(|r| r.id != id);
        Ok(regions.len() != before)
    }

    /// The region and server a new connection goes to: the requested region if it has an active
    /// server, else the one nearest the client, else the default, else the first.
    fn pick_server(
        &self,
        requested: Option<&str>,
        position: Option<(f64, f64)>,
    ) -> Result<(String, VoiceServer)> {
        let regions = self
            .voice_runtime()
            .regions
            .read()
            .map_err(|_| Error::Internal("voice regions lock poisoned".into()))?;
        let usable: Vec<&VoiceRegion> = regions
            .iter()
            .filter(|r| r.servers.iter().any(|s| s.active))
            .collect();
        let chosen = requested
            .and_then(|id| usable.iter().find(|r| r.id == id))
            .or_else(|| {
                let here = position?;
                usable.iter().min_by(|a, b| {
                    angular_distance(here, (a.latitude, a.longitude))
                        .total_cmp(&angular_distance(here, (b.latitude, b.longitude)))
                })
            })
            .or_else(|| usable.iter().find(|r| r.is_default))
            .or_else(|| usable.first())
            .ok_or_else(|| refused("VOICE_TOKEN_FAILED", "No voice server is available"))?;
        let servers: Vec<&VoiceServer> = chosen.servers.iter().filter(|s| s.active).collect();
        // Spread connections over a region's servers.
        let n = usize::from_str_radix(&crate::secret::random_hex(2), 16).unwrap_or(0)
            % servers.len().max(1);
        let server = servers
            .get(n)
            .copied()
            .ok_or_else(|| refused("VOICE_TOKEN_FAILED", "No voice server is available"))?;
        Ok((chosen.id.clone(), server.clone()))
    }

    fn server_credentials(&self, region: &str, server: &str) -> Option<VoiceServerCredentials> {
        let regions = self.voice_runtime().regions.read().ok()?;
        regions
            .iter()
            .find(|r| r.id == region)?
            .servers
            .iter()
            .find(|s| s.id == server)
            .map(|s| s.credentials.clone())
    }

    /// Checks that `user` may be in `channel` (of `guild`, when given) and what it may do there.
    async fn voice_target(
        &self,
        user: UserId,
        guild: Option<GuildId>,
        channel: ChannelId,
    ) -> Result<Target> {
        if let Some(g) = guild {
            self.guild_access(user, g).await.map_err(|e| match e {
                Error::Unknown(_) => refused("VOICE_GUILD_NOT_FOUND", "Guild not found"),
                other => other,
            })?;
        }
        let access = self
            .channel_access(user, channel)
            .await
            .map_err(|e| match e {
                Error::Unknown(_) => refused("VOICE_CHANNEL_NOT_FOUND", "Voice channel not found"),
                Error::MissingPermissions => {
                    forbidden("VOICE_PERMISSION_DENIED", "Missing voice permissions")
                }
                other => other,
            })?;
        if access.channel.guild_id != guild {
            return Err(refused(
                "VOICE_CHANNEL_NOT_FOUND",
                "Voice channel not found",
            ));
        }
        let (mute, deaf) = access
            .guild
            .as_ref()
            .map_or((false, false), |g| (g.member.mute, g.member.deaf));
        match (&access.guild, access.channel.kind) {
            (Some(g), ChannelType::GuildVoice) => {
                if g.member.is_timed_out(self.now()) {
                    return Err(forbidden(
                        "VOICE_MEMBER_TIMED_OUT",
                        "Voice member is timed out",
                    ));
                }
            }
            (None, ChannelType::Dm | ChannelType::GroupDm) => {}
            _ => {
                return Err(refused(
                    "VOICE_INVALID_CHANNEL_TYPE",
                    "Channel is not a voice channel",
                ));
            }
        }
        if !access.permissions.contains(Permissions::CONNECT) {
            return Err(forbidden(
                "VOICE_PERMISSION_DENIED",
                "Missing voice permissions",
            ));
        }
        Ok(Target {
            guild,
            channel,
            permissions: access.permissions,
            mute,
            deaf,
            rtc_region: access.channel.rtc_region.clone(),
        })
    }

    /// Gateway op 4 from `session_id` of `user`: joins, switches, updates or leaves. Returns the
    /// `VOICE_SERVER_UPDATE` for that session when it must (re)connect to LiveKit. Refusals are
    /// errors with upstream's `VOICE_*` codes; nothing changes then.
    pub async fn update_voice_state(
        &self,
        user: UserId,
        session_id: &str,
        request: VoiceStateRequest,
    ) -> Result<Option<VoiceServerUpdate>> {
        if request.viewer_stream_keys.len() > MAX_VIEWER_STREAM_KEYS
            || request.connection_id.as_ref().is_some_and(|c| c.len() > 64)
        {
            return Err(refused("VOICE_INVALID_STATE", "Invalid voice state"));
        }
        let existing = match &request.connection_id {
            Some(id) => {
                let found = self.voice_connection(id);
                match found {
                    Some(c) if c.state.user_id != user => {
                        return Err(refused("VOICE_USER_MISMATCH", "Voice user mismatch"));
                    }
                    Some(c) => Some(c),
                    None if request.channel_id.is_none() => {
                        return Err(refused(
                            "VOICE_CONNECTION_NOT_FOUND",
                            "Voice connection not found",
                        ));
                    }
                    None => None,
                }
            }
            None => None,
        };
        let Some(channel) = request.channel_id else {
            match existing {
                Some(c) => self.drop_connection(&c.state.connection_id, false).await?,
                None => self.leave_voice_session(user, session_id).await?,
            }
            return Ok(None);
        };
        self.voice_settings()?;
        self.expire_pending_voice().await?;
        let target = self.voice_target(user, request.guild_id, channel).await?;
        if (request.self_video || request.self_stream)
            && !(target.permissions.contains(Permissions::STREAM)
                || target.permissions.contains(Permissions::ADMINISTRATOR))
        {
            return Err(forbidden(
                "VOICE_PERMISSION_DENIED",
                "Missing voice permissions",
            ));
        }
        match existing {
            Some(c) if c.state.channel_id == Some(channel) => {
                self.update_flags(&c.state.connection_id, &request).await?;
                Ok(None)
            }
            Some(c) => {
                self.check_user_limit(&target, user).await?;
                let update = self
                    .connect(user, session_id, &target, &request, Some(c))
                    .await?;
                Ok(Some(update))
            }
            None => {
                self.check_user_limit(&target, user).await?;
                // One connection per session: a new join replaces the session's previous one.
                self.leave_voice_session(user, session_id).await?;
                let update = self
                    .connect(user, session_id, &target, &request, None)
                    .await?;
                Ok(Some(update))
            }
        }
    }

    async fn check_user_limit(&self, target: &Target, user: UserId) -> Result<()> {
        if target.guild.is_none() || target.permissions.contains(Permissions::MOVE_MEMBERS) {
            return Ok(());
        }
        let channel = self
            .store()
            .get_channel(target.channel)
            .await?
            .ok_or(Error::Unknown(Unknown::Channel))?;
        let limit = channel.user_limit.unwrap_or(0);
        if limit == 0 {
            return Ok(());
        }
        let others: std::collections::HashSet<UserId> = self
            .voice_runtime()
            .connections
            .lock()
            .map_err(|_| Error::Internal("voice lock poisoned".into()))?
            .values()
            .filter(|c| c.state.channel_id == Some(target.channel) && c.state.user_id != user)
            .map(|c| c.state.user_id)
            .collect();
        if others.len() >= limit as usize {
            return Err(forbidden("VOICE_CHANNEL_FULL", "Voice channel is full"));
        }
        Ok(())
    }

    fn voice_connection(&self, id: &str) -> Option<Connection> {
        self.voice_runtime()
            .connections
            .lock()
            .ok()?
            .get(id)
            .cloned()
    }

    fn next_voice_version(&self) -> u64 {
        self.voice_runtime()
            .version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// Mints a token and records the (pending) connection: a new one, or `previous` moved.
    async fn connect(
        &self,
        user: UserId,
        session_id: &str,
        target: &Target,
        request: &VoiceStateRequest,
        previous: Option<Connection>,
    ) -> Result<VoiceServerUpdate> {
        let settings = self.voice_settings()?;
        let backend =
            self.inner.ports.voice.clone().ok_or_else(|| {
                refused("VOICE_DISABLED", "Voice is not enabled on this instance")
            })?;
        let position = request.latitude.zip(request.longitude);
        let (region_id, server) = self.pick_server(target.rtc_region.as_deref(), position)?;
        let connection_id = previous
            .as_ref()
            .map(|c| c.state.connection_id.clone())
            .unwrap_or_else(|| crate::secret::random_hex(16));
        let room = room_name(target.guild, target.channel);
        let identity = participant_identity(user, &connection_id);
        let rights = rights_for(target.permissions, target.mute, target.deaf);
        let nonce = crate::secret::random_hex(16);
        let mut metadata = json!({
            "user_id": user.to_string(),
            "channel_id": target.channel.to_string(),
            "connection_id": connection_id,
            "region_id": region_id,
            "server_id": server.id,
            "token_nonce": nonce,
            "issued_at": (self.now().unix_ms() / 1000).to_string(),
        });
        match target.guild {
            Some(g) => metadata["guild_id"] = json!(g.to_string()),
            None => metadata["dm_call"] = json!("true"),
        }
        let grant = VoiceGrant {
            identity: identity.clone(),
            room: room.clone(),
            metadata: metadata.to_string(),
            rights: rights.clone(),
            ttl: settings.token_ttl,
        };
        let token = backend.mint_token(&server.credentials, &grant)?;
        let state = VoiceState {
            guild_id: target.guild,
            channel_id: Some(target.channel),
            user_id: user,
            connection_id: connection_id.clone(),
            session_id: session_id.to_owned(),
            member: None,
            mute: target.mute,
            deaf: target.deaf,
            self_mute: request.self_mute,
            self_deaf: request.self_deaf,
            self_video: request.self_video,
            self_stream: request.self_stream,
            is_mobile: request.is_mobile,
            viewer_stream_keys: request.viewer_stream_keys.clone(),
            version: self.next_voice_version(),
        };
        let announced_before = previous.as_ref().is_some_and(|p| p.announced);
        let connection = Connection {
            state,
            room,
            region_id,
            server_id: server.id.clone(),
            confirmed: false,
            announced: announced_before,
            pending_since: self.now().unix_ms(),
            rights,
        };
        {
            let mut connections = self
                .voice_runtime()
                .connections
                .lock()
                .map_err(|_| Error::Internal("voice lock poisoned".into()))?;
            if previous.is_none() && connections.len() >= MAX_CONNECTIONS {
                return Err(refused("VOICE_TOKEN_FAILED", "Too many voice connections"));
            }
            connections.insert(connection_id.clone(), connection.clone());
        }
        if let Some(previous) = previous.filter(|p| p.announced) {
            // Those who saw it in the old channel see it leave; then it shows in the new one.
            let mut gone = previous.state.clone();
            gone.channel_id = None;
            self.publish_voice(&previous, &gone).await?;
            self.publish_voice(&connection, &connection.state).await?;
        }
        Ok(VoiceServerUpdate {
            token,
            endpoint: server.credentials.endpoint.clone(),
            connection_id,
            guild_id: target.guild,
            channel_id: target.guild.is_none().then_some(target.channel),
        })
    }

    async fn update_flags(&self, connection_id: &str, request: &VoiceStateRequest) -> Result<()> {
        let updated = {
            let mut connections = self
                .voice_runtime()
                .connections
                .lock()
                .map_err(|_| Error::Internal("voice lock poisoned".into()))?;
            let Some(c) = connections.get_mut(connection_id) else {
                return Err(refused(
                    "VOICE_CONNECTION_NOT_FOUND",
                    "Voice connection not found",
                ));
            };
            c.state.self_mute = request.self_mute;
            c.state.self_deaf = request.self_deaf;
            c.state.self_video = request.self_video;
            c.state.self_stream = request.self_stream;
            c.state.is_mobile = request.is_mobile;
            c.state.viewer_stream_keys = request.viewer_stream_keys.clone();
            c.state.version = self.next_voice_version();
            c.clone()
        };
        if updated.announced {
            self.publish_voice(&updated, &updated.state).await?;
        }
        Ok(())
    }

    /// Removes one connection, announcing its departure if it had been announced; with `kick`,
    /// LiveKit is told to disconnect the participant too.
    async fn drop_connection(&self, connection_id: &str, kick: bool) -> Result<()> {
        let removed = self
            .voice_runtime()
            .connections
            .lock()
            .map_err(|_| Error::Internal("voice lock poisoned".into()))?
            .remove(connection_id);
        let Some(c) = removed else {
            return Ok(());
        };
        if kick {
            self.kick_participant(&c).await;
        }
        if c.announced {
            let mut gone = c.state.clone();
            gone.channel_id = None;
            gone.version = self.next_voice_version();
            self.publish_voice(&c, &gone).await?;
        }
        if let (None, Some(channel)) = (c.state.guild_id, c.state.channel_id) {
            self.call_participants_changed(channel).await?;
        }
        Ok(())
    }

    async fn kick_participant(&self, c: &Connection) {
        let (Some(backend), Some(server)) = (
            self.inner.ports.voice.as_ref(),
            self.server_credentials(&c.region_id, &c.server_id),
        ) else {
            return;
        };
        let identity = participant_identity(c.state.user_id, &c.state.connection_id);
        if let Err(e) = backend
            .remove_participant(&server, &c.room, &identity)
            .await
        {
            tracing::warn!(error = %crate::error::chain(&e), room = %c.room, "LiveKit did not remove a participant");
        }
    }

    /// Everything one session is connected to ends (it left, or it ended without resuming).
    pub async fn leave_voice_session(&self, user: UserId, session_id: &str) -> Result<()> {
        let ids =
            self.connection_ids(|c| c.state.user_id == user && c.state.session_id == session_id);
        for id in ids {
            self.drop_connection(&id, false).await?;
        }
        Ok(())
    }

    fn connection_ids(&self, pick: impl Fn(&Connection) -> bool) -> Vec<String> {
        self.voice_runtime()
            .connections
            .lock()
            .map(|c| {
                c.values()
                    .filter(|c| pick(c))
                    .map(|c| c.state.connection_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn publish_voice(&self, c: &Connection, state: &VoiceState) -> Result<()> {
        let events = &self.inner.ports.events;
        let channel = c.state.channel_id;
        match c.state.guild_id {
            Some(g) => {
                let mut state = state.clone();
                if let Some(member) = self.membership(g, state.user_id).await? {
                    let users = self.user_partials(&[state.user_id]).await?;
                    state.member = users
                        .get(&state.user_id)
                        .map(|u| member.response(u.clone()));
                }
                let mut dispatch =
                    Dispatch::new(EventKind::VoiceStateUpdate, Topic::Guild(g), &state)
                        .about_user(state.user_id);
                if let Some(channel) = channel {
                    dispatch = dispatch.in_channel(channel);
                }
                events.publish(dispatch).await?;
            }
            None => {
                let Some(channel) = channel else {
                    return Ok(());
                };
                let recipients = match self.store().get_channel(channel).await? {
                    Some(ch) => ch.recipient_ids,
                    None => vec![state.user_id],
                };
                for r in recipients {
                    events
                        .publish(Dispatch::new(
                            EventKind::VoiceStateUpdate,
                            Topic::User(r),
                            state,
                        ))
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// Marks a pending connection as connected to LiveKit and announces it (LiveKit's
    /// `participant_joined`, or upstream's test-mode confirmation). Whether it was found.
    pub async fn confirm_voice_connection(&self, connection_id: &str) -> Result<bool> {
        let confirmed = {
            let mut connections = self
                .voice_runtime()
                .connections
                .lock()
                .map_err(|_| Error::Internal("voice lock poisoned".into()))?;
            let Some(c) = connections.get_mut(connection_id) else {
                return Ok(false);
            };
            if c.confirmed {
                return Ok(true);
            }
            c.confirmed = true;
            // A switch was announced already; a first join is announced now.
            if c.announced {
                return Ok(true);
            }
            c.announced = true;
            c.state.version = self.next_voice_version();
            c.clone()
        };
        self.publish_voice(&confirmed, &confirmed.state).await?;
        if let (None, Some(channel)) = (confirmed.state.guild_id, confirmed.state.channel_id) {
            self.call_participants_changed(channel).await?;
        }
        Ok(true)
    }

    /// Drops joins LiveKit has not confirmed within the pending window. Run periodically.
    pub async fn expire_pending_voice(&self) -> Result<usize> {
        let Ok(settings) = self.voice_settings() else {
            return Ok(0);
        };
        let cutoff = self.now().unix_ms() - settings.pending_timeout.as_millis() as i64;
        let ids = self.connection_ids(|c| !c.confirmed && c.pending_since <= cutoff);
        for id in &ids {
            self.drop_connection(id, false).await?;
        }
        Ok(ids.len())
    }

    /// `POST /webhooks/livekit`: checks LiveKit's signature, then confirms joins and clears
    /// departures. An unsigned or tampered webhook is `UNAUTHORIZED`.
    pub async fn receive_voice_webhook(&self, body: &str, authorization: &str) -> Result<()> {
        self.voice_settings()?;
        let backend =
            self.inner.ports.voice.clone().ok_or_else(|| {
                refused("VOICE_DISABLED", "Voice is not enabled on this instance")
            })?;
        let servers: Vec<VoiceServerCredentials> = self
            .voice_topology()
            .into_iter()
            .flat_map(|r| r.servers.into_iter().map(|s| s.credentials))
            .collect();
        let event = backend
            .verify_webhook(&servers, body, authorization)
            .map_err(|e| match e {
                WebhookRejection::BadSignature => Error::Unauthorized,
                _ => refused("INVALID_WEBHOOK", "The webhook is not a LiveKit event"),
            })?;
        match event {
            VoiceWebhookEvent::ParticipantJoined { room, identity } => {
                if let Some((user, connection)) = parse_identity(&identity)
                    && self
                        .voice_connection(connection)
                        .is_some_and(|c| c.state.user_id == user && c.room == room)
                {
                    self.confirm_voice_connection(connection).await?;
                }
            }
            VoiceWebhookEvent::ParticipantLeft { room, identity } => {
                // A participant that left the old room of a switch keeps its new state.
                if let Some((user, connection)) = parse_identity(&identity)
                    && self
                        .voice_connection(connection)
                        .is_some_and(|c| c.state.user_id == user && c.room == room)
                {
                    self.drop_connection(connection, false).await?;
                }
            }
            VoiceWebhookEvent::RoomFinished { room } => {
                for id in self.connection_ids(|c| c.room == room) {
                    self.drop_connection(&id, false).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The announced voice states of a guild (for `GUILD_CREATE`).
    pub fn guild_voice_states(&self, guild: GuildId) -> Vec<VoiceState> {
        self.voice_runtime()
            .connections
            .lock()
            .map(|c| {
                c.values()
                    .filter(|c| c.announced && c.state.guild_id == Some(guild))
                    .map(|c| c.state.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A member's server mute or deafen changed, or the member was moved out of voice
    /// (`channel: Some(None)`): LiveKit is told and the states are dispatched.
    pub(crate) async fn voice_member_updated(
        &self,
        guild: GuildId,
        user: UserId,
        disconnect: bool,
    ) -> Result<()> {
        let ids =
            self.connection_ids(|c| c.state.guild_id == Some(guild) && c.state.user_id == user);
        if ids.is_empty() {
            return Ok(());
        }
        if disconnect {
            for id in ids {
                self.drop_connection(&id, true).await?;
            }
            return Ok(());
        }
        self.voice_recheck(ids).await
    }

    /// Re-evaluates connections against the current permissions and member records: those that
    /// lost CONNECT (or the channel) are disconnected, the others get their rights updated.
    async fn voice_recheck(&self, ids: Vec<String>) -> Result<()> {
        for id in ids {
            let Some(c) = self.voice_connection(&id) else {
                continue;
            };
            let Some(channel) = c.state.channel_id else {
                continue;
            };
            let target = match self
                .voice_target(c.state.user_id, c.state.guild_id, channel)
                .await
            {
                Ok(t) => t,
                Err(Error::Rejected { .. } | Error::Forbidden { .. }) => {
                    self.drop_connection(&id, true).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let rights = rights_for(target.permissions, target.mute, target.deaf);
            let updated = {
                let mut connections = self
                    .voice_runtime()
                    .connections
                    .lock()
                    .map_err(|_| Error::Internal("voice lock poisoned".into()))?;
                let Some(c) = connections.get_mut(&id) else {
                    continue;
                };
                if c.rights == rights && c.state.mute == target.mute && c.state.deaf == target.deaf
                {
                    continue;
                }
                c.rights = rights.clone();
                c.state.mute = target.mute;
                c.state.deaf = target.deaf;
                c.state.version = self.next_voice_version();
                c.clone()
            };
            if let (Some(backend), Some(server)) = (
                self.inner.ports.voice.as_ref(),
                self.server_credentials(&updated.region_id, &updated.server_id),
            ) {
                let identity = participant_identity(updated.state.user_id, &id);
                if let Err(e) = backend
                    .update_participant(&server, &updated.room, &identity, &rights)
                    .await
                {
                    tracing::warn!(error = %crate::error::chain(&e), room = %updated.room, "LiveKit did not update a participant");
                }
            }
            if updated.announced {
                self.publish_voice(&updated, &updated.state).await?;
            }
        }
        Ok(())
    }

    /// Refuses a move into `channel` the mover could not make itself.
    pub(crate) async fn check_voice_move(
        &self,
        mover: UserId,
        guild: GuildId,
        channel: ChannelId,
    ) -> Result<()> {
        self.voice_settings()?;
        self.voice_target(mover, Some(guild), channel).await?;
        Ok(())
    }

    /// A moderator moved `user`'s connections in `guild` to `channel`: each leaves its LiveKit
    /// room and gets a token for the new one, sent to the user's sessions (`VOICE_SERVER_UPDATE`
    /// carries the connection, so only the one that holds it reconnects).
    pub(crate) async fn voice_move_member(
        &self,
        mover: UserId,
        guild: GuildId,
        user: UserId,
        channel: ChannelId,
    ) -> Result<()> {
        let ids =
            self.connection_ids(|c| c.state.guild_id == Some(guild) && c.state.user_id == user);
        for id in ids {
            let Some(c) = self.voice_connection(&id) else {
                continue;
            };
            if c.state.channel_id == Some(channel) {
                continue;
            }
            let mut target = self.voice_target(mover, Some(guild), channel).await?;
            // The moved member's own rights apply in the new channel.
            match self.voice_target(user, Some(guild), channel).await {
                Ok(own) => target = own,
                Err(Error::Rejected { .. } | Error::Forbidden { .. }) => {
                    target.permissions = Permissions::CONNECT;
                }
                Err(e) => return Err(e),
            }
            self.kick_participant(&c).await;
            let request = VoiceStateRequest {
                guild_id: Some(guild),
                channel_id: Some(channel),
                connection_id: Some(id.clone()),
                self_mute: c.state.self_mute,
                self_deaf: c.state.self_deaf,
                self_video: c.state.self_video,
                self_stream: c.state.self_stream,
                is_mobile: c.state.is_mobile,
                viewer_stream_keys: c.state.viewer_stream_keys.clone(),
                latitude: None,
                longitude: None,
            };
            let session = c.state.session_id.clone();
            let update = self
                .connect(user, &session, &target, &request, Some(c))
                .await?;
            self.inner
                .ports
                .events
                .publish(Dispatch::new(
                    EventKind::VoiceServerUpdate,
                    Topic::User(user),
                    &update,
                ))
                .await?;
        }
        Ok(())
    }

    /// Roles or overwrites of a guild changed: every connection in it is re-checked.
    pub(crate) async fn voice_guild_permissions_changed(&self, guild: GuildId) -> Result<()> {
        let ids = self.connection_ids(|c| c.state.guild_id == Some(guild));
        if ids.is_empty() {
            return Ok(());
        }
        self.voice_recheck(ids).await
    }

    /// A member left, was kicked or banned: its connections in the guild end, LiveKit included.
    pub(crate) async fn voice_member_removed(&self, guild: GuildId, user: UserId) -> Result<()> {
        self.voice_member_updated(guild, user, true).await
    }

    /// A channel was deleted: everyone in it is disconnected.
    pub(crate) async fn voice_channel_deleted(&self, channel: ChannelId) -> Result<()> {
        self.disconnect_channel(channel).await
    }

    /// What a guild event means for the voice connections, if anything (cheap: nothing when no
    /// one is connected in that guild).
    pub(crate) fn voice_follows(&self, dispatch: &Dispatch) -> Option<VoiceChange> {
        let Topic::Guild(guild) = dispatch.topic else {
            return None;
        };
        let connected = self
            .voice_runtime()
            .connections
            .lock()
            .ok()?
            .values()
            .any(|c| c.state.guild_id == Some(guild));
        if !connected {
            return None;
        }
        match dispatch.event {
            EventKind::GuildMemberUpdate => dispatch.subject.map(|u| VoiceChange::Member(guild, u)),
            EventKind::GuildMemberRemove => {
                dispatch.subject.map(|u| VoiceChange::Removed(guild, u))
            }
            EventKind::ChannelDelete => dispatch.channel_id.map(VoiceChange::ChannelGone),
            EventKind::GuildRoleCreate
            | EventKind::GuildRoleUpdate
            | EventKind::GuildRoleUpdateBulk
            | EventKind::GuildRoleDelete
            | EventKind::ChannelUpdate
            | EventKind::GuildUpdate => Some(VoiceChange::Permissions(guild)),
            EventKind::GuildDelete => Some(VoiceChange::GuildGone(guild)),
            _ => None,
        }
    }

    /// Applies a [`VoiceChange`]; failures are logged (the change that caused it already
    /// happened).
    pub(crate) async fn voice_apply(&self, change: VoiceChange) {
        let result = match change {
            VoiceChange::Member(g, u) => self.voice_member_updated(g, u, false).await,
            VoiceChange::Removed(g, u) => self.voice_member_removed(g, u).await,
            VoiceChange::ChannelGone(c) => self.voice_channel_deleted(c).await,
            VoiceChange::Permissions(g) => self.voice_guild_permissions_changed(g).await,
            VoiceChange::GuildGone(g) => {
                let mut result = Ok(());
                for id in self.connection_ids(|c| c.state.guild_id == Some(g)) {
                    if let Err(e) = self.drop_connection(&id, true).await {
                        result = Err(e);
                    }
                }
                result
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %crate::error::chain(&e), "voice states not updated after a guild change");
        }
    }

    /// The users connected to a DM call.
    pub(crate) fn call_participants(&self, channel: ChannelId) -> Vec<VoiceState> {
        self.voice_runtime()
            .connections
            .lock()
            .map(|c| {
                c.values()
                    .filter(|c| c.state.guild_id.is_none() && c.state.channel_id == Some(channel))
                    .map(|c| c.state.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_read_back() {
        let id = participant_identity(UserId::new(42), "abc123");
        assert_eq!(id, "user_42_abc123");
        assert_eq!(parse_identity(&id), Some((UserId::new(42), "abc123")));
        assert_eq!(parse_identity("user_x_1"), None);
        assert_eq!(parse_identity("bot_1_2"), None);
    }

    #[test]
    fn rights_follow_permissions_and_moderation() {
        let all = Permissions::CONNECT | Permissions::SPEAK | Permissions::STREAM;
        let r = rights_for(all, false, false);
        assert!(r.can_publish && r.can_subscribe);
        assert_eq!(r.sources.len(), 4);
        let muted = rights_for(all, true, false);
        assert!(!muted.sources.contains(&TrackSource::Microphone));
        let deaf = rights_for(all, false, true);
        assert!(!deaf.can_publish && !deaf.can_subscribe);
        let silent = rights_for(Permissions::CONNECT, false, false);
        assert!(!silent.can_publish && silent.sources.is_empty());
    }

    #[test]
    fn the_nearest_region_is_the_closest_on_the_sphere() {
        let paris = (48.85, 2.35);
        let nyc = (40.71, -74.0);
        let frankfurt = (50.11, 8.68);
        assert!(angular_distance(paris, frankfurt) < angular_distance(paris, nyc));
    }
}
