//! The wire protocol: opcodes, close codes and frames (JSON text frames, upstream's v1).

use serde::Deserialize;
use serde_json::Value;

/// Opcodes.
pub mod op {
    /// Server -> client: an event, named by `t`, numbered by `s`, with its data in `d`.
    pub const DISPATCH: u8 = 0;
    /// Client -> server: keeps the connection alive, every `heartbeat_interval` ms. `d` is the last
    /// sequence number received (or null) and acknowledges the dispatches up to it. Answered with
    /// `HEARTBEAT_ACK`.
    pub const HEARTBEAT: u8 = 1;
    /// Client -> server: starts a new session with a token (see `Identify`); answered with `READY`.
    pub const IDENTIFY: u8 = 2;
    /// Client -> server: sets the session's status, AFK flag and custom status (see
    /// `PresenceUpdate`).
    pub const PRESENCE_UPDATE: u8 = 3;
    /// Client -> server: joins, moves between or leaves voice channels, or changes self mute, deaf,
    /// video and stream flags.
    pub const VOICE_STATE_UPDATE: u8 = 4;
    /// Client -> server: reattaches a dropped session (see `Resume`), replaying the dispatches
    /// after `seq`, then `RESUMED`.
    pub const RESUME: u8 = 6;
    /// Server -> client: reconnect and RESUME. Sent here when the server is shutting down.
    pub const RECONNECT: u8 = 7;
    /// Client -> server: asks for a guild's members (see `RequestMembers`), answered with
    /// `GUILD_MEMBERS_CHUNK` dispatches.
    pub const REQUEST_GUILD_MEMBERS: u8 = 8;
    /// Server -> client: the RESUME failed; `d` says whether the session is resumable (always
    /// `false` here), so the client must IDENTIFY anew.
    pub const INVALID_SESSION: u8 = 9;
    /// Server -> client: the first frame of a connection; `d.heartbeat_interval` is in
    /// milliseconds.
    pub const HELLO: u8 = 10;
    /// Server -> client: the answer to a `HEARTBEAT`.
    pub const HEARTBEAT_ACK: u8 = 11;
    /// Server -> client: a request the client made (a voice state update) was refused; `d` is
    /// `{code, message}` with upstream's `VOICE_*` codes. The connection stays open.
    pub const GATEWAY_ERROR: u8 = 12;
    /// Client -> server: Fluxer's subscription to lazily loaded guild data (member list ranges).
    /// Accepted after IDENTIFY and otherwise ignored by this server.
    pub const LAZY_REQUEST: u8 = 14;
}

/// Close codes (upstream's, including 4013).
pub mod close {
    /// Something went wrong (here also: the client read too slowly, or the server is restarting).
    /// Resumable.
    pub const UNKNOWN_ERROR: u16 = 4000;
    /// The client sent an opcode the server does not handle. Resumable.
    pub const UNKNOWN_OPCODE: u16 = 4001;
    /// The client sent a payload that cannot be decoded: not JSON, a binary frame, too large, or
    /// the wrong shape. Resumable.
    pub const DECODE_ERROR: u16 = 4002;
    /// The client sent a payload that needs a session before IDENTIFY or RESUME. Reconnectable.
    pub const NOT_AUTHENTICATED: u16 = 4003;
    /// The token is invalid (or the resumed session belongs to someone else). Not resumable: do
    /// not reconnect with the same token.
    pub const AUTHENTICATION_FAILED: u16 = 4004;
    /// The client sent IDENTIFY or RESUME on a connection that already has a session. Resumable.
    pub const ALREADY_AUTHENTICATED: u16 = 4005;
    /// The RESUME's `seq` is one the server never sent. Reconnect, but IDENTIFY a new session: this
    /// one cannot be resumed from that sequence.
    pub const INVALID_SEQ: u16 = 4007;
    /// The client sent frames too fast (`rate_limit_frames` per `rate_window_ms`), or started too
    /// many sessions today. Resumable, after slowing down.
    pub const RATE_LIMITED: u16 = 4008;
    /// The session timed out: no heartbeat or no IDENTIFY in time, or the session ended.
    /// Reconnectable; upstream says to start a new session rather than resume.
    pub const SESSION_TIMEOUT: u16 = 4009;
    /// The `v` query parameter names a gateway version other than 1. Not resumable: fix the URL
    /// before reconnecting.
    pub const INVALID_API_VERSION: u16 = 4012;
    /// Fluxer's code (Discord's 4013 is "invalid intents"): the client fell too far behind
    /// acknowledging dispatches. Resumable. This server does not send it.
    pub const ACK_BACKPRESSURE: u16 = 4013;
}

/// A frame from the client.
#[derive(Debug, Deserialize)]
pub(crate) struct Inbound {
    pub op: u8,
    #[serde(default)]
    pub d: Value,
}

/// A non-dispatch frame to the client.
pub(crate) fn frame(op: u8, d: &Value) -> String {
    serde_json::json!({ "op": op, "d": d }).to_string()
}

/// A dispatch frame, splicing the pre-serialized payload without parsing it again.
pub(crate) fn dispatch_frame(event: &str, seq: u64, payload: &str) -> String {
    let mut out = String::with_capacity(payload.len() + event.len() + 40);
    out.push_str("{\"op\":0,\"t\":\"");
    out.push_str(event);
    out.push_str("\",\"s\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"d\":");
    out.push_str(payload);
    out.push('}');
    out
}

/// `IDENTIFY`'s data.
#[derive(Debug, Deserialize)]
pub(crate) struct Identify {
    pub token: String,
    pub properties: Value,
    #[serde(default)]
    pub presence: Option<PresenceUpdate>,
    #[serde(default)]
    pub ignored_events: Vec<String>,
    /// Guilds with more members than this come without their presences (50 to 250; 250).
    #[serde(default)]
    pub large_threshold: Option<u64>,
}

/// `RESUME`'s data.
#[derive(Debug, Deserialize)]
pub(crate) struct Resume {
    pub token: String,
    pub session_id: String,
    pub seq: Option<u64>,
}

/// `PRESENCE_UPDATE`'s data.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PresenceUpdate {
    pub status: String,
    #[serde(default)]
    pub afk: bool,
    #[serde(default)]
    pub mobile: bool,
    #[serde(default)]
    pub custom_status: Option<Value>,
}

/// `REQUEST_GUILD_MEMBERS`'s data.
#[derive(Debug, Deserialize)]
pub(crate) struct RequestMembers {
    pub guild_id: fluxer_core::id::GuildId,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub user_ids: Option<Vec<fluxer_core::id::UserId>>,
    #[serde(default)]
    pub presences: bool,
    #[serde(default)]
    pub nonce: Option<String>,
}

/// `VOICE_STATE_UPDATE`'s data (op 4). Wrong types are a decode error (4002).
#[derive(Debug, Deserialize)]
pub(crate) struct VoiceStateUpdate {
    #[serde(default)]
    pub guild_id: Option<fluxer_core::id::GuildId>,
    #[serde(default)]
    pub channel_id: Option<fluxer_core::id::ChannelId>,
    #[serde(default)]
    pub connection_id: Option<String>,
    #[serde(default)]
    pub self_mute: bool,
    #[serde(default)]
    pub self_deaf: bool,
    #[serde(default)]
    pub self_video: bool,
    #[serde(default)]
    pub self_stream: bool,
    #[serde(default)]
    pub is_mobile: bool,
    #[serde(default)]
    pub viewer_stream_keys: Option<Vec<String>>,
    #[serde(default)]
    pub latitude: Option<Coordinate>,
    #[serde(default)]
    pub longitude: Option<Coordinate>,
}

/// A latitude or longitude, sent as a number or a string.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Coordinate {
    Number(f64),
    Text(String),
}

impl Coordinate {
    pub(crate) fn value(&self) -> Option<f64> {
        let v = match self {
            Coordinate::Number(n) => *n,
            Coordinate::Text(t) => t.trim().parse().ok()?,
        };
        v.is_finite().then_some(v)
    }
}

impl VoiceStateUpdate {
    pub(crate) fn into_request(self) -> fluxer_core::service::VoiceStateRequest {
        fluxer_core::service::VoiceStateRequest {
            guild_id: self.guild_id,
            channel_id: self.channel_id,
            connection_id: self.connection_id,
            self_mute: self.self_mute,
            self_deaf: self.self_deaf,
            self_video: self.self_video,
            self_stream: self.self_stream,
            is_mobile: self.is_mobile,
            viewer_stream_keys: self.viewer_stream_keys.unwrap_or_default(),
            latitude: self.latitude.as_ref().and_then(Coordinate::value),
            longitude: self.longitude.as_ref().and_then(Coordinate::value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_frames_are_valid_json() {
        let f = dispatch_frame(
            fluxer_core::ports::EventKind::MessageCreate.as_str(),
            7,
            r#"{"id":"1"}"#,
        );
        let v: Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["op"], 0);
        assert_eq!(v["t"], "MESSAGE_CREATE");
        assert_eq!(v["s"], 7);
        assert_eq!(v["d"]["id"], "1");
    }
}
