//! Voice and video on a LiveKit server: the media never passes through Fluxer. The use-cases decide
//! who may join which room with which rights; the adapter mints the access token the client shows
//! LiveKit, verifies the webhooks LiveKit sends back, and asks LiveKit's room service to change or
//! remove a participant when a moderator acts.

use std::time::Duration;

use async_trait::async_trait;

use super::PortResult;

/// One LiveKit server and the API key pair it trusts.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoiceServerCredentials {
    /// Where clients connect (`wss://livekit.example.com`); the room service is at the same host
    /// over HTTP(S).
    pub endpoint: String,
    /// The API key (the JWT issuer).
    pub api_key: String,
    /// The API secret (the HMAC key). Never logged.
    pub api_secret: String,
}

impl std::fmt::Debug for VoiceServerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceServerCredentials")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

/// A kind of track a participant may publish (LiveKit's `TrackSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TrackSource {
    /// The microphone (needs SPEAK).
    Microphone,
    /// The camera (needs STREAM, as upstream's video).
    Camera,
    /// A screen share (needs STREAM).
    ScreenShare,
    /// A screen share's sound (needs STREAM).
    ScreenShareAudio,
}

impl TrackSource {
    /// LiveKit's name in tokens (lower case, as the SDKs write it).
    pub fn token_name(self) -> &'static str {
        match self {
            TrackSource::Microphone => "microphone",
            TrackSource::Camera => "camera",
            TrackSource::ScreenShare => "screen_share",
            TrackSource::ScreenShareAudio => "screen_share_audio",
        }
    }

    /// The protobuf enum name the room service's JSON takes (`MICROPHONE`).
    pub fn proto_name(self) -> &'static str {
        match self {
            TrackSource::Microphone => "MICROPHONE",
            TrackSource::Camera => "CAMERA",
            TrackSource::ScreenShare => "SCREEN_SHARE",
            TrackSource::ScreenShareAudio => "SCREEN_SHARE_AUDIO",
        }
    }
}

/// What a participant may do in its room.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ParticipantRights {
    /// May publish tracks at all.
    pub can_publish: bool,
    /// May receive others' tracks.
    pub can_subscribe: bool,
    /// The sources it may publish.
    pub sources: Vec<TrackSource>,
}

/// An access token to mint: who joins which room, with which rights, for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceGrant {
    /// The participant's identity (`user_{id}_{connection_id}`).
    pub identity: String,
    /// The room (`guild_{g}_channel_{c}`, `dm_channel_{c}`).
    pub room: String,
    /// Upstream's JSON metadata (user, channel, connection, region, server, nonce...).
    pub metadata: String,
    /// The rights.
    pub rights: ParticipantRights,
    /// How long the token is good for.
    pub ttl: Duration,
}

/// What a verified LiveKit webhook says, as far as voice states go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VoiceWebhookEvent {
    /// A participant connected to a room.
    ParticipantJoined {
        /// The room's name.
        room: String,
        /// The participant's identity.
        identity: String,
    },
    /// A participant left a room.
    ParticipantLeft {
        /// The room's name.
        room: String,
        /// The participant's identity.
        identity: String,
    },
    /// A room closed: everyone in it is gone.
    RoomFinished {
        /// The room's name.
        room: String,
    },
    /// Another event (track published, egress...), named as LiveKit names it.
    Other(String),
}

/// Why a webhook was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookRejection {
    /// The Authorization token is missing, not ours, expired, or does not sign this body.
    #[error("the webhook's signature does not verify")]
    BadSignature,
    /// Signed, but not a webhook event.
    #[error("the webhook's body is not an event")]
    Malformed,
}

/// A LiveKit deployment (one or more servers, each with its key pair).
#[async_trait]
pub trait VoiceBackend: Send + Sync {
    /// A signed access token for `grant` on `server`.
    fn mint_token(&self, server: &VoiceServerCredentials, grant: &VoiceGrant)
    -> PortResult<String>;
    /// Checks a webhook's `Authorization` against the key pair it names among `servers` and the
    /// body's hash, and reads the event.
    fn verify_webhook(
        &self,
        servers: &[VoiceServerCredentials],
        body: &str,
        authorization: &str,
    ) -> Result<VoiceWebhookEvent, WebhookRejection>;
    /// Changes what a connected participant may do (room service `UpdateParticipant`). A
    /// participant not (or no longer) in the room is not an error.
    async fn update_participant(
        &self,
        server: &VoiceServerCredentials,
        room: &str,
        identity: &str,
        rights: &ParticipantRights,
    ) -> PortResult<()>;
    /// Disconnects a participant (room service `RemoveParticipant`). A participant not (or no
    /// longer) in the room is not an error.
    async fn remove_participant(
        &self,
        server: &VoiceServerCredentials,
        room: &str,
        identity: &str,
    ) -> PortResult<()>;
}
