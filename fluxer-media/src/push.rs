//! Web Push delivery: [`WebPush`] implements the core's [`PushSender`] port. The payload is
//! encrypted for the subscriber with `aes128gcm` (RFC 8291, by the `web-push-native` crate), the
//! request carries a VAPID JWT (RFC 8292: ES256 over `aud` = the endpoint's origin, `exp`, `sub`
//! = the instance's contact) signed with the instance's key, and it is posted through the media
//! proxy's SSRF-safe fetcher: push services are public hosts, so anything else is refused unless
//! listed in `allow_addresses` (a test hook).

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use fluxer_core::error::StoreError;
use fluxer_core::ports::{PortResult, PushMessage, PushOutcome, PushSender};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use sha2::{Digest, Sha256};
use web_push_native::Auth;

use crate::proxy::ExternalConfig;
use crate::proxy::external::{Agent, Call, call_as};

/// How the instance introduces itself to push services.
const AGENT: Agent = Agent {
    user_agent: "Fluxer (Web Push)",
    accept: "*/*",
};
/// How long a VAPID token is good for (RFC 8292 allows at most 24 hours).
const TOKEN_LIFETIME_SECS: u64 = 12 * 3600;
/// Largest push service answer read (they are short error documents).
const MAX_ANSWER_BYTES: u64 = 64 << 10;
/// A push service that has not answered by then is retried later.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a VAPID key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VapidKeyError {
    /// Not 32 bytes of base64url, or not a valid P-256 private key.
    #[error("the VAPID private key must be a P-256 private key: 32 bytes in base64url")]
    Invalid,
}

/// Sends Web Push notifications with one VAPID key (see the module docs).
pub struct WebPush {
    key: SigningKey,
    public_key: String,
    contact: String,
    fetch: ExternalConfig,
}

impl std::fmt::Debug for WebPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private key stays out of logs.
        f.debug_struct("WebPush")
            .field("public_key", &self.public_key)
            .field("contact", &self.contact)
            .finish_non_exhaustive()
    }
}

impl WebPush {
    /// With the private key as upstream's configuration gives it (`auth.vapid.private_key`: the
    /// 32-byte scalar in base64url). `contact` is the JWT's `sub` (`mailto:...` or an https URL).
    pub fn from_private_key(private_key: &str, contact: &str) -> Result<Self, VapidKeyError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(private_key.trim().trim_end_matches('='))
            .map_err(|_| VapidKeyError::Invalid)?;
        let key = SigningKey::from_slice(&bytes).map_err(|_| VapidKeyError::Invalid)?;
        Ok(WebPush::with_key(key, contact))
    }

    /// With a key derived from `seed` (a secret of the instance's), so that every node sharing
    /// the seed signs with the same key and it survives restarts without being stored.
    pub fn from_seed(seed: &[u8], contact: &str) -> Self {
        let mut digest: [u8; 32] = Sha256::digest(seed).into();
        loop {
            // A digest is a valid scalar but for odds of about 2^-32; hash again if not.
            if let Ok(key) = SigningKey::from_slice(&digest) {
                return WebPush::with_key(key, contact);
            }
            digest = Sha256::digest(digest).into();
        }
    }

    fn with_key(key: SigningKey, contact: &str) -> Self {
        let point = key.verifying_key().to_encoded_point(false);
        WebPush {
            public_key: URL_SAFE_NO_PAD.encode(point.as_bytes()),
            key,
            contact: contact.to_owned(),
            fetch: ExternalConfig {
                enabled: true,
                max_bytes: MAX_ANSWER_BYTES,
                timeout: TIMEOUT,
                allowed_content_types: Vec::new(),
                allow_addresses: Vec::new(),
            },
        }
    }

    /// Also reaches these non-public addresses (a test hook: leave empty in production).
    pub fn with_allow_addresses(mut self, addresses: Vec<IpAddr>) -> Self {
        self.fetch.allow_addresses = addresses;
        self
    }

    /// The `Authorization` header for `endpoint`, valid until `now + TOKEN_LIFETIME_SECS`.
    fn authorization(&self, endpoint: &url::Url, now_secs: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now_secs + TOKEN_LIFETIME_SECS,
            "sub": self.contact,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        // JOSE's ES256 signature is r || s, 64 bytes: what `Signature::to_bytes` gives.
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("vapid t={signing_input}.{signature}, k={}", self.public_key)
    }
}

fn bad_subscription(what: &str) -> StoreError {
    StoreError::Refused {
        adapter: "web push",
        reason: format!("the subscription's {what} is unusable"),
    }
}

#[async_trait]
impl PushSender for WebPush {
    fn public_key(&self) -> &str {
        &self.public_key
    }

    async fn send(&self, message: &PushMessage) -> PortResult<PushOutcome> {
        let endpoint = url::Url::parse(&message.endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "https" | "http"))
            .ok_or_else(|| bad_subscription("endpoint"))?;
        let ua_public = URL_SAFE_NO_PAD
            .decode(message.p256dh.trim_end_matches('='))
            .ok()
            .and_then(|k| p256::PublicKey::from_sec1_bytes(&k).ok())
            .ok_or_else(|| bad_subscription("p256dh key"))?;
        let auth = URL_SAFE_NO_PAD
            .decode(message.auth.trim_end_matches('='))
            .ok()
            .filter(|a| a.len() == 16)
            .ok_or_else(|| bad_subscription("auth secret"))?;
        let auth = Auth::clone_from_slice(&auth);
        let body = web_push_native::encrypt(message.payload.clone(), &ua_public, &auth)
            .map_err(|e| StoreError::backend_while("web push", "encrypting", e.to_string()))?;
        let now = crate::unix_now_secs();
        let call = Call {
            method: Method::POST,
            headers: vec![
                ("ttl", message.ttl_secs.to_string()),
                ("urgency", message.urgency.as_str().to_owned()),
                ("content-encoding", "aes128gcm".to_owned()),
                ("authorization", self.authorization(&endpoint, now)),
            ],
            body: Some(("application/octet-stream", Bytes::from(body))),
        };
        let reply = match call_as(&self.fetch, endpoint.as_str(), AGENT, call).await {
            Ok(reply) => reply,
            Err(e) => return Ok(PushOutcome::Retry(e.to_string())),
        };
        let status = reply.status;
        Ok(if status.is_success() {
            PushOutcome::Delivered
        } else if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
            PushOutcome::Gone
        } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            PushOutcome::Retry(format!("push service answered {status}"))
        } else {
            PushOutcome::Rejected(format!("push service answered {status}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;

    use super::*;

    #[test]
    fn a_vapid_token_verifies_with_the_public_key_and_names_the_origin() {
        let push = WebPush::from_seed(b"seed", "mailto:admin@example.com");
        assert_eq!(
            push.public_key,
            WebPush::from_seed(b"seed", "x").public_key,
            "the same seed, the same key"
        );
        let endpoint = url::Url::parse("http://127.0.0.1:8443/push/abc").unwrap();
        let header = push.authorization(&endpoint, 1_000);
        let (token, k) = header
            .strip_prefix("vapid t=")
            .unwrap()
            .split_once(", k=")
            .unwrap();
        assert_eq!(k, push.public_key);
        let (input, sig) = token.rsplit_once('.').unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(input.split_once('.').unwrap().1)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], "http://127.0.0.1:8443");
        assert_eq!(claims["exp"], 1_000 + TOKEN_LIFETIME_SECS);
        assert_eq!(claims["sub"], "mailto:admin@example.com");
        let public = VerifyingKey::from_sec1_bytes(&URL_SAFE_NO_PAD.decode(k).unwrap()).unwrap();
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap()).unwrap();
        assert!(public.verify(input.as_bytes(), &sig).is_ok());
    }

    #[test]
    fn configured_keys_round_trip_and_bad_ones_are_refused() {
        let seeded = WebPush::from_seed(b"seed", "x");
        let private = URL_SAFE_NO_PAD.encode(seeded.key.to_bytes());
        let loaded = WebPush::from_private_key(&private, "x").unwrap();
        assert_eq!(loaded.public_key, seeded.public_key);
        assert!(WebPush::from_private_key("short", "x").is_err());
        assert!(format!("{loaded:?}").contains(&loaded.public_key));
        assert!(!format!("{loaded:?}").contains(&private));
    }
}
