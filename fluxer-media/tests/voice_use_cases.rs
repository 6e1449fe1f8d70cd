//! The voice use-cases on the real LiveKit adapter and the in-memory store, with a manual clock:
//! a join LiveKit never confirms expires after 30 s and leaves nothing behind; a confirmed one
//! stays; the minted token verifies as HS256 with the server's secret (checked here with the `hmac`
//! crate; against LiveKit's Python SDK in tests/e2e). Two `Fluxer`s sharing one store of voice
//! states behave as two nodes: a join made on one is confirmed, listed and ended from the other,
//! and a pending join expires once between them.

use std::sync::Arc;

use fluxer_core::id::{ChannelId, GuildId};
use fluxer_core::ports::{InProcessVoiceStates, ManualClock, VoiceServerCredentials, VoiceStates};
use fluxer_core::service::{
    Actor, Argon2Hasher, ChannelCreate, Config, Fluxer, GuildCreate, InviteCreate, Ports,
    VoiceRegion, VoiceServer, VoiceSettings, VoiceStateRequest,
};
use fluxer_core::time::Timestamp;
use fluxer_media::LiveKit;
use fluxer_storage::memory::{InProcessEventBus, MemoryCache, MemoryMailer, MemoryStore};

fluxer_core::voice_backend_conformance_tests!(
    Arc::new(LiveKit::new()) as Arc<dyn fluxer_core::ports::VoiceBackend>
);

const SECRET: &str = "a-livekit-secret-of-at-least-32-characters";

struct Env {
    fluxer: Fluxer,
    clock: Arc<ManualClock>,
    /// Another node on the same database, bus, clock and voice states.
    peer: Fluxer,
}

fn env() -> Env {
    let clock = Arc::new(ManualClock::new(Timestamp::from_unix_ms(1_800_000_000_000)));
    let mut ports = Ports::new(
        Arc::new(MemoryStore::new()),
        Arc::new(InProcessEventBus::new()),
        Arc::new(MemoryMailer::new()),
        Arc::new(MemoryCache::new()),
    );
    ports.clock = clock.clone();
    ports.hasher = Arc::new(Argon2Hasher::fast_for_tests());
    ports.voice = Some(Arc::new(LiveKit::new()));
    let shared: Arc<dyn VoiceStates> = Arc::new(InProcessVoiceStates::new());
    ports.voice_states = Some(shared);
    let region = VoiceRegion {
        id: "eu".into(),
        name: "Europe".into(),
        emoji: "🇪🇺".into(),
        latitude: 50.0,
        longitude: 8.0,
        is_default: true,
        servers: vec![VoiceServer {
            id: "one".into(),
            credentials: VoiceServerCredentials {
                endpoint: "wss://lk.invalid".into(),
                api_key: "key".into(),
                api_secret: SECRET.into(),
            },
            active: true,
        }],
    };
    let config = Config {
        voice: Some(VoiceSettings::single(region)),
        ..Config::default()
    };
    Env {
        peer: Fluxer::new(ports.clone(), config.clone()),
        fluxer: Fluxer::new(ports, config),
        clock,
    }
}

async fn user(env: &Env, name: &str) -> Actor {
    fluxer_core::testing::people::register(&env.fluxer, name)
        .await
        .1
}

async fn voice_guild(env: &Env, owner: &Actor, member: &Actor) -> (GuildId, ChannelId) {
    let guild = env
        .fluxer
        .create_guild(
            owner,
            GuildCreate {
                name: "G".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let text = env.fluxer.list_guild_channels(owner, guild).await.unwrap()[0].id;
    let invite = env
        .fluxer
        .create_invite(owner, text, InviteCreate::default())
        .await
        .unwrap();
    env.fluxer
        .accept_invite(member, &invite.code)
        .await
        .unwrap();
    let voice = env
        .fluxer
        .create_guild_channel(
            owner,
            guild,
            ChannelCreate {
                name: "Voice".into(),
                kind: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    (guild, voice)
}

/// The claims of a LiveKit access token once its HS256 signature checks out with [`SECRET`]
/// (verified here with the `hmac` crate, apart from the adapter's own code).
fn verified_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use hmac::{Hmac, Mac};

    let (input, signature) = token.rsplit_once('.').expect("a JWT");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    mac.verify_slice(&URL_SAFE_NO_PAD.decode(signature).unwrap())
        .expect("signed with the server's secret");
    let (header, payload) = input.split_once('.').unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn join(guild: GuildId, channel: ChannelId) -> VoiceStateRequest {
    VoiceStateRequest {
        guild_id: Some(guild),
        channel_id: Some(channel),
        ..Default::default()
    }
}

#[tokio::test]
async fn unconfirmed_joins_expire_after_30_seconds_and_confirmed_ones_stay() {
    let env = env();
    let owner = user(&env, "owner").await;
    let member = user(&env, "member").await;
    let (guild, voice) = voice_guild(&env, &owner, &member).await;
    let f = &env.fluxer;
    assert!(f.voice_enabled());

    let pending = f
        .update_voice_state(member.id(), "session-a", join(guild, voice))
        .await
        .unwrap()
        .expect("a VOICE_SERVER_UPDATE");
    let claims = verified_claims(&pending.token);
    assert_eq!(claims["iss"], "key");
    assert_eq!(
        claims["sub"],
        format!("user_{}_{}", member.id(), pending.connection_id)
    );
    assert_eq!(
        claims["video"]["room"],
        format!("guild_{guild}_channel_{voice}")
    );
    assert_eq!(pending.endpoint, "wss://lk.invalid");

    let confirmed = f
        .update_voice_state(owner.id(), "session-b", join(guild, voice))
        .await
        .unwrap()
        .unwrap();
    assert!(
        f.confirm_voice_connection(&confirmed.connection_id)
            .await
            .unwrap()
    );
    // Pending joins are not shown.
    let shown: Vec<_> = f
        .guild_voice_states(guild)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.connection_id)
        .collect();
    assert_eq!(shown, vec![confirmed.connection_id.clone()]);

    env.clock.advance_ms(29_000);
    assert_eq!(f.expire_pending_voice().await.unwrap(), 0);
    env.clock.advance_ms(2_000);
    assert_eq!(f.expire_pending_voice().await.unwrap(), 1);
    // The expired connection is gone for good: confirming it finds nothing.
    assert!(
        !f.confirm_voice_connection(&pending.connection_id)
            .await
            .unwrap()
    );
    assert_eq!(f.guild_voice_states(guild).await.unwrap().len(), 1);

    // The ended session's connections go with it.
    f.leave_voice_session(owner.id(), "session-b")
        .await
        .unwrap();
    assert!(f.guild_voice_states(guild).await.unwrap().is_empty());
}

#[tokio::test]
async fn nodes_sharing_voice_states_confirm_list_expire_and_end_each_others_joins() {
    let env = env();
    let (a, b) = (&env.fluxer, &env.peer);
    let owner = user(&env, "owner").await;
    let member = user(&env, "member").await;
    let (guild, voice) = voice_guild(&env, &owner, &member).await;

    // Joined through node A's gateway, confirmed by a webhook that landed on node B.
    let joined = a
        .update_voice_state(owner.id(), "session-a", join(guild, voice))
        .await
        .unwrap()
        .unwrap();
    assert!(b.guild_voice_states(guild).await.unwrap().is_empty());
    assert!(
        b.confirm_voice_connection(&joined.connection_id)
            .await
            .unwrap()
    );
    let listed = |f: &Fluxer| {
        let f = f.clone();
        async move {
            f.guild_voice_states(guild)
                .await
                .unwrap()
                .into_iter()
                .map(|s| (s.connection_id, s.session_id))
                .collect::<Vec<_>>()
        }
    };
    let expected = vec![(joined.connection_id.clone(), "session-a".to_owned())];
    assert_eq!(listed(a).await, expected);
    assert_eq!(listed(b).await, expected);

    // A pending join expires once, though both nodes sweep at the same time.
    let pending = b
        .update_voice_state(member.id(), "session-m", join(guild, voice))
        .await
        .unwrap()
        .unwrap();
    env.clock.advance_ms(31_000);
    let (on_a, on_b) = tokio::join!(a.expire_pending_voice(), b.expire_pending_voice());
    assert_eq!(on_a.unwrap() + on_b.unwrap(), 1);
    assert!(
        !a.confirm_voice_connection(&pending.connection_id)
            .await
            .unwrap()
    );
    assert_eq!(listed(b).await, expected, "the confirmed join stays");

    // Session A ends on node A: node B no longer lists it.
    a.leave_voice_session(owner.id(), "session-a")
        .await
        .unwrap();
    assert!(listed(b).await.is_empty());
}

#[tokio::test]
async fn voice_is_refused_when_not_configured() {
    let ports = Ports::new(
        Arc::new(MemoryStore::new()),
        Arc::new(InProcessEventBus::new()),
        Arc::new(MemoryMailer::new()),
        Arc::new(MemoryCache::new()),
    );
    let fluxer = Fluxer::new(ports, Config::default());
    assert!(!fluxer.voice_enabled());
    assert!(fluxer.voice_regions().is_empty());
    let err = fluxer
        .update_voice_state(
            fluxer_core::id::UserId::new(1),
            "s",
            join(GuildId::new(2), ChannelId::new(3)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            fluxer_core::Error::Rejected {
                code: "VOICE_DISABLED",
                ..
            }
        ),
        "{err:?}"
    );
}
