//! LiveKit: [`LiveKit`] implements the core's [`VoiceBackend`] port.
//!
//! - **Access tokens** are LiveKit's: JWTs signed with HS256 by the server's API secret, `iss` its
//!   API key, `sub` the participant's identity, the rights in a `video` grant (camelCase fields).
//! - **Webhooks** carry such a token as their Authorization, whose `sha256` claim is the base64
//!   SHA-256 of the body; the body is a `WebhookEvent` in protobuf's JSON form, of which the event's
//!   name, its room's name and its participant's identity are read.
//! - **The room service** is LiveKit's Twirp API (JSON over HTTP POST,
//!   `/twirp/livekit.RoomService/{Method}`, a `roomAdmin` token as Bearer), called over the media
//!   crate's HTTP client. LiveKit servers are the operator's own (often on the LAN), so any address
//!   is reachable.
//!
//! LiveKit's Rust SDK would bring its whole protocol (prost and pbjson code for every message) for
//! these two token shapes and three fields; the end-to-end suite checks both directions against
//! LiveKit's official Python SDK instead.

use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use fluxer_core::error::StoreError;
use fluxer_core::ports::{
    ParticipantRights, PortResult, VoiceBackend, VoiceGrant, VoiceServerCredentials,
    VoiceWebhookEvent, WebhookRejection,
};
use fluxer_core::secret::secrets_equal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::oidc::jwt::{Jws, sign_hs256};
use crate::proxy::ExternalConfig;
use crate::proxy::external::{Agent, Call, call_operator_server};

const AGENT: Agent = Agent {
    user_agent: "Fluxer (LiveKit room service)",
    accept: "application/json",
};
/// How long the room service's admin tokens are good for.
const ADMIN_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Clock skew allowed on a webhook token's `exp` and `nbf`, in seconds (as LiveKit's SDKs allow).
const WEBHOOK_LEEWAY_SECS: i64 = 60;

/// A LiveKit access token for `server`: good from now for `ttl`, for `identity` (none for the
/// room service's admin tokens) with `metadata`, granting `video`.
fn access_token(
    server: &VoiceServerCredentials,
    ttl: Duration,
    identity: &str,
    metadata: &str,
    video: Value,
) -> PortResult<String> {
    if server.api_key.is_empty() || server.api_secret.is_empty() {
        return Err(StoreError::backend_while(
            "livekit",
            "signing a token",
            "the voice server has no API key or secret",
        ));
    }
    let now = crate::unix_now_secs();
    let mut claims = json!({
        "iss": server.api_key,
        "nbf": now,
        "exp": now.saturating_add(ttl.as_secs()),
        "video": video,
    });
    if !identity.is_empty() {
        claims["sub"] = identity.into();
    }
    if !metadata.is_empty() {
        claims["metadata"] = metadata.into();
    }
    Ok(sign_hs256(&claims, server.api_secret.as_bytes()))
}

/// The room service's Bearer token: `roomAdmin` on `room`, for [`ADMIN_TOKEN_TTL`].
fn admin_token(server: &VoiceServerCredentials, room: &str) -> PortResult<String> {
    let admin = json!({ "roomAdmin": true, "room": room });
    access_token(server, ADMIN_TOKEN_TTL, "", "", admin)
}

/// The claims of a webhook's token once one of `servers` signed it (the one its `iss` names),
/// within its lifetime, and for this `body`.
fn verify_webhook_token(
    servers: &[VoiceServerCredentials],
    token: &str,
    body: &str,
) -> Option<Value> {
    let jws = Jws::parse(token).ok()?;
    let issuer = jws.unverified_claims().ok()?;
    let issuer = issuer.get("iss")?.as_str()?;
    // A server without a secret verifies nothing (an empty HMAC key is no key).
    let server = servers
        .iter()
        .find(|s| !s.api_secret.is_empty() && s.api_key == issuer)?;
    let claims = jws.verify_hs256(server.api_secret.as_bytes()).ok()?;
    let now = i64::try_from(crate::unix_now_secs()).ok()?;
    let exp = claims.get("exp")?.as_i64()?;
    let nbf = claims.get("nbf").map_or(Some(0), Value::as_i64)?;
    if exp.saturating_add(WEBHOOK_LEEWAY_SECS) < now
        || nbf.saturating_sub(WEBHOOK_LEEWAY_SECS) > now
    {
        return None;
    }
    let signed = STANDARD.decode(claims.get("sha256")?.as_str()?).ok()?;
    secrets_equal(&signed, &Sha256::digest(body.as_bytes())).then_some(claims)
}

/// LiveKit through its access tokens and its room service's Twirp API.
#[derive(Debug, Clone)]
pub struct LiveKit {
    http: ExternalConfig,
}

impl Default for LiveKit {
    fn default() -> Self {
        Self::new()
    }
}

impl LiveKit {
    /// A client with a 10 s timeout and answers of at most 1 MiB.
    pub fn new() -> Self {
        LiveKit {
            http: ExternalConfig {
                max_bytes: 1 << 20,
                timeout: Duration::from_secs(10),
                ..ExternalConfig::default()
            },
        }
    }

    /// The room service's URL for `method` on the server clients reach at `endpoint`
    /// (`wss://host/prefix` → `https://host/prefix/twirp/livekit.RoomService/{method}`).
    fn twirp_url(endpoint: &str, method: &str) -> String {
        let http = if let Some(rest) = endpoint.strip_prefix("wss://") {
            format!("https://{rest}")
        } else if let Some(rest) = endpoint.strip_prefix("ws://") {
            format!("http://{rest}")
        } else {
            endpoint.to_owned()
        };
        format!(
            "{}/twirp/livekit.RoomService/{method}",
            http.trim_end_matches('/')
        )
    }

    async fn twirp(
        &self,
        server: &VoiceServerCredentials,
        room: &str,
        method: &str,
        body: serde_json::Value,
    ) -> PortResult<()> {
        let token = admin_token(server, room)?;
        let call = Call {
            method: Method::POST,
            headers: vec![("authorization", format!("Bearer {token}"))],
            body: Some(("application/json", Bytes::from(body.to_string()))),
        };
        let url = Self::twirp_url(&server.endpoint, method);
        let reply = call_operator_server(&self.http, &url, AGENT, call)
            .await
            .map_err(|e| StoreError::backend_while("livekit", format!("calling {method}"), e))?;
        if reply.status.is_success() {
            return Ok(());
        }
        // Twirp's `not_found` (404): the participant or room is already gone.
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&reply.bytes[..reply.bytes.len().min(300)]).into_owned();
        Err(StoreError::backend_while(
            "livekit",
            format!("{method} answered {}", reply.status),
            text,
        ))
    }
}

#[async_trait]
impl VoiceBackend for LiveKit {
    fn mint_token(
        &self,
        server: &VoiceServerCredentials,
        grant: &VoiceGrant,
    ) -> PortResult<String> {
        if grant.identity.is_empty() || grant.room.is_empty() {
            return Err(StoreError::backend_while(
                "livekit",
                "signing an access token",
                "a token that joins a room needs an identity and a room",
            ));
        }
        let mut video = json!({
            "roomJoin": true,
            "room": grant.room,
            "canPublish": grant.rights.can_publish,
            "canSubscribe": grant.rights.can_subscribe,
            "canPublishData": true,
        });
        // Left out when empty: LiveKit reads an empty list as every source.
        if !grant.rights.sources.is_empty() {
            let sources: Vec<&str> = grant
                .rights
                .sources
                .iter()
                .map(|s| s.token_name())
                .collect();
            video["canPublishSources"] = json!(sources);
        }
        access_token(server, grant.ttl, &grant.identity, &grant.metadata, video)
    }

    fn verify_webhook(
        &self,
        servers: &[VoiceServerCredentials],
        body: &str,
        authorization: &str,
    ) -> Result<VoiceWebhookEvent, WebhookRejection> {
        let token = authorization.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token);
        verify_webhook_token(servers, token, body).ok_or(WebhookRejection::BadSignature)?;
        let event: Value = serde_json::from_str(body).map_err(|_| WebhookRejection::Malformed)?;
        if !event.is_object() {
            return Err(WebhookRejection::Malformed);
        }
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let room = text(event.pointer("/room/name"));
        let identity = text(event.pointer("/participant/identity"));
        let name = text(event.get("event"));
        Ok(match name.as_str() {
            "participant_joined" => VoiceWebhookEvent::ParticipantJoined { room, identity },
            "participant_left" => VoiceWebhookEvent::ParticipantLeft { room, identity },
            "room_finished" => VoiceWebhookEvent::RoomFinished { room },
            other => VoiceWebhookEvent::Other(other.chars().take(64).collect()),
        })
    }

    async fn update_participant(
        &self,
        server: &VoiceServerCredentials,
        room: &str,
        identity: &str,
        rights: &ParticipantRights,
    ) -> PortResult<()> {
        let sources: Vec<&str> = rights.sources.iter().map(|s| s.proto_name()).collect();
        let body = json!({
            "room": room,
            "identity": identity,
            "permission": {
                "can_subscribe": rights.can_subscribe,
                "can_publish": rights.can_publish,
                "can_publish_data": true,
                "can_publish_sources": sources,
            },
        });
        self.twirp(server, room, "UpdateParticipant", body).await
    }

    async fn remove_participant(
        &self,
        server: &VoiceServerCredentials,
        room: &str,
        identity: &str,
    ) -> PortResult<()> {
        let body = json!({ "room": room, "identity": identity });
        self.twirp(server, room, "RemoveParticipant", body).await
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use fluxer_core::ports::TrackSource;

    use super::*;

    fn server() -> VoiceServerCredentials {
        VoiceServerCredentials {
            endpoint: "wss://lk.example.com/".into(),
            api_key: "key".into(),
            api_secret: "a-secret-long-enough-for-hs256-signing".into(),
        }
    }

    fn claims_of(token: &str, secret: &str) -> Result<Value, crate::oidc::JwtError> {
        Jws::parse(token)?.verify_hs256(secret.as_bytes())
    }

    /// A webhook as LiveKit sends it: `claims` plus the body's digest, signed with `secret`.
    fn signed(body: &str, mut claims: Value, secret: &str) -> String {
        claims["sha256"] = STANDARD.encode(Sha256::digest(body.as_bytes())).into();
        format!("Bearer {}", sign_hs256(&claims, secret.as_bytes()))
    }

    fn fresh(iss: &str) -> Value {
        let now = crate::unix_now_secs();
        json!({ "iss": iss, "nbf": now, "exp": now + 300 })
    }

    #[test]
    fn tokens_carry_identity_room_and_rights() {
        let grant = VoiceGrant {
            identity: "user_1_abc".into(),
            room: "guild_2_channel_3".into(),
            metadata: "{}".into(),
            rights: ParticipantRights {
                can_publish: true,
                can_subscribe: false,
                sources: vec![TrackSource::Microphone],
            },
            ttl: Duration::from_secs(60),
        };
        let token = LiveKit::new().mint_token(&server(), &grant).unwrap();
        let claims = claims_of(&token, &server().api_secret).unwrap();
        assert_eq!(claims["iss"], "key");
        assert_eq!(claims["sub"], "user_1_abc");
        assert_eq!(claims["metadata"], "{}");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(),
            60
        );
        let video = &claims["video"];
        assert_eq!(video["room"], "guild_2_channel_3");
        assert_eq!(video["roomJoin"], true);
        assert_eq!(video["canPublish"], true);
        assert_eq!(video["canSubscribe"], false);
        assert_eq!(video["canPublishSources"], json!(["microphone"]));
        assert!(video.get("roomAdmin").is_none());
        assert!(claims_of(&token, "another-secret-of-enough-length").is_err());

        let nobody = VoiceGrant {
            identity: String::new(),
            ..grant
        };
        assert!(LiveKit::new().mint_token(&server(), &nobody).is_err());
        let keyless = VoiceServerCredentials {
            api_secret: String::new(),
            ..server()
        };
        let grant = VoiceGrant {
            identity: "u".into(),
            ..nobody
        };
        assert!(LiveKit::new().mint_token(&keyless, &grant).is_err());
        let nameless = VoiceServerCredentials {
            api_key: String::new(),
            ..server()
        };
        assert!(LiveKit::new().mint_token(&nameless, &grant).is_err());
        let roomless = VoiceGrant {
            room: String::new(),
            ..grant
        };
        assert!(LiveKit::new().mint_token(&server(), &roomless).is_err());
    }

    #[test]
    fn room_service_tokens_administer_one_room_for_ten_minutes() {
        let token = admin_token(&server(), "guild_2_channel_3").unwrap();
        let claims = claims_of(&token, &server().api_secret).unwrap();
        assert_eq!(claims["iss"], "key");
        assert!(claims.get("sub").is_none());
        assert_eq!(
            claims["video"],
            json!({ "roomAdmin": true, "room": "guild_2_channel_3" })
        );
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["nbf"].as_u64().unwrap(),
            600
        );
    }

    #[test]
    fn twirp_urls_follow_the_endpoint() {
        assert_eq!(
            LiveKit::twirp_url("wss://lk.example.com/", "RemoveParticipant"),
            "https://lk.example.com/twirp/livekit.RoomService/RemoveParticipant"
        );
        assert_eq!(
            LiveKit::twirp_url("ws://127.0.0.1:7880/lk", "UpdateParticipant"),
            "http://127.0.0.1:7880/lk/twirp/livekit.RoomService/UpdateParticipant"
        );
    }

    #[test]
    fn signed_webhooks_are_read() {
        let lk = LiveKit::new();
        let other = VoiceServerCredentials {
            api_key: "other".into(),
            api_secret: "the-other-servers-secret-long-enough".into(),
            ..server()
        };
        let body = r#"{"event":"participant_joined","room":{"name":"guild_2_channel_3"},"participant":{"identity":"user_1_abc","sid":"PA_1"},"id":"EV_1","createdAt":"1700000000"}"#;
        let auth = signed(body, fresh("key"), &server().api_secret);
        assert_eq!(
            lk.verify_webhook(&[other.clone(), server()], body, &auth),
            Ok(VoiceWebhookEvent::ParticipantJoined {
                room: "guild_2_channel_3".into(),
                identity: "user_1_abc".into(),
            })
        );
        let finished = r#"{"event":"room_finished","room":{"name":"r"}}"#;
        let auth = signed(finished, fresh("other"), &other.api_secret);
        assert_eq!(
            lk.verify_webhook(&[server(), other], finished, &auth),
            Ok(VoiceWebhookEvent::RoomFinished { room: "r".into() })
        );
        let track = r#"{"event":"track_published"}"#;
        let auth = signed(track, fresh("key"), &server().api_secret);
        assert_eq!(
            lk.verify_webhook(&[server()], track, &auth),
            Ok(VoiceWebhookEvent::Other("track_published".into()))
        );
        // Signed, but not an event.
        let auth = signed("[1]", fresh("key"), &server().api_secret);
        assert_eq!(
            lk.verify_webhook(&[server()], "[1]", &auth),
            Err(WebhookRejection::Malformed)
        );
    }

    #[test]
    fn webhooks_from_unknown_keys_or_garbage_are_refused() {
        let lk = LiveKit::new();
        let refused = |body: &str, auth: &str| {
            assert_eq!(
                lk.verify_webhook(&[server()], body, auth),
                Err(WebhookRejection::BadSignature)
            );
        };
        refused("{}", "not-a-jwt");
        // Another key, another secret, or the right secret under another key.
        refused(
            "{}",
            &signed("{}", fresh("other"), "x-secret-that-is-long-enough-ok"),
        );
        refused(
            "{}",
            &signed("{}", fresh("key"), "x-secret-that-is-long-enough-ok"),
        );
        refused("{}", &signed("{}", fresh("other"), &server().api_secret));
        // A body other than the one signed.
        refused(
            r#"{"event":"room_finished"}"#,
            &signed("{}", fresh("key"), &server().api_secret),
        );
        // No digest at all.
        let bare = sign_hs256(&fresh("key"), server().api_secret.as_bytes());
        refused("{}", &bare);
        // Expired beyond the leeway, or not yet valid.
        let now = crate::unix_now_secs();
        let old = json!({ "iss": "key", "nbf": now - 900, "exp": now - 120 });
        refused("{}", &signed("{}", old, &server().api_secret));
        let early = json!({ "iss": "key", "nbf": now + 600, "exp": now + 900 });
        refused("{}", &signed("{}", early, &server().api_secret));
        let no_exp = json!({ "iss": "key", "nbf": now });
        refused("{}", &signed("{}", no_exp, &server().api_secret));
        // Any algorithm but HS256, however signed.
        let digest = STANDARD.encode(Sha256::digest(b"{}"));
        let claims = json!({ "iss": "key", "nbf": now, "exp": now + 300, "sha256": digest });
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        for alg in ["none", "HS512"] {
            let header = URL_SAFE_NO_PAD.encode(json!({ "alg": alg, "typ": "JWT" }).to_string());
            let input = format!("{header}.{payload}");
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, server().api_secret.as_bytes());
            let tag = URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, input.as_bytes()));
            refused("{}", &format!("{input}.{tag}"));
            refused("{}", &format!("{input}."));
        }
        // A server without a secret verifies nothing, even a token signed with an empty key.
        let secretless = VoiceServerCredentials {
            api_secret: String::new(),
            ..server()
        };
        let auth = signed("{}", fresh("key"), "");
        assert_eq!(
            lk.verify_webhook(&[secretless], "{}", &auth),
            Err(WebhookRejection::BadSignature)
        );
    }

    #[test]
    fn webhook_tokens_get_a_minute_of_clock_skew() {
        let lk = LiveKit::new();
        let now = crate::unix_now_secs();
        let body = r#"{"event":"room_finished","room":{"name":"r"}}"#;
        let late = json!({ "iss": "key", "nbf": now - 600, "exp": now - 30 });
        let early = json!({ "iss": "key", "nbf": now + 30, "exp": now + 600 });
        for claims in [late, early] {
            let auth = signed(body, claims, &server().api_secret);
            assert_eq!(
                lk.verify_webhook(&[server()], body, &auth),
                Ok(VoiceWebhookEvent::RoomFinished { room: "r".into() })
            );
        }
    }
}
