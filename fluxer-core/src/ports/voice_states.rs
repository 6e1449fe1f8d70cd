//! Where voice connections are kept: in this process for one node ([`InProcessVoiceStates`]), or
//! where presence lives (Redis) when several nodes share them. A join seen by one gateway node must
//! be confirmable by a LiveKit webhook that lands on another, listed in another's `GUILD_CREATE`, and
//! reachable by a moderator's request on an API node.
//!
//! Every write is a compare-and-set on the connection's `version` (bumped on every change, as
//! upstream's voice states are), and removal hands the record to one caller only, so two nodes that
//! race (both expiring the same pending join, say) act once.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ParticipantRights, PortResult};
use crate::id::{ChannelId, GuildId, UserId};
use crate::model::VoiceState;

/// One voice connection's full record: what clients see, and what the server needs to talk to
/// LiveKit about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceConnection {
    /// The state as dispatched (`member` is filled in when dispatching, never stored).
    pub state: VoiceState,
    /// The LiveKit room.
    pub room: String,
    /// The region of the server it was sent to.
    pub region_id: String,
    /// The LiveKit server it was sent to.
    pub server_id: String,
    /// LiveKit said the participant joined.
    pub confirmed: bool,
    /// Its state was dispatched (a confirmed join, or an unconfirmed switch of a confirmed one).
    pub announced: bool,
    /// When it last became pending (ms since the Unix epoch).
    pub pending_since: i64,
    /// What LiveKit lets it do.
    pub rights: ParticipantRights,
}

/// Which connections [`VoiceStates::list`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoiceScope {
    /// Every connection.
    All,
    /// The connections in a guild's voice channels.
    Guild(GuildId),
    /// The connections in one channel or DM call.
    Channel(ChannelId),
    /// The connections one gateway session made.
    Session {
        /// Whose session.
        user: UserId,
        /// The gateway session.
        session_id: String,
    },
    /// The unconfirmed connections pending since this time or earlier (ms since the Unix epoch).
    PendingSince(i64),
}

impl VoiceScope {
    /// Whether `c` is in this scope.
    pub fn contains(&self, c: &VoiceConnection) -> bool {
        match self {
            VoiceScope::All => true,
            VoiceScope::Guild(g) => c.state.guild_id == Some(*g),
            VoiceScope::Channel(ch) => c.state.channel_id == Some(*ch),
            VoiceScope::Session { user, session_id } => {
                c.state.user_id == *user && c.state.session_id == *session_id
            }
            VoiceScope::PendingSince(at) => !c.confirmed && c.pending_since <= *at,
        }
    }
}

/// The voice connections of the instance (or of this node, when it is alone), by connection id.
#[async_trait]
pub trait VoiceStates: Send + Sync {
    /// The connection, if stored.
    async fn get(&self, connection_id: &str) -> PortResult<Option<VoiceConnection>>;
    /// Stores `connection` if the stored one with its id has version `expected` (`None`: none is
    /// stored). Whether it was written; nothing changes when it was not.
    async fn put(&self, connection: &VoiceConnection, expected: Option<u64>) -> PortResult<bool>;
    /// Removes the connection and returns it, if stored (and, with `expected`, still at that
    /// version). Of callers racing for one connection, one gets it.
    async fn take(
        &self,
        connection_id: &str,
        expected: Option<u64>,
    ) -> PortResult<Option<VoiceConnection>>;
    /// The connections in `scope`, in no particular order.
    async fn list(&self, scope: &VoiceScope) -> PortResult<Vec<VoiceConnection>>;
    /// How many connections are stored.
    async fn count(&self) -> PortResult<usize>;
}

/// [`VoiceStates`] in this process: the single node's (and the embedded default's) store. One lock
/// never held across an `.await`.
#[derive(Debug, Default)]
pub struct InProcessVoiceStates {
    connections: Mutex<HashMap<String, VoiceConnection>>,
}

impl InProcessVoiceStates {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, VoiceConnection>> {
        // Every statement leaves the map consistent: a panic elsewhere does not spoil it.
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl VoiceStates for InProcessVoiceStates {
    async fn get(&self, connection_id: &str) -> PortResult<Option<VoiceConnection>> {
        Ok(self.locked().get(connection_id).cloned())
    }

    async fn put(&self, connection: &VoiceConnection, expected: Option<u64>) -> PortResult<bool> {
        let mut map = self.locked();
        let stored = map
            .get(&connection.state.connection_id)
            .map(|c| c.state.version);
        if stored != expected {
            return Ok(false);
        }
        map.insert(connection.state.connection_id.clone(), connection.clone());
        Ok(true)
    }

    async fn take(
        &self,
        connection_id: &str,
        expected: Option<u64>,
    ) -> PortResult<Option<VoiceConnection>> {
        let mut map = self.locked();
        match map.get(connection_id) {
            Some(c) if expected.is_none_or(|v| v == c.state.version) => {
                Ok(map.remove(connection_id))
            }
            _ => Ok(None),
        }
    }

    async fn list(&self, scope: &VoiceScope) -> PortResult<Vec<VoiceConnection>> {
        Ok(self
            .locked()
            .values()
            .filter(|c| scope.contains(c))
            .cloned()
            .collect())
    }

    async fn count(&self) -> PortResult<usize> {
        Ok(self.locked().len())
    }
}
