//! The shared session registry: what another node needs to take over a session whose node died.
//!
//! On a bus with positions, every session keeps a record at `gw:session:{session_id}` in the
//! [`Cache`] port (Redis in a cluster): the user, a SHA-256 of the token that identified (never the
//! token), the ignored events, the presence, and the node that holds it. Its TTL is the resume window
//! plus a heartbeat interval, refreshed on heartbeats and when the socket drops, so the record outlives
//! a dead node by at least the resume window. A clean end deletes it, unless another node has taken
//! the session over since.

use std::sync::Arc;
use std::time::Duration;

use fluxer_core::id::UserId;
use fluxer_core::ports::{Cache, PresenceEntry};
use serde::{Deserialize, Serialize};

/// A session as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub user_id: UserId,
    /// Hex SHA-256 of the token the session identified with.
    pub token_hash: String,
    pub ignored_events: Vec<String>,
    pub presence: PresenceEntry,
    /// The node holding the session (random per gateway instance).
    pub node: String,
}

fn key(session_id: &str) -> String {
    format!("gw:session:{session_id}")
}

/// The hex SHA-256 of a token, as records keep it.
pub(crate) fn token_hash(token: &str) -> String {
    fluxer_core::service::hash_token(token)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether two hashes are equal, in time independent of where they differ.
pub(crate) fn same_hash(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |diff, (x, y)| diff | (x ^ y))
            == 0
}

/// The registry on a cache.
#[derive(Clone)]
pub(crate) struct Registry {
    pub cache: Arc<dyn Cache>,
    pub ttl: Duration,
}

impl Registry {
    pub(crate) async fn save(&self, session_id: &str, record: &SessionRecord) {
        let Ok(value) = serde_json::to_vec(record) else {
            return;
        };
        if let Err(e) = self
            .cache
            .set(&key(session_id), &value, Some(self.ttl))
            .await
        {
            tracing::warn!(error = %fluxer_core::error::chain(&e), "could not record a session for other nodes");
        }
    }

    pub(crate) async fn load(&self, session_id: &str) -> Option<SessionRecord> {
        let value = self.cache.get(&key(session_id)).await.ok()??;
        serde_json::from_slice(&value).ok()
    }

    /// Deletes the record if `node` still holds the session (a get then a delete: a takeover in
    /// between loses its record, and then cannot move again).
    pub(crate) async fn remove(&self, session_id: &str, node: &str) {
        if self
            .load(session_id)
            .await
            .is_some_and(|record| record.node == node)
        {
            let _ = self.cache.delete(&key(session_id)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_compare_whole() {
        let h = token_hash("secret");
        assert_eq!(h.len(), 64);
        assert!(same_hash(&h, &token_hash("secret")));
        assert!(!same_hash(&h, &token_hash("secret2")));
        assert!(!same_hash(&h, &h[..63]));
    }
}
