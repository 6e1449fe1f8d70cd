use async_trait::async_trait;

use super::PortResult;

/// An atproto OAuth flow begun: where to send the user, and what its end needs (opaque to the
/// domain, which keeps it under the flow's `state` until the callback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueskyStart {
    /// The authorization server's page the user approves the connection at.
    pub authorize_url: String,
    /// The client's memory of the flow (keys, verifier, endpoints), for [`BlueskyOAuth::finish`].
    pub context: String,
}

/// A Bluesky account proven through OAuth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueskyIdentity {
    /// Its DID (`did:plc:...`), which does not change.
    pub did: String,
    /// Its handle (`alice.bsky.social`), which may.
    pub handle: String,
}

/// Bluesky's atproto OAuth, as a client of the user's own server: what links a `bsky`
/// connection. The domain checks input, keeps flows in progress and stores connections; an
/// implementation speaks the protocol. It never reaches a private, loopback or link-local address
/// (unless its operator allowed one, as tests do).
#[async_trait]
pub trait BlueskyOAuth: Send + Sync {
    /// The client metadata document authorization servers fetch (at the client ID).
    fn client_metadata(&self) -> serde_json::Value;
    /// The public keys client assertions are signed with (a JWK set).
    fn jwks(&self) -> serde_json::Value;
    /// Begins authorizing the account of `handle`, the callback to carry `state`.
    async fn start(&self, handle: &str, state: &str) -> PortResult<BlueskyStart>;
    /// Ends the flow `context` describes with the callback's `code` and `issuer` (`iss`).
    async fn finish(&self, context: &str, code: &str, issuer: &str) -> PortResult<BlueskyIdentity>;
    /// The handle `did` goes by now, when its document and the handle agree; `None` otherwise.
    async fn current_handle(&self, did: &str) -> Option<String>;
}
