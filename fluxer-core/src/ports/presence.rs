use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;
use crate::id::UserId;
use crate::time::Timestamp;

/// A user's visible status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Connected and active.
    Online,
    /// Connected but away.
    Idle,
    /// Do not disturb.
    Dnd,
    /// Connected but shown to others as offline (see [`Status::public`]); stored as is.
    Invisible,
    /// Not connected: what a user without a live session gets.
    Offline,
}

impl Status {
    /// What others see: invisible users appear offline.
    pub fn public(self) -> Status {
        match self {
            Status::Invisible => Status::Offline,
            other => other,
        }
    }
}

/// A user's aggregated presence across sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceEntry {
    /// Whose presence this is.
    pub user_id: UserId,
    /// The status the user set; [`Status::Offline`] when no session is live.
    pub status: Status,
    /// Whether the client reports the user away from keyboard.
    pub afk: bool,
    /// Whether the session is on a mobile client.
    pub mobile: bool,
    /// The custom status object as the client sent it (text, emoji), stored and returned unchanged.
    pub custom_status: Option<serde_json::Value>,
    /// When the user was last connected (now, while online; when the last session was removed or
    /// lapsed, once offline; `None` if never seen).
    pub last_seen: Option<Timestamp>,
}

/// Who is online, per gateway session.
#[async_trait]
pub trait Presence: Send + Sync {
    /// Records or refreshes one session's presence. The session lapses after `ttl_ms` without a refresh
    /// (a dead node's sessions expire on their own). A refresh with an unchanged status, `afk`, `mobile`
    /// and custom status is a heartbeat, not an update: it does not make the session the most recent.
    async fn set_session(
        &self,
        user: UserId,
        session_id: &str,
        entry: &PresenceEntry,
        now: Timestamp,
        ttl_ms: u64,
    ) -> PortResult<()>;
    /// Removes one session; returns the user's aggregated presence afterwards.
    async fn remove_session(
        &self,
        user: UserId,
        session_id: &str,
        now: Timestamp,
    ) -> PortResult<PresenceEntry>;
    /// The user's aggregated presence: the most recently updated live session's, or offline (not afk, not
    /// mobile, no custom status). Sessions are live while `now` is before their last refresh + `ttl_ms`.
    async fn get_presence(&self, user: UserId, now: Timestamp) -> PortResult<PresenceEntry>;
    /// [`Presence::get_presence`] of each of `users`, in their order. Adapters answer in one round
    /// trip where they can; this default asks one user at a time.
    async fn get_presences(
        &self,
        users: &[UserId],
        now: Timestamp,
    ) -> PortResult<Vec<PresenceEntry>> {
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            out.push(self.get_presence(*user, now).await?);
        }
        Ok(out)
    }
}
