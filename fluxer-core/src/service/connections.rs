//! Connections: accounts elsewhere a user has proven to be theirs, shown on their profile, as
//! upstream. Two types exist: `domain` (a DNS name the user controls) and `bsky` (a Bluesky
//! account, linked through atproto OAuth by the [`BlueskyOAuth`] port: `authorize` sends the user
//! to their server, whose callback links the account; without the port the `bsky` routes answer
//! `BLUESKY_OAUTH_NOT_ENABLED`, upstream's answer when the integration is off).
//!
//! A domain is proven in two steps. `POST /users/@me/connections` hands out a random token and a
//! signed *initiation token* (which names the user, the domain and the token, for 30 minutes) and
//! stores nothing; the user publishes the token, either as the TXT record
//! `_fluxer.{domain}` = `fluxer-verification={token}` or as the body of
//! `https://{domain}/.well-known/fluxer-verification`; then `POST /users/@me/connections/verify`
//! with the initiation token looks (through the [`DomainProbe`] port) and creates the connection.
//! `POST .../{type}/{id}/verify` looks again later: a domain that stopped publishing the token
//! reads as unverified until it does again.
//!
//! Each connection has visibility flags (`EVERYONE`, `FRIENDS`, `MUTUAL_GUILDS`) and a sort order;
//! profiles show a user's verified connections to whoever the flags admit (all of them to the user
//! themselves). At most [`MAX_CONNECTIONS`] per user. Every change reaches the user's sessions as
//! `USER_CONNECTIONS_UPDATE {connections}`. Stored as private documents of the user, keyed by the
//! connection's snowflake (which is also its ID).
//!
//! [`DomainProbe`]: crate::ports::DomainProbe
//! [`BlueskyOAuth`]: crate::ports::BlueskyOAuth

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;

use super::{Actor, Fluxer};
use crate::error::{Error, Result};
use crate::id::{Snowflake, UserId};
use crate::model::RelationshipType;
use crate::ports::{Dispatch, EventKind, PrivateDocument, Topic};
use crate::secret::{random_hex, secrets_equal};
use crate::time::Timestamp;
use crate::validation::Validator;

/// Connections one user may have (upstream's number).
pub const MAX_CONNECTIONS: usize = 20;
/// How long an initiation token is good for (upstream: 30 minutes).
const INITIATION_TTL_MS: i64 = 30 * 60 * 1000;
/// Random bytes in a verification token (64 hex characters, as upstream).
const TOKEN_BYTES: usize = 32;
/// Visibility: anyone who can see the profile.
pub(super) const EVERYONE: u32 = 1 << 0;
/// Visibility: friends.
const FRIENDS: u32 = 1 << 1;
/// Visibility: members of a guild in common.
const MUTUAL_GUILDS: u32 = 1 << 2;
/// Every visibility flag.
const ALL_FLAGS: u32 = EVERYONE | FRIENDS | MUTUAL_GUILDS;

/// The kinds of account a connection links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ConnectionType {
    /// A Bluesky account (`bsky`), proven through atproto OAuth.
    #[serde(rename = "bsky")]
    Bluesky,
    /// A domain name (`domain`), proven through DNS or a well-known file.
    #[serde(rename = "domain")]
    Domain,
}

impl ConnectionType {
    /// The wire name (`bsky`, `domain`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Bluesky => "bsky",
            ConnectionType::Domain => "domain",
        }
    }

    /// The type named `name`; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "bsky" => Some(ConnectionType::Bluesky),
            "domain" => Some(ConnectionType::Domain),
            _ => None,
        }
    }
}

/// A connection as clients see it (upstream's `ConnectionResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    /// Its ID.
    pub id: String,
    /// What it links.
    #[serde(rename = "type")]
    pub kind: ConnectionType,
    /// The handle or domain shown.
    pub name: String,
    /// Whether the proof held the last time it was checked.
    pub verified: bool,
    /// Who may see it (`EVERYONE` 1, `FRIENDS` 2, `MUTUAL_GUILDS` 4).
    pub visibility_flags: u32,
    /// Where it is listed, ascending.
    pub sort_order: i32,
}

/// A connection as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Stored {
    #[serde(flatten)]
    pub(super) public: Connection,
    /// The domain (or DID) proven, lower-case.
    pub(super) identifier: String,
    /// What the domain publishes.
    pub(super) verification_token: String,
    pub(super) created_at: Timestamp,
    pub(super) verified_at: Option<Timestamp>,
    pub(super) last_verified_at: Option<Timestamp>,
}

/// `POST /users/@me/connections`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectionCreate {
    /// `domain` (or `bsky`, which needs OAuth).
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The domain, 1 to 253 characters.
    #[serde(default)]
    pub identifier: Option<String>,
    /// Ignored here, as upstream: given again when verifying.
    #[serde(default)]
    pub visibility_flags: Option<i64>,
}

/// What `POST /users/@me/connections` answers (upstream's `ConnectionVerificationResponse`).
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionVerification {
    /// The value to publish.
    pub token: String,
    /// The connection's type.
    #[serde(rename = "type")]
    pub kind: ConnectionType,
    /// The domain.
    pub id: String,
    /// Where to publish the token, for people.
    pub instructions: String,
    /// To send back to `POST /users/@me/connections/verify`.
    pub initiation_token: String,
}

/// `PATCH /users/@me/connections/{type}/{id}`: absent fields are left alone.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectionUpdate {
    /// Who may see it, 0 to 7.
    #[serde(default)]
    pub visibility_flags: Option<i64>,
    /// Where it is listed.
    #[serde(default)]
    pub sort_order: Option<i64>,
}

/// What an initiation token carries (upstream's payload names).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Initiation {
    user_id: String,
    #[serde(rename = "type")]
    kind: ConnectionType,
    identifier: String,
    verification_code: String,
    expires_at: i64,
}

fn not_found() -> Error {
    Error::Unknown(crate::error::Unknown::Connection)
}

pub(super) fn bluesky_not_enabled() -> Error {
    Error::rejected(
        "BLUESKY_OAUTH_NOT_ENABLED",
        "Bluesky connections are not enabled on this instance.",
    )
}

pub(super) fn limit_reached() -> Error {
    Error::Throttled {
        code: "CONNECTION_LIMIT_REACHED",
        message: format!("At most {MAX_CONNECTIONS} connections."),
    }
}

pub(super) fn already_connected() -> Error {
    Error::Conflict {
        code: "CONNECTION_ALREADY_EXISTS",
        message: "This account is already connected.".to_owned(),
    }
}

fn verification_failed() -> Error {
    Error::forbidden(
        "CONNECTION_VERIFICATION_FAILED",
        "The verification token was not found on the domain.",
    )
}

fn token_invalid() -> Error {
    Error::rejected(
        "CONNECTION_INITIATION_TOKEN_INVALID",
        "The initiation token is invalid or has expired.",
    )
}

/// Checks visibility flags into `v`; upstream's normalisation keeps the three flags.
fn visibility(v: &mut Validator, flags: Option<i64>) -> Option<u32> {
    let flags = flags?;
    v.range("visibility_flags", flags, 0, i64::from(ALL_FLAGS));
    u32::try_from(flags).ok().map(|f| f & ALL_FLAGS)
}

/// A domain in the form it is proven and shown: lower-case ASCII (IDNA for others), without a
/// trailing dot; `None` for anything that is no public DNS name (an address, a single label, a
/// port or path).
pub(super) fn domain_name(input: &str) -> Option<String> {
    let input = input.trim().trim_end_matches('.');
    if input.is_empty() || input.contains(['/', ':', '@', ' ', '?', '#']) {
        return None;
    }
    let url::Host::Domain(ascii) = url::Host::parse(input).ok()? else {
        return None;
    };
    let ascii = ascii.to_ascii_lowercase();
    let labels: Vec<&str> = ascii.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.bytes().any(|b| b.is_ascii_alphabetic()));
    (ascii.len() <= 253 && labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok)
        .then_some(ascii)
}

impl Fluxer {
    /// `GET /users/@me/connections`: by sort order.
    pub async fn connections(&self, actor: &Actor) -> Result<Vec<Connection>> {
        actor.require_person("Bots have no connections.")?;
        Ok(self
            .stored_connections(actor.id())
            .await?
            .into_iter()
            .map(|(_, c)| c.public)
            .collect())
    }

    /// `POST /users/@me/connections`: the token to publish and the initiation token to verify
    /// with. Nothing is stored yet.
    pub async fn initiate_connection(
        &self,
        actor: &Actor,
        req: ConnectionCreate,
    ) -> Result<ConnectionVerification> {
        actor.require_person("Bots have no connections.")?;
        let (kind, identifier) = self.connection_target(&req)?;
        if kind == ConnectionType::Bluesky {
            return Err(bluesky_not_enabled());
        }
        let domain = domain_name(&identifier).ok_or_else(|| {
            Error::rejected(
                "CONNECTION_INVALID_IDENTIFIER",
                "Give a domain name such as example.com.",
            )
        })?;
        self.check_connection_room(actor.id(), kind, &domain)
            .await?;
        let token = random_hex(TOKEN_BYTES);
        let initiation = Initiation {
            user_id: actor.id().to_string(),
            kind,
            identifier: domain.clone(),
            verification_code: token.clone(),
            expires_at: self.now().unix_ms().saturating_add(INITIATION_TTL_MS),
        };
        Ok(ConnectionVerification {
            instructions: format!(
                "Add a DNS TXT record at _fluxer.{domain} with the value \
                 fluxer-verification={token}, or serve the token at \
                 https://{domain}/.well-known/fluxer-verification"
            ),
            initiation_token: self.sign_initiation(&initiation),
            token,
            kind,
            id: domain,
        })
    }

    /// `POST /users/@me/connections/verify`: looks for the token the initiation token names and,
    /// when the domain publishes it, creates the connection (verified).
    pub async fn verify_and_create_connection(
        &self,
        actor: &Actor,
        initiation_token: Option<&str>,
        visibility_flags: Option<i64>,
    ) -> Result<Connection> {
        actor.require_person("Bots have no connections.")?;
        let mut v = Validator::new();
        let token = initiation_token.unwrap_or_default();
        if token.is_empty() {
            v.error(
                "initiation_token",
                "BASE_TYPE_REQUIRED",
                "This field is required.",
            );
        }
        let flags = visibility(&mut v, visibility_flags).unwrap_or(EVERYONE);
        v.finish()?;
        let initiation = self
            .read_initiation(token)
            .filter(|i| i.user_id == actor.id().to_string())
            .ok_or_else(token_invalid)?;
        if initiation.kind == ConnectionType::Bluesky {
            return Err(bluesky_not_enabled());
        }
        let count = self
            .check_connection_room(actor.id(), initiation.kind, &initiation.identifier)
            .await?;
        if !self
            .domain_proves(&initiation.identifier, &initiation.verification_code)
            .await
        {
            return Err(verification_failed());
        }
        let id: Snowflake = self.next_id();
        let now = self.now();
        let stored = Stored {
            public: Connection {
                id: id.0.to_string(),
                kind: initiation.kind,
                name: initiation.identifier.clone(),
                verified: true,
                visibility_flags: flags,
                sort_order: i32::try_from(count).unwrap_or(i32::MAX),
            },
            identifier: initiation.identifier,
            verification_token: initiation.verification_code,
            created_at: now,
            verified_at: Some(now),
            last_verified_at: Some(now),
        };
        self.put_connection(actor.id(), id.0, &stored).await?;
        self.connections_changed(actor.id()).await?;
        Ok(stored.public)
    }

    /// `PATCH /users/@me/connections/{type}/{id}`: visibility and sort order.
    pub async fn update_connection(
        &self,
        actor: &Actor,
        kind: &str,
        id: &str,
        req: ConnectionUpdate,
    ) -> Result<()> {
        actor.require_person("Bots have no connections.")?;
        let kind = connection_type_param(kind)?;
        let mut v = Validator::new();
        let flags = visibility(&mut v, req.visibility_flags);
        if let Some(order) = req.sort_order {
            v.range(
                "sort_order",
                order,
                i64::from(i32::MIN),
                i64::from(i32::MAX),
            );
        }
        v.finish()?;
        let (key, mut stored) = self.stored_connection(actor.id(), kind, id).await?;
        if let Some(flags) = flags {
            stored.public.visibility_flags = flags;
        }
        if let Some(order) = req.sort_order.and_then(|o| i32::try_from(o).ok()) {
            stored.public.sort_order = order;
        }
        self.put_connection(actor.id(), key, &stored).await?;
        self.connections_changed(actor.id()).await
    }

    /// `DELETE /users/@me/connections/{type}/{id}`.
    pub async fn delete_connection(&self, actor: &Actor, kind: &str, id: &str) -> Result<()> {
        actor.require_person("Bots have no connections.")?;
        let kind = connection_type_param(kind)?;
        let (key, _) = self.stored_connection(actor.id(), kind, id).await?;
        self.store()
            .put_private_document(actor.id(), PrivateDocument::Connection, key, None)
            .await?;
        self.connections_changed(actor.id()).await
    }

    /// `POST /users/@me/connections/{type}/{id}/verify`: looks for the proof again. Found, the
    /// connection is verified; gone, it is marked unverified (and hidden from profiles) and the
    /// answer is `CONNECTION_VERIFICATION_FAILED`.
    pub async fn reverify_connection(
        &self,
        actor: &Actor,
        kind: &str,
        id: &str,
    ) -> Result<Connection> {
        actor.require_person("Bots have no connections.")?;
        let kind = connection_type_param(kind)?;
        let (key, mut stored) = self.stored_connection(actor.id(), kind, id).await?;
        let proven = match kind {
            ConnectionType::Bluesky => {
                let oauth = self
                    .ports()
                    .bluesky
                    .clone()
                    .ok_or_else(bluesky_not_enabled)?;
                match oauth.current_handle(&stored.identifier).await {
                    Some(handle) => {
                        stored.public.name = handle;
                        true
                    }
                    None => false,
                }
            }
            ConnectionType::Domain => {
                self.domain_proves(&stored.identifier, &stored.verification_token)
                    .await
            }
        };
        let now = self.now();
        let was = stored.public.verified;
        stored.last_verified_at = Some(now);
        stored.public.verified = proven;
        stored.verified_at = if proven {
            stored.verified_at.or(Some(now))
        } else {
            None
        };
        self.put_connection(actor.id(), key, &stored).await?;
        // A check that changes nothing clients see (still unverified) is not announced.
        if proven || was {
            self.connections_changed(actor.id()).await?;
        }
        if !proven {
            return Err(verification_failed());
        }
        Ok(stored.public)
    }

    /// `PATCH /users/@me/connections/reorder`: the listed connections take the positions of the
    /// list (0, 1, ...); unknown IDs are skipped, unlisted connections keep theirs.
    pub async fn reorder_connections(&self, actor: &Actor, ids: Option<Vec<String>>) -> Result<()> {
        actor.require_person("Bots have no connections.")?;
        let ids = ids.unwrap_or_default();
        let mut v = Validator::new();
        if ids.is_empty() {
            v.error(
                "connection_ids",
                "BASE_TYPE_REQUIRED",
                "List at least one connection.",
            );
        }
        v.count("connection_ids", ids.len(), MAX_CONNECTIONS);
        v.finish()?;
        let stored = self.stored_connections(actor.id()).await?;
        for (position, id) in ids.iter().enumerate() {
            if let Some((key, c)) = stored.iter().find(|(_, c)| &c.public.id == id) {
                let mut c = c.clone();
                c.public.sort_order = i32::try_from(position).unwrap_or(i32::MAX);
                self.put_connection(actor.id(), *key, &c).await?;
            }
        }
        self.connections_changed(actor.id()).await
    }

    /// The verified connections of `target` that `viewer` may see on their profile, by sort
    /// order: all of them to the user, else those whose flags admit the viewer.
    pub(crate) async fn visible_connections(
        &self,
        viewer: UserId,
        target: UserId,
        share_a_guild: bool,
    ) -> Result<Vec<Connection>> {
        let verified: Vec<Connection> = self
            .stored_connections(target)
            .await?
            .into_iter()
            .map(|(_, c)| c.public)
            .filter(|c| c.verified)
            .collect();
        if viewer == target || verified.is_empty() {
            return Ok(verified);
        }
        let friends = verified.iter().any(|c| c.visibility_flags & FRIENDS != 0)
            && self
                .store()
                .get_relationship(viewer, target)
                .await?
                .is_some_and(|r| r.kind == RelationshipType::Friend);
        Ok(verified
            .into_iter()
            .filter(|c| {
                let f = c.visibility_flags;
                f & EVERYONE != 0
                    || (f & FRIENDS != 0 && friends)
                    || (f & MUTUAL_GUILDS != 0 && share_a_guild)
            })
            .collect())
    }

    /// A user's connections for their data export.
    pub(crate) async fn connections_of(&self, user: UserId) -> Result<Vec<serde_json::Value>> {
        Ok(self
            .stored_connections(user)
            .await?
            .into_iter()
            .map(|(_, c)| {
                json!({
                    "id": c.public.id,
                    "type": c.public.kind,
                    "name": c.public.name,
                    "verified": c.public.verified,
                    "visibility_flags": c.public.visibility_flags,
                    "sort_order": c.public.sort_order,
                    "created_at": c.created_at,
                    "verified_at": c.verified_at,
                })
            })
            .collect())
    }

    /// The type and identifier of a create request, checked.
    fn connection_target(&self, req: &ConnectionCreate) -> Result<(ConnectionType, String)> {
        let mut v = Validator::new();
        let kind = req.kind.as_deref().and_then(ConnectionType::parse);
        if kind.is_none() {
            v.error(
                "type",
                "INVALID_ENUM_VALUE",
                "Must be one of: bsky, domain.",
            );
        }
        let identifier = req.identifier.as_deref().unwrap_or_default();
        if identifier.is_empty() {
            v.error(
                "identifier",
                "BASE_TYPE_REQUIRED",
                "This field is required.",
            );
        } else {
            v.length("identifier", identifier, 1, 253);
        }
        visibility(&mut v, req.visibility_flags);
        v.finish()?;
        Ok((
            kind.ok_or_else(|| Error::Internal("checked above".into()))?,
            identifier.to_owned(),
        ))
    }

    /// Refuses a new connection past the limit or a second one to the same account; returns how
    /// many the user has.
    async fn check_connection_room(
        &self,
        user: UserId,
        kind: ConnectionType,
        identifier: &str,
    ) -> Result<usize> {
        let stored = self.stored_connections(user).await?;
        if stored.len() >= MAX_CONNECTIONS {
            return Err(limit_reached());
        }
        if stored
            .iter()
            .any(|(_, c)| c.public.kind == kind && c.identifier.eq_ignore_ascii_case(identifier))
        {
            return Err(already_connected());
        }
        Ok(stored.len())
    }

    /// Whether `domain` publishes `token`: as the TXT record `_fluxer.{domain}` =
    /// `fluxer-verification={token}`, or as its verification file's whole (trimmed) body.
    async fn domain_proves(&self, domain: &str, token: &str) -> bool {
        let Some(probe) = self.ports().domain_probe.clone() else {
            return false;
        };
        let expected = format!("fluxer-verification={token}");
        if probe
            .txt_records(&format!("_fluxer.{domain}"))
            .await
            .iter()
            .any(|r| secrets_equal(r.trim().as_bytes(), expected.as_bytes()))
        {
            return true;
        }
        probe
            .verification_file(domain)
            .await
            .is_some_and(|body| secrets_equal(body.trim().as_bytes(), token.as_bytes()))
    }

    /// Every connection of `user` with its key, by sort order (then age).
    pub(super) async fn stored_connections(&self, user: UserId) -> Result<Vec<(u64, Stored)>> {
        let mut all: Vec<(u64, Stored)> = self
            .store()
            .list_private_documents(user, PrivateDocument::Connection)
            .await?
            .into_iter()
            .filter_map(|(key, doc)| Some((key, serde_json::from_str(&doc).ok()?)))
            .collect();
        all.sort_by_key(|(key, c)| (c.public.sort_order, *key));
        Ok(all)
    }

    async fn stored_connection(
        &self,
        user: UserId,
        kind: ConnectionType,
        id: &str,
    ) -> Result<(u64, Stored)> {
        let key: u64 = id.parse().map_err(|_| not_found())?;
        let doc = self
            .store()
            .get_private_document(user, PrivateDocument::Connection, key)
            .await?
            .ok_or_else(not_found)?;
        let stored: Stored = serde_json::from_str(&doc)
            .map_err(|e| Error::Internal(format!("connection {id} of {user}: {e}")))?;
        if stored.public.kind != kind {
            return Err(not_found());
        }
        Ok((key, stored))
    }

    pub(super) async fn put_connection(
        &self,
        user: UserId,
        key: u64,
        stored: &Stored,
    ) -> Result<()> {
        let doc = serde_json::to_string(stored).map_err(|e| Error::Internal(e.to_string()))?;
        self.store()
            .put_private_document(user, PrivateDocument::Connection, key, Some(&doc))
            .await?;
        Ok(())
    }

    /// `USER_CONNECTIONS_UPDATE` with the whole list, to every session of the user.
    pub(super) async fn connections_changed(&self, user: UserId) -> Result<()> {
        let connections: Vec<Connection> = self
            .stored_connections(user)
            .await?
            .into_iter()
            .map(|(_, c)| c.public)
            .collect();
        self.emit(Dispatch::new(
            EventKind::UserConnectionsUpdate,
            Topic::User(user),
            &json!({ "connections": connections }),
        ))
        .await;
        Ok(())
    }

    fn initiation_mac(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.config().link_secret)
            .expect("HMAC takes keys of any length");
        mac.update(b"connection-initiation\n");
        mac.update(payload.as_bytes());
        mac
    }

    /// `{base64url(payload)}.{base64url(HMAC)}`, upstream's layout.
    fn sign_initiation(&self, initiation: &Initiation) -> String {
        let payload = URL_SAFE_NO_PAD.encode(json!(initiation).to_string());
        let signature =
            URL_SAFE_NO_PAD.encode(self.initiation_mac(&payload).finalize().into_bytes());
        format!("{payload}.{signature}")
    }

    /// The payload of a genuine, unexpired initiation token.
    fn read_initiation(&self, token: &str) -> Option<Initiation> {
        let (payload, signature) = token.trim().split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.initiation_mac(payload).verify_slice(&signature).ok()?;
        let initiation: Initiation =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (initiation.expires_at >= self.now().unix_ms()).then_some(initiation)
    }
}

/// The `{type}` of a connection route: `bsky` or `domain`, else a form error (upstream validates
/// the path against the enum).
fn connection_type_param(kind: &str) -> Result<ConnectionType> {
    ConnectionType::parse(kind).ok_or_else(|| {
        Error::field(
            "type",
            "INVALID_ENUM_VALUE",
            "Must be one of: bsky, domain.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(domain_name("Example.COM.").as_deref(), Some("example.com"));
        assert_eq!(
            domain_name("bücher.de").as_deref(),
            Some("xn--bcher-kva.de")
        );
        assert_eq!(
            domain_name("a-b.sub.example.org").as_deref(),
            Some("a-b.sub.example.org")
        );
        for bad in [
            "",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "example.com:8080",
            "example.com/path",
            "user@example.com",
            "-bad.example.com",
            "exa mple.com",
            "example.123",
        ] {
            assert_eq!(domain_name(bad), None, "{bad}");
        }
    }
}
