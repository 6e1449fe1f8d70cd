//! Voice states: who is connected to which voice channel or call, with which flags.

use serde::{Deserialize, Serialize};

use super::MemberResponse;
use crate::id::{ChannelId, GuildId, UserId};

/// A voice connection's state as clients see it (`VOICE_STATE_UPDATE`, `voice_states` in
/// `GUILD_CREATE`). `channel_id: null` announces that the connection left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceState {
    /// The guild; absent for DM and group-DM calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<GuildId>,
    /// The voice channel or call; `None` once left.
    pub channel_id: Option<ChannelId>,
    /// Who.
    pub user_id: UserId,
    /// The connection (one per client joining; a user may have several).
    pub connection_id: String,
    /// The gateway session that joined.
    pub session_id: String,
    /// The member, in guilds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberResponse>,
    /// Muted by a moderator.
    pub mute: bool,
    /// Deafened by a moderator.
    pub deaf: bool,
    /// Muted by themselves.
    pub self_mute: bool,
    /// Deafened by themselves.
    pub self_deaf: bool,
    /// Camera on.
    pub self_video: bool,
    /// Sharing their screen.
    pub self_stream: bool,
    /// On a phone.
    pub is_mobile: bool,
    /// The streams this connection watches.
    pub viewer_stream_keys: Vec<String>,
    /// Bumped on every change, so clients drop stale updates.
    pub version: u64,
}
