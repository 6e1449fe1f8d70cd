//! Web Push: delivering an encrypted notification to a browser's push service (RFC 8030), with
//! the payload encrypted for the subscriber (RFC 8291) and the request signed with the instance's
//! VAPID key (RFC 8292). The use-cases decide who gets a notification and what it says; the
//! adapter encrypts, signs and posts it.

use async_trait::async_trait;

use super::PortResult;

/// How soon the push service should wake the device (RFC 8030 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PushUrgency {
    /// Can wait for the device to wake on its own.
    Low,
    /// The default.
    Normal,
    /// A direct message or a mention: deliver now.
    High,
}

impl PushUrgency {
    /// The `Urgency` header's value.
    pub fn as_str(self) -> &'static str {
        match self {
            PushUrgency::Low => "low",
            PushUrgency::Normal => "normal",
            PushUrgency::High => "high",
        }
    }
}

/// One notification to one browser subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    /// The push service's URL for this subscription (the browser's `PushSubscription.endpoint`).
    pub endpoint: String,
    /// The subscriber's P-256 public key, base64url (`keys.p256dh`).
    pub p256dh: String,
    /// The subscriber's authentication secret, base64url (`keys.auth`).
    pub auth: String,
    /// The plaintext (upstream's JSON notification), encrypted by the adapter.
    pub payload: Vec<u8>,
    /// How long the push service keeps it for an unreachable device, in seconds.
    pub ttl_secs: u32,
    /// How soon to deliver it.
    pub urgency: PushUrgency,
}

/// What the push service made of a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// Accepted (2xx).
    Delivered,
    /// The subscription no longer exists (404 or 410): it should be forgotten.
    Gone,
    /// Refused for good (another 4xx: a malformed subscription or payload); not worth a retry.
    Rejected(String),
    /// Not delivered this time (429, 5xx, network error): worth a retry later.
    Retry(String),
}

/// Sends Web Push notifications with the instance's VAPID key.
#[async_trait]
pub trait PushSender: Send + Sync {
    /// The VAPID public key as clients pass it to `pushManager.subscribe` (`applicationServerKey`):
    /// the uncompressed P-256 point, base64url without padding.
    fn public_key(&self) -> &str;
    /// Encrypts and posts one notification. Only a subscription that cannot be used (keys that do
    /// not decode) is an error; what the push service answers is the [`PushOutcome`].
    async fn send(&self, message: &PushMessage) -> PortResult<PushOutcome>;
}
