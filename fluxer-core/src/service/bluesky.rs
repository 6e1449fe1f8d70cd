//! Bluesky connections: the atproto OAuth flow behind `bsky` connections, as upstream. The
//! [`BlueskyOAuth`] port speaks the protocol; here the handle is checked, the flow in progress is
//! kept for an hour in the [`Cache`] port under its `state` (single use), and the account the
//! callback proves is linked (or its handle refreshed).
//!
//! [`BlueskyOAuth`]: crate::ports::BlueskyOAuth
//! [`Cache`]: crate::ports::Cache

use serde_json::json;

use super::connections::{
    Connection, ConnectionType, EVERYONE, MAX_CONNECTIONS, Stored, already_connected,
    bluesky_not_enabled, domain_name, limit_reached,
};
use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{Snowflake, UserId};
use crate::secret::random_hex;
use crate::validation::Validator;

/// How long a Bluesky authorization may take (upstream keeps its state an hour).
const BLUESKY_FLOW_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

fn bluesky_state_key(state: &str) -> String {
    format!("bsky:oauth:state:{state}")
}

/// A handle as typed: without `@` or the `https://bsky.app/profile/` in front, lower-case.
fn bluesky_handle(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let bare = ["https://bsky.app/profile/", "http://bsky.app/profile/"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    bare.trim_start_matches('@')
        .trim_end_matches('/')
        .to_owned()
}

impl Fluxer {
    /// `POST /users/@me/connections/bluesky/authorize`: starts linking the Bluesky account of
    /// `handle` (a handle, `@handle` or its `bsky.app` profile URL) and returns where to send the
    /// user. The flow is kept for an hour under its `state`.
    pub async fn authorize_bluesky(&self, actor: &Actor, handle: Option<&str>) -> Result<String> {
        actor.require_person("Bots have no connections.")?;
        let mut v = Validator::new();
        let raw = handle.map(str::trim).unwrap_or_default();
        if raw.is_empty() {
            v.error("handle", "BASE_TYPE_REQUIRED", "This field is required.");
        } else {
            v.length("handle", raw, 1, 253);
        }
        v.finish()?;
        let oauth = self
            .ports()
            .bluesky
            .clone()
            .ok_or_else(bluesky_not_enabled)?;
        // A handle is a domain name.
        let handle = domain_name(&bluesky_handle(raw)).ok_or_else(|| {
            Error::field(
                "handle",
                "INVALID_HANDLE",
                "Give a handle such as alice.bsky.social.",
            )
        })?;
        if self
            .stored_connections(actor.id())
            .await?
            .iter()
            .any(|(_, c)| {
                c.public.kind == ConnectionType::Bluesky
                    && c.public.name.eq_ignore_ascii_case(&handle)
            })
        {
            return Err(already_connected());
        }
        let state = random_hex(16);
        // The adapter logs why; the caller learns that it failed.
        let started = oauth.start(&handle, &state).await.map_err(|_| {
            Error::rejected(
                "BLUESKY_OAUTH_AUTHORIZATION_FAILED",
                "The Bluesky authorization could not be started.",
            )
        })?;
        let pending = json!({ "user_id": actor.id(), "context": started.context }).to_string();
        self.ports()
            .cache
            .set(
                &bluesky_state_key(&state),
                pending.as_bytes(),
                Some(BLUESKY_FLOW_TTL),
            )
            .await?;
        Ok(started.authorize_url)
    }

    /// `GET /connections/bluesky/callback`: ends a flow with the authorization server's answer
    /// and links (or refreshes) the account. `Err` names why it failed, as upstream's redirect
    /// does (`not_enabled`, `state_invalid`, `callback_failed`, `unknown`).
    pub async fn complete_bluesky(
        &self,
        state: Option<&str>,
        code: Option<&str>,
        issuer: Option<&str>,
    ) -> std::result::Result<(), &'static str> {
        let oauth = self.ports().bluesky.clone().ok_or("not_enabled")?;
        let state = state
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or("state_invalid")?;
        let key = bluesky_state_key(state);
        let cache = &self.ports().cache;
        let pending = cache.get(&key).await.map_err(|_| "unknown")?;
        // Single use: only the request that removes the flow goes on.
        if !cache.delete(&key).await.map_err(|_| "unknown")? {
            return Err("state_invalid");
        }
        let pending: serde_json::Value = pending
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or("state_invalid")?;
        let user: UserId =
            serde_json::from_value(pending["user_id"].clone()).map_err(|_| "state_invalid")?;
        let context = pending["context"].as_str().ok_or("state_invalid")?;
        let identity = oauth
            .finish(
                context,
                code.unwrap_or_default(),
                issuer.unwrap_or_default(),
            )
            .await
            .map_err(|_| "callback_failed")?;
        self.link_bluesky(user, &identity.did, &identity.handle)
            .await
            .map_err(|_| "unknown")
    }

    /// The client metadata and key set authorization servers read, when Bluesky is on.
    pub fn bluesky_client_documents(&self) -> Option<(serde_json::Value, serde_json::Value)> {
        let oauth = self.ports().bluesky.as_ref()?;
        Some((oauth.client_metadata(), oauth.jwks()))
    }

    /// Creates the `bsky` connection of `did` for `user`, or refreshes its handle and proof.
    async fn link_bluesky(&self, user: UserId, did: &str, handle: &str) -> Result<()> {
        let stored = self.stored_connections(user).await?;
        let now = self.now();
        let existing = stored
            .iter()
            .find(|(_, c)| c.public.kind == ConnectionType::Bluesky && c.identifier == did);
        let (key, connection) = match existing {
            Some((key, c)) => {
                let mut c = c.clone();
                c.public.name = handle.to_owned();
                c.public.verified = true;
                c.verified_at = c.verified_at.or(Some(now));
                c.last_verified_at = Some(now);
                (*key, c)
            }
            None => {
                if stored.len() >= MAX_CONNECTIONS {
                    return Err(limit_reached());
                }
                let id: Snowflake = self.next_id();
                let c = Stored {
                    public: Connection {
                        id: id.0.to_string(),
                        kind: ConnectionType::Bluesky,
                        name: handle.to_owned(),
                        verified: true,
                        visibility_flags: EVERYONE,
                        sort_order: i32::try_from(stored.len()).unwrap_or(i32::MAX),
                    },
                    identifier: did.to_owned(),
                    verification_token: String::new(),
                    created_at: now,
                    verified_at: Some(now),
                    last_verified_at: Some(now),
                };
                (id.0, c)
            }
        };
        self.put_connection(user, key, &connection).await?;
        self.connections_changed(user).await
    }
}
