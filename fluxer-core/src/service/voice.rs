//! Voice channels and calls on LiveKit (see [`crate::ports::VoiceBackend`]): regions and servers,
//! joining, switching and leaving (gateway op 4), the pending window until LiveKit confirms a join,
//! LiveKit's webhooks, and moderation (server mute/deafen, disconnects).
//!
//! Voice states live behind [`crate::ports::VoiceStates`]: in this process on one node, in Redis
//! (with presence) when several share the work, so a webhook or a moderator's request on any node
//! reaches a connection another gateway node made. A join stays pending, unannounced, until
//! LiveKit's `participant_joined` webhook (or the test-mode confirmation) arrives; a pending join
//! that is not confirmed within [`VoiceSettings::pending_timeout`] is dropped, once, by whichever
//! node's sweep takes it first.

mod admin;
mod moderation;
mod regions;
mod streams;

pub use admin::{VoiceRegionWrite, VoiceRestrictions, VoiceServerWrite};
pub use regions::{RtcRegion, VoiceRegion, VoiceServer};
pub use streams::{STREAM_PREVIEW_MAX_BYTES, StreamPreview, StreamPreviewUpload, StreamUpdate};

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::Fluxer;
use crate::error::{Error, Result, Unknown};
use crate::id::{ChannelId, GuildId, UserId};
use crate::model::{ChannelType, VoiceState};
use crate::permission::Permissions;
use crate::ports::{
    Dispatch, EventKind, InProcessVoiceStates, ParticipantRights, Topic, TrackSource,
    VoiceConnection, VoiceGrant, VoiceScope, VoiceServerCredentials, VoiceStates,
    VoiceWebhookEvent, WebhookRejection,
};

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

/// Most voice states kept at once (a bound against a flood of joins).
const MAX_CONNECTIONS: usize = 100_000;
/// How often a read-modify-write of one connection is tried against concurrent changes.
const WRITE_ATTEMPTS: usize = 16;
/// Most streams one connection may say it watches.
const MAX_VIEWER_STREAM_KEYS: usize = 25;
/// While a camera is on in a channel, at most this many people may be in it (whatever its own
/// `user_limit`), and no camera may be turned on in a channel with more (upstream's
/// `VOICE_CHANNEL_CAMERA_USER_LIMIT`).
pub const VOICE_CAMERA_USER_LIMIT: u32 = 25;

/// A channel's user limit as it applies now: capped at [`VOICE_CAMERA_USER_LIMIT`] while a camera
/// is on (0 means no limit).
fn effective_user_limit(limit: u32, camera_on: bool) -> u32 {
    match (limit, camera_on) {
        (0, false) => 0,
        (0, true) => VOICE_CAMERA_USER_LIMIT,
        (l, false) => l,
        (l, true) => l.min(VOICE_CAMERA_USER_LIMIT),
    }
}

/// Who is in a voice channel.
#[derive(Debug, Default)]
struct Occupancy {
    users: std::collections::HashSet<UserId>,
    camera_on: bool,
}

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

type Connection = VoiceConnection;

/// What [`Fluxer::modify_connection`] found.
enum Modified {
    /// No such connection.
    Missing,
    /// The change did not apply; the connection as it is.
    Unchanged(Connection),
    /// The connection as stored now.
    Changed(Connection),
}

/// An open DM call, kept in the cache (shared by every node in a cluster) under
/// [`Fluxer::call_key`].
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct CallRecord {
    pub(crate) region: Option<String>,
    pub(crate) ringing: Vec<UserId>,
}

/// The node's voice state: regions, servers, and where connections are kept.
pub(crate) struct VoiceRuntime {
    regions: RwLock<Vec<VoiceRegion>>,
    connections: Arc<dyn VoiceStates>,
    /// Serializes this node's changes to call records (kept in the cache).
    pub(super) call_changes: tokio::sync::Mutex<()>,
}

impl VoiceRuntime {
    pub(crate) fn new(
        settings: Option<&VoiceSettings>,
        connections: Option<Arc<dyn VoiceStates>>,
    ) -> Self {
        VoiceRuntime {
            regions: RwLock::new(settings.map(|s| s.regions.clone()).unwrap_or_default()),
            connections: connections.unwrap_or_else(|| Arc::new(InProcessVoiceStates::new())),
            call_changes: tokio::sync::Mutex::new(()),
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

/// The channel a room is for (the inverse of [`room_name`]).
fn parse_room(room: &str) -> Option<ChannelId> {
    let channel = match room.strip_prefix("dm_channel_") {
        Some(c) => c,
        None => room.strip_prefix("guild_")?.split_once("_channel_")?.1,
    };
    Some(ChannelId::new(channel.parse().ok()?))
}

fn parse_identity(identity: &str) -> Option<(UserId, &str)> {
    let rest = identity.strip_prefix("user_")?;
    let (user, connection) = rest.split_once('_')?;
    Some((UserId::new(user.parse().ok()?), connection))
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
    pub(super) fn voice_runtime(&self) -> &VoiceRuntime {
        &self.inner.voice
    }

    /// Everyone connected to a channel (or call) is disconnected, LiveKit included.
    pub(crate) async fn disconnect_channel(&self, channel: ChannelId) -> Result<()> {
        for c in self.connections_in(VoiceScope::Channel(channel)).await? {
            self.drop_connection(&c.state.connection_id, None, true)
                .await?;
        }
        Ok(())
    }

    /// Whether the instance has a voice backend and `integrations.voice` (regions aside).
    pub(crate) fn voice_configured(&self) -> bool {
        self.inner.ports.voice.is_some() && self.inner.config.voice.is_some()
    }

    /// Whether voice is configured (a LiveKit backend and at least one region).
    pub fn voice_enabled(&self) -> bool {
        self.voice_configured()
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
                let found = self.voice_connection(id).await?;
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
                Some(c) => {
                    self.drop_connection(&c.state.connection_id, None, false)
                        .await?;
                }
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
        // Upstream limits cameras in guild channels only (DM calls are small anyway).
        if request.self_video && target.guild.is_some() {
            self.check_camera_limit(channel).await?;
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
        let occupancy = self.channel_occupancy(target.channel).await?;
        let limit = effective_user_limit(channel.user_limit.unwrap_or(0), occupancy.camera_on);
        if limit == 0 {
            return Ok(());
        }
        let others = occupancy.users.iter().filter(|u| **u != user).count();
        if others >= limit as usize {
            return Err(forbidden("VOICE_CHANNEL_FULL", "Voice channel is full"));
        }
        Ok(())
    }

    fn voice_states(&self) -> &dyn VoiceStates {
        self.voice_runtime().connections.as_ref()
    }

    /// Turning a camera on is refused in a channel with more than
    /// [`VOICE_CAMERA_USER_LIMIT`] people in it (upstream's `check_camera_user_limit`).
    async fn check_camera_limit(&self, channel: ChannelId) -> Result<()> {
        if self.channel_occupancy(channel).await?.users.len() > VOICE_CAMERA_USER_LIMIT as usize {
            return Err(forbidden(
                "VOICE_CAMERA_USER_LIMIT",
                "Too many users in channel to enable camera",
            ));
        }
        Ok(())
    }

    /// Who is connected to `channel` (pending joins included) and whether a camera is on there.
    async fn channel_occupancy(&self, channel: ChannelId) -> Result<Occupancy> {
        let mut occupancy = Occupancy::default();
        for c in self.connections_in(VoiceScope::Channel(channel)).await? {
            occupancy.users.insert(c.state.user_id);
            occupancy.camera_on |= c.state.self_video;
        }
        Ok(occupancy)
    }

    async fn voice_connection(&self, id: &str) -> Result<Option<Connection>> {
        Ok(self.voice_states().get(id).await?)
    }

    async fn connections_in(&self, scope: VoiceScope) -> Result<Vec<Connection>> {
        Ok(self.voice_states().list(&scope).await?)
    }

    /// Applies `change` to the stored connection and stores it with its version bumped, trying
    /// again from the fresh record when another node (or task) changed it in between. `change`
    /// says whether it changed anything.
    async fn modify_connection(
        &self,
        id: &str,
        mut change: impl FnMut(&mut Connection) -> bool,
    ) -> Result<Modified> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(stored) = self.voice_connection(id).await? else {
                return Ok(Modified::Missing);
            };
            let mut c = stored.clone();
            if !change(&mut c) {
                return Ok(Modified::Unchanged(stored));
            }
            c.state.version = stored.state.version + 1;
            if self
                .voice_states()
                .put(&c, Some(stored.state.version))
                .await?
            {
                return Ok(Modified::Changed(c));
            }
        }
        Err(Error::Internal(
            "a voice connection kept changing under its writer".into(),
        ))
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
            version: 0,
        };
        let mut connection = Connection {
            state,
            room,
            region_id,
            server_id: server.id.clone(),
            confirmed: false,
            announced: false,
            pending_since: self.now().unix_ms(),
            rights,
        };
        let mut previous = previous;
        if previous.is_none() && self.voice_states().count().await? >= MAX_CONNECTIONS {
            return Err(refused("VOICE_TOKEN_FAILED", "Too many voice connections"));
        }
        let mut stored = false;
        for _ in 0..WRITE_ATTEMPTS {
            // A move keeps the connection (and its announcement) and bumps its version.
            connection.announced = previous.as_ref().is_some_and(|p| p.announced);
            connection.state.version = previous.as_ref().map_or(0, |p| p.state.version + 1);
            let expected = previous.as_ref().map(|p| p.state.version);
            if self.voice_states().put(&connection, expected).await? {
                stored = true;
                break;
            }
            // Changed (or dropped) in between, by another node: move what is there now.
            previous = self.voice_connection(&connection_id).await?;
        }
        if !stored {
            return Err(Error::Internal(
                "a voice connection kept changing under its writer".into(),
            ));
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
        let modified = self
            .modify_connection(connection_id, |c| {
                c.state.self_mute = request.self_mute;
                c.state.self_deaf = request.self_deaf;
                c.state.self_video = request.self_video;
                c.state.self_stream = request.self_stream;
                c.state.is_mobile = request.is_mobile;
                c.state.viewer_stream_keys = request.viewer_stream_keys.clone();
                true
            })
            .await?;
        let updated = match modified {
            Modified::Changed(c) | Modified::Unchanged(c) => c,
            Modified::Missing => {
                return Err(refused(
                    "VOICE_CONNECTION_NOT_FOUND",
                    "Voice connection not found",
                ));
            }
        };
        if updated.announced {
            self.publish_voice(&updated, &updated.state).await?;
        }
        Ok(())
    }

    /// Removes one connection (with `expected`, only if still at that version), announcing its
    /// departure if it had been announced; with `kick`, LiveKit is told to disconnect the
    /// participant too. Whether this call removed it: of several nodes racing, one does, and
    /// only that one announces.
    async fn drop_connection(
        &self,
        connection_id: &str,
        expected: Option<u64>,
        kick: bool,
    ) -> Result<bool> {
        let Some(c) = self.voice_states().take(connection_id, expected).await? else {
            return Ok(false);
        };
        if kick {
            self.kick_participant(&c).await;
        }
        if c.announced {
            let mut gone = c.state.clone();
            gone.channel_id = None;
            gone.version = c.state.version + 1;
            self.publish_voice(&c, &gone).await?;
        }
        if let (None, Some(channel)) = (c.state.guild_id, c.state.channel_id) {
            self.call_participants_changed(channel).await?;
        }
        Ok(true)
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
        let scope = VoiceScope::Session {
            user,
            session_id: session_id.to_owned(),
        };
        for c in self.connections_in(scope).await? {
            self.drop_connection(&c.state.connection_id, None, false)
                .await?;
        }
        Ok(())
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
        let mut announce = false;
        let modified = self
            .modify_connection(connection_id, |c| {
                if c.confirmed {
                    return false;
                }
                c.confirmed = true;
                // A switch was announced already; a first join is announced now.
                announce = !c.announced;
                c.announced = true;
                true
            })
            .await?;
        let confirmed = match modified {
            Modified::Missing => return Ok(false),
            Modified::Unchanged(_) => return Ok(true),
            Modified::Changed(c) if announce => c,
            Modified::Changed(_) => return Ok(true),
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
        let mut expired = 0;
        for c in self
            .connections_in(VoiceScope::PendingSince(cutoff))
            .await?
        {
            // Only at the version seen pending: a confirmation in between keeps it.
            if self
                .drop_connection(&c.state.connection_id, Some(c.state.version), false)
                .await?
            {
                expired += 1;
            }
        }
        Ok(expired)
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
                        .await?
                        .is_some_and(|c| c.state.user_id == user && c.room == room)
                {
                    self.confirm_voice_connection(connection).await?;
                }
            }
            VoiceWebhookEvent::ParticipantLeft { room, identity } => {
                // A participant that left the old room of a switch keeps its new state.
                if let Some((user, connection)) = parse_identity(&identity)
                    && let Some(c) = self.voice_connection(connection).await?
                    && c.state.user_id == user
                    && c.room == room
                {
                    // At the version checked: one switched in between stays.
                    self.drop_connection(connection, Some(c.state.version), false)
                        .await?;
                }
            }
            VoiceWebhookEvent::RoomFinished { room } => {
                let scope = parse_room(&room).map_or(VoiceScope::All, VoiceScope::Channel);
                for c in self.connections_in(scope).await? {
                    if c.room == room {
                        self.drop_connection(&c.state.connection_id, Some(c.state.version), false)
                            .await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The announced voice states of a guild (for `GUILD_CREATE`), from every node's sessions.
    pub async fn guild_voice_states(&self, guild: GuildId) -> Result<Vec<VoiceState>> {
        if !self.voice_configured() {
            return Ok(Vec::new());
        }
        Ok(self
            .connections_in(VoiceScope::Guild(guild))
            .await?
            .into_iter()
            .filter(|c| c.announced)
            .map(|c| c.state)
            .collect())
    }

    /// The connections to a DM call, with whether each was announced.
    pub(crate) async fn call_participants(
        &self,
        channel: ChannelId,
    ) -> Result<Vec<(VoiceState, bool)>> {
        Ok(self
            .connections_in(VoiceScope::Channel(channel))
            .await?
            .into_iter()
            .filter(|c| c.state.guild_id.is_none())
            .map(|c| (c.state, c.announced))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::regions::angular_distance;
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
    fn rooms_read_back() {
        let (g, c) = (GuildId::new(7), ChannelId::new(9));
        assert_eq!(parse_room(&room_name(Some(g), c)), Some(c));
        assert_eq!(parse_room(&room_name(None, c)), Some(c));
        assert_eq!(parse_room("guild_7_lobby"), None);
        assert_eq!(parse_room("dm_channel_x"), None);
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
    fn a_camera_caps_the_user_limit_at_upstreams_25() {
        assert_eq!(effective_user_limit(0, false), 0);
        assert_eq!(effective_user_limit(0, true), VOICE_CAMERA_USER_LIMIT);
        assert_eq!(effective_user_limit(10, true), 10);
        assert_eq!(effective_user_limit(99, false), 99);
        assert_eq!(effective_user_limit(99, true), VOICE_CAMERA_USER_LIMIT);
    }

    #[test]
    fn the_nearest_region_is_the_closest_on_the_sphere() {
        let paris = (48.85, 2.35);
        let nyc = (40.71, -74.0);
        let frankfurt = (50.11, 8.68);
        assert!(angular_distance(paris, frankfurt) < angular_distance(paris, nyc));
    }
}
