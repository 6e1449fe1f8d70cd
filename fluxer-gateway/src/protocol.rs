//! The wire protocol: opcodes, close codes and frames (JSON text frames, upstream's v1).

use serde::Deserialize;
use serde_json::Value;

/// Opcodes.
pub mod op {
    pub const DISPATCH: u8 = 0;
    pub const HEARTBEAT: u8 = 1;
    pub const IDENTIFY: u8 = 2;
    pub const PRESENCE_UPDATE: u8 = 3;
    pub const VOICE_STATE_UPDATE: u8 = 4;
    pub const RESUME: u8 = 6;
    pub const RECONNECT: u8 = 7;
    pub const REQUEST_GUILD_MEMBERS: u8 = 8;
    pub const INVALID_SESSION: u8 = 9;
    pub const HELLO: u8 = 10;
    pub const HEARTBEAT_ACK: u8 = 11;
    pub const LAZY_REQUEST: u8 = 14;
}

/// Close codes (upstream's, including 4013).
pub mod close {
    pub const UNKNOWN_ERROR: u16 = 4000;
    pub const UNKNOWN_OPCODE: u16 = 4001;
    pub const DECODE_ERROR: u16 = 4002;
    pub const NOT_AUTHENTICATED: u16 = 4003;
    pub const AUTHENTICATION_FAILED: u16 = 4004;
    pub const ALREADY_AUTHENTICATED: u16 = 4005;
    pub const INVALID_SEQ: u16 = 4007;
    pub const RATE_LIMITED: u16 = 4008;
    pub const SESSION_TIMEOUT: u16 = 4009;
    pub const INVALID_API_VERSION: u16 = 4012;
    pub const ACK_BACKPRESSURE: u16 = 4013;
}

/// A frame from the client.
#[derive(Debug, Deserialize)]
pub struct Inbound {
    pub op: u8,
    #[serde(default)]
    pub d: Value,
}

/// A non-dispatch frame to the client.
pub fn frame(op: u8, d: &Value) -> String {
    serde_json::json!({ "op": op, "d": d }).to_string()
}

/// A dispatch frame, splicing the pre-serialized payload without parsing it again.
pub fn dispatch_frame(event: &str, seq: u64, payload: &str) -> String {
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
pub struct Identify {
    pub token: String,
    pub properties: Value,
    #[serde(default)]
    pub presence: Option<PresenceUpdate>,
    #[serde(default)]
    pub ignored_events: Vec<String>,
}

/// `RESUME`'s data.
#[derive(Debug, Deserialize)]
pub struct Resume {
    pub token: String,
    pub session_id: String,
    pub seq: Option<u64>,
}

/// `PRESENCE_UPDATE`'s data.
#[derive(Debug, Clone, Deserialize)]
pub struct PresenceUpdate {
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
pub struct RequestMembers {
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
