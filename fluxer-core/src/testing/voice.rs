//! The [`VoiceBackend`] conformance suite: what every voice backend keeps without a media server to
//! talk to. (That tokens and webhooks interoperate with LiveKit's own SDK is each implementation's
//! own test.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::ports::{
    ParticipantRights, TrackSource, VoiceBackend, VoiceGrant, VoiceServerCredentials,
    WebhookRejection,
};

/// Generates one test per [`VoiceBackend`] case; see [`crate::testing`].
#[macro_export]
macro_rules! voice_backend_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(voice, voice_backend_conformance, [$($factory)+], [
            tokens_are_per_grant_and_never_carry_the_secret,
            webhooks_without_a_known_signature_are_refused,
            an_unreachable_room_service_is_an_error_in_bounded_time,
        ]);
    };
}

const SECRET: &str = "conformance-secret-of-at-least-32-chars";

fn server(endpoint: &str) -> VoiceServerCredentials {
    VoiceServerCredentials {
        endpoint: endpoint.to_owned(),
        api_key: "conformance".to_owned(),
        api_secret: SECRET.to_owned(),
    }
}

fn grant(identity: &str) -> VoiceGrant {
    VoiceGrant {
        identity: identity.to_owned(),
        room: "guild_1_channel_2".to_owned(),
        metadata: "{}".to_owned(),
        rights: ParticipantRights {
            can_publish: true,
            can_subscribe: true,
            sources: vec![TrackSource::Microphone],
        },
        ttl: Duration::from_secs(60),
    }
}

/// Two participants get two tokens; neither shows the API secret.
pub async fn tokens_are_per_grant_and_never_carry_the_secret(backend: Arc<dyn VoiceBackend>) {
    let s = server("wss://voice.invalid");
    let a = backend.mint_token(&s, &grant("user_1_a")).unwrap();
    let b = backend.mint_token(&s, &grant("user_1_b")).unwrap();
    assert!(!a.is_empty() && a != b);
    assert!(!a.contains(SECRET) && !b.contains(SECRET));
}

/// No Authorization, a garbage one, or one for a key no server has: refused, never read.
pub async fn webhooks_without_a_known_signature_are_refused(backend: Arc<dyn VoiceBackend>) {
    let s = server("wss://voice.invalid");
    let body = r#"{"event":"room_finished","room":{"name":"guild_1_channel_2"}}"#;
    for auth in ["", "garbage", "Bearer x.y.z"] {
        assert_eq!(
            backend.verify_webhook(std::slice::from_ref(&s), body, auth),
            Err(WebhookRejection::BadSignature),
            "{auth:?}"
        );
    }
    let token = backend.mint_token(&s, &grant("user_1_a")).unwrap();
    assert_eq!(
        backend.verify_webhook(&[], body, &token),
        Err(WebhookRejection::BadSignature),
        "no server knows the key"
    );
}

/// A room service nobody listens on fails the call, within seconds.
pub async fn an_unreachable_room_service_is_an_error_in_bounded_time(
    backend: Arc<dyn VoiceBackend>,
) {
    let s = server("ws://127.0.0.1:1");
    let started = Instant::now();
    assert!(
        backend
            .remove_participant(&s, "guild_1_channel_2", "user_1_a")
            .await
            .is_err()
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}
