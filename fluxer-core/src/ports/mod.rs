//! The ports: traits a backend implements so the domain can run on it.
//!
//! Every port is an object-safe `async_trait` used as `Arc<dyn Port>`. We chose dynamic dispatch over
//! generics once, for all ports: backends are picked at run time from configuration (one binary serves
//! SQLite or PostgreSQL, in-process or NATS), a host can swap one without recompiling the services, and
//! the cost of a virtual call and a boxed future is noise next to the I/O behind every port.
//!
//! Each port has a conformance suite in [`crate::testing`] (feature `testing`); an adapter is done when
//! it passes.

mod blob;
mod bluesky;
mod cache;
mod clock;
mod domains;
mod events;
mod gifs;
mod mailer;
mod media;
mod presence;
mod push;
mod queue;
mod search;
mod sso;
mod storage;
mod unfurl;
mod voice;
mod voice_states;
mod webauthn;

pub use blob::{BlobFolderUsage, BlobMeta, BlobStore, usage_folder};
pub use bluesky::{BlueskyIdentity, BlueskyOAuth, BlueskyStart};
pub use cache::{Cache, WindowCount};
pub use clock::{Clock, ManualClock, SystemClock};
pub use domains::DomainProbe;
pub use events::{
    Dispatch, EventBus, EventKind, Lagged, Replay, SessionsRevoked, Subscription, Topic,
    UnknownEvent,
};
pub use gifs::{GifAudience, GifCategory, GifProvider, GifProviderKind, ProviderGif};
pub use mailer::{Email, Mailer};
pub use media::{Media, MediaInfo};
pub use presence::{Presence, PresenceEntry, Status};
pub use push::{PushMessage, PushOutcome, PushSender, PushUrgency};
pub use queue::{Job, JobState, NewJob, Queue, QueueStats};
pub use search::{
    GuildDocument, Has, MessageDocument, MessageSearch, SearchHits, SearchIndex, UserDocument,
};
pub use sso::{
    OidcAuthorizationRequest, OidcClientSettings, OidcConnector, OidcError, OidcIdentity,
    OidcProvider,
};
pub use storage::*;
pub use unfurl::{RemoteMedia, Unfurler};
pub use voice::{
    ParticipantRights, TrackSource, VoiceBackend, VoiceGrant, VoiceServerCredentials,
    VoiceWebhookEvent, WebhookRejection,
};
pub use voice_states::{InProcessVoiceStates, VoiceConnection, VoiceScope, VoiceStates};
pub use webauthn::{
    RegisteredCredential, VerifiedAssertion, WebAuthnCeremonies, WebAuthnChallenge,
    WebAuthnCredentialRepository, WebAuthnFailure,
};

/// The result of a port call.
pub type PortResult<T> = Result<T, crate::error::StoreError>;
