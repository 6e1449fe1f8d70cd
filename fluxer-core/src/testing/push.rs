//! The [`PushSender`] conformance suite: what every Web Push sender keeps without a push service
//! to talk to. (Delivering to a real one, encrypted and signed, is each implementation's own test.)

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::ports::{PushMessage, PushOutcome, PushSender, PushUrgency};

/// Generates one test per [`PushSender`] case; see [`crate::testing`]. The factory builds a sender
/// with its production settings (no address allowed beyond the public ones).
#[macro_export]
macro_rules! push_sender_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(push, push_sender_conformance, [$($factory)+], [
            the_public_key_is_an_uncompressed_p256_point,
            unusable_subscriptions_are_errors,
            private_addresses_are_never_reached,
        ]);
    };
}

fn message(sender: &dyn PushSender, endpoint: &str) -> PushMessage {
    PushMessage {
        endpoint: endpoint.to_owned(),
        // The sender's own key is a valid P-256 point: good enough to encrypt to.
        p256dh: sender.public_key().to_owned(),
        auth: URL_SAFE_NO_PAD.encode([7u8; 16]),
        payload: br#"{"title":"t"}"#.to_vec(),
        ttl_secs: 60,
        urgency: PushUrgency::Normal,
    }
}

/// What clients pass to `pushManager.subscribe`: 65 bytes starting with 4, base64url unpadded.
pub async fn the_public_key_is_an_uncompressed_p256_point(sender: Arc<dyn PushSender>) {
    let key = sender.public_key();
    assert!(
        !key.contains('=') && !key.contains('+') && !key.contains('/'),
        "{key}"
    );
    let bytes = URL_SAFE_NO_PAD.decode(key).expect("base64url");
    assert_eq!(bytes.len(), 65, "{key}");
    assert_eq!(bytes[0], 4, "{key}");
}

/// Keys that do not decode, a secret of the wrong size and an endpoint that is no http(s) URL can
/// never work: errors, not outcomes to retry.
pub async fn unusable_subscriptions_are_errors(sender: Arc<dyn PushSender>) {
    let good = message(sender.as_ref(), "https://push.example.com/x");
    let mut bad_key = good.clone();
    bad_key.p256dh = "not a key".to_owned();
    let mut short_key = good.clone();
    short_key.p256dh = URL_SAFE_NO_PAD.encode([4u8; 33]);
    let mut bad_auth = good.clone();
    bad_auth.auth = URL_SAFE_NO_PAD.encode([1u8; 5]);
    let mut bad_endpoint = good.clone();
    bad_endpoint.endpoint = "javascript:alert(1)".to_owned();
    for m in [bad_key, short_key, bad_auth, bad_endpoint] {
        assert!(sender.send(&m).await.is_err(), "{m:?}");
    }
}

/// A push endpoint on loopback is never connected to (the stand-in for every non-public address:
/// tests send nothing beyond this machine), and nothing is reported delivered.
pub async fn private_addresses_are_never_reached(sender: Arc<dyn PushSender>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for endpoint in [
        format!("http://127.0.0.1:{port}/push"),
        format!("http://localhost:{port}/push"),
        format!("http://[::ffff:127.0.0.1]:{port}/push"),
    ] {
        let outcome = sender.send(&message(sender.as_ref(), &endpoint)).await;
        assert!(
            !matches!(outcome, Ok(PushOutcome::Delivered)),
            "{endpoint}: {outcome:?}"
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        listener.accept().is_err(),
        "the sender connected to loopback"
    );
}
