//! LiveKit: [`LiveKit`] implements the core's [`VoiceBackend`] port. Access tokens and webhook
//! verification come from LiveKit's own Rust SDK (`livekit-api`, features `access-token` and
//! `webhooks`). The room service is LiveKit's Twirp API (JSON over HTTP POST,
//! `/twirp/livekit.RoomService/{Method}`, a `roomAdmin` token as Bearer); its two calls are made
//! here over the media crate's HTTP client rather than through the SDK's `services` feature,
//! which pulls a second HTTP stack (reqwest 0.13, progenitor, chrono) for the same two requests.
//! LiveKit servers are the operator's own (often on the LAN), so any address is reachable.

use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use fluxer_core::error::StoreError;
use fluxer_core::ports::{
    ParticipantRights, PortResult, VoiceBackend, VoiceGrant, VoiceServerCredentials,
    VoiceWebhookEvent, WebhookRejection,
};
use livekit_api::access_token::{AccessToken, Claims, TokenVerifier, VideoGrants};
use livekit_api::webhooks::{WebhookError, WebhookReceiver};
use serde_json::json;

use crate::proxy::ExternalConfig;
use crate::proxy::external::{Agent, Call, call_operator_server};

const AGENT: Agent = Agent {
    user_agent: "Fluxer (LiveKit room service)",
    accept: "application/json",
};
/// How long the room service's admin tokens are good for.
const ADMIN_TOKEN_TTL: Duration = Duration::from_secs(600);

/// LiveKit through its SDK's tokens and its room service's Twirp API.
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
        let token = AccessToken::with_api_key(&server.api_key, &server.api_secret)
            .with_ttl(ADMIN_TOKEN_TTL)
            .with_grants(VideoGrants {
                room_admin: true,
                room: room.to_owned(),
                ..Default::default()
            })
            .to_jwt()
            .map_err(|e| StoreError::backend_while("livekit", "signing a room service call", e))?;
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
        AccessToken::with_api_key(&server.api_key, &server.api_secret)
            .with_identity(&grant.identity)
            .with_metadata(&grant.metadata)
            .with_ttl(grant.ttl)
            .with_grants(VideoGrants {
                room_join: true,
                room: grant.room.clone(),
                can_publish: Some(grant.rights.can_publish),
                can_subscribe: Some(grant.rights.can_subscribe),
                can_publish_data: Some(true),
                can_publish_sources: grant
                    .rights
                    .sources
                    .iter()
                    .map(|s| s.token_name().to_owned())
                    .collect(),
                ..Default::default()
            })
            .to_jwt()
            .map_err(|e| StoreError::backend_while("livekit", "signing an access token", e))
    }

    fn verify_webhook(
        &self,
        servers: &[VoiceServerCredentials],
        body: &str,
        authorization: &str,
    ) -> Result<VoiceWebhookEvent, WebhookRejection> {
        let token = authorization.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token);
        // The token names its key; the matching server's secret verifies it.
        let issuer = Claims::from_unverified(token)
            .map_err(|_| WebhookRejection::BadSignature)?
            .iss;
        let server = servers
            .iter()
            .find(|s| s.api_key == issuer)
            .ok_or(WebhookRejection::BadSignature)?;
        let receiver = WebhookReceiver::new(TokenVerifier::with_api_key(
            &server.api_key,
            &server.api_secret,
        ));
        let event = receiver.receive(body, token).map_err(|e| match e {
            WebhookError::InvalidData(_) => WebhookRejection::Malformed,
            _ => WebhookRejection::BadSignature,
        })?;
        let room = event
            .room
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_default();
        let identity = event
            .participant
            .as_ref()
            .map(|p| p.identity.clone())
            .unwrap_or_default();
        Ok(match event.event.as_str() {
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
    use fluxer_core::ports::TrackSource;

    use super::*;

    fn server() -> VoiceServerCredentials {
        VoiceServerCredentials {
            endpoint: "wss://lk.example.com/".into(),
            api_key: "key".into(),
            api_secret: "a-secret-long-enough-for-hs256-signing".into(),
        }
    }

    #[test]
    fn tokens_carry_identity_room_and_rights() {
        let grant = VoiceGrant {
            identity: "user_1_abc".into(),
            room: "guild_2_channel_3".into(),
            metadata: "{}".into(),
            rights: ParticipantRights {
                can_publish: true,
                can_subscribe: true,
                sources: vec![TrackSource::Microphone],
            },
            ttl: Duration::from_secs(60),
        };
        let token = LiveKit::new().mint_token(&server(), &grant).unwrap();
        let claims = TokenVerifier::with_api_key("key", &server().api_secret)
            .verify(&token)
            .unwrap();
        assert_eq!(claims.sub, "user_1_abc");
        assert_eq!(claims.video.room, "guild_2_channel_3");
        assert!(claims.video.room_join);
        assert_eq!(claims.video.can_publish_sources, vec!["microphone"]);
        assert!(
            TokenVerifier::with_api_key("key", "another-secret-of-enough-length")
                .verify(&token)
                .is_err()
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
    fn webhooks_from_unknown_keys_or_garbage_are_refused() {
        let lk = LiveKit::new();
        assert_eq!(
            lk.verify_webhook(&[server()], "{}", "not-a-jwt"),
            Err(WebhookRejection::BadSignature)
        );
        let foreign = AccessToken::with_api_key("other", "x-secret-that-is-long-enough-ok")
            .to_jwt()
            .unwrap();
        assert_eq!(
            lk.verify_webhook(&[server()], "{}", &foreign),
            Err(WebhookRejection::BadSignature)
        );
    }
}
