//! Web Push fan-out on the in-memory adapters, jobs run inline (no queue): who is told of a new
//! message. In a small guild, the subscribed members who can see the channel, not its author; in a
//! guild of more than `LARGE_GUILD` members only those it mentions are (the end-to-end suite
//! covers DMs and small guilds against a real push service); a burst of messages handed to one
//! `push_messages` job tells each one of them.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fluxer_core::id::{ChannelId, GuildId};
use fluxer_core::permission::{OverwriteType, PermissionOverwrite, Permissions};
use fluxer_core::ports::{PortResult, PushMessage, PushOutcome, PushSender};
use fluxer_core::service::{
    Actor, Argon2Hasher, ChannelCreate, Config, Fluxer, GuildCreate, InviteCreate, LARGE_GUILD,
    Ports, PushKeys, PushSubscribe, RoleCreate, Task,
};
use fluxer_core::testing::people::{post, register};
use fluxer_storage::memory::{InProcessEventBus, MemoryCache, MemoryMailer, MemoryStore};
use serde_json::Value;

/// A push service that records what it is sent.
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<PushMessage>>,
}

#[async_trait]
impl PushSender for Recorder {
    fn public_key(&self) -> &str {
        "BAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"
    }

    async fn send(&self, message: &PushMessage) -> PortResult<PushOutcome> {
        self.sent.lock().unwrap().push(message.clone());
        Ok(PushOutcome::Delivered)
    }
}

impl Recorder {
    /// (endpoint, message ID) of every notification sent so far, emptied.
    fn take(&self) -> Vec<(String, String)> {
        self.sent
            .lock()
            .unwrap()
            .drain(..)
            .map(|m| {
                let payload: Value = serde_json::from_slice(&m.payload).unwrap();
                let id = payload["data"]["message_id"].as_str().unwrap().to_owned();
                (m.endpoint, id)
            })
            .collect()
    }
}

fn env() -> (Fluxer, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut ports = Ports::new(
        Arc::new(MemoryStore::new()),
        Arc::new(InProcessEventBus::new()),
        Arc::new(MemoryMailer::new()),
        Arc::new(MemoryCache::new()),
    );
    ports.hasher = Arc::new(Argon2Hasher::fast_for_tests());
    ports.push = Some(recorder.clone());
    (Fluxer::new(ports, Config::default()), recorder)
}

async fn user(fluxer: &Fluxer, name: &str) -> Actor {
    register(fluxer, name).await.1
}

async fn subscribe(fluxer: &Fluxer, actor: &Actor) -> String {
    let endpoint = format!("https://push.example.com/{}", actor.id());
    fluxer
        .subscribe_push(
            actor,
            PushSubscribe {
                endpoint: endpoint.clone(),
                keys: PushKeys {
                    p256dh: Recorder::default().public_key().to_owned(),
                    auth: "AQEBAQEBAQEBAQEBAQEBAQ".to_owned(),
                },
                user_agent: None,
            },
        )
        .await
        .unwrap();
    endpoint
}

/// A new guild of `owner`'s: its ID, its first channel and an invite code to it.
async fn guild_of(fluxer: &Fluxer, owner: &Actor, name: &str) -> (GuildId, ChannelId, String) {
    let guild = fluxer
        .create_guild(
            owner,
            GuildCreate {
                name: name.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    let general = fluxer.list_guild_channels(owner, guild).await.unwrap()[0].id;
    let invite = fluxer
        .create_invite(owner, general, InviteCreate::default())
        .await
        .unwrap();
    (guild, general, invite.code)
}

#[tokio::test]
async fn a_small_guild_tells_the_subscribed_who_see_the_channel() {
    let (fluxer, recorder) = env();
    let owner = user(&fluxer, "owner").await;
    let (guild, general, invite) = guild_of(&fluxer, &owner, "Few").await;
    let (bob, carol, dave) = (
        user(&fluxer, "bob").await,
        user(&fluxer, "carol").await,
        user(&fluxer, "dave").await,
    );
    for member in [&bob, &carol, &dave] {
        fluxer.accept_invite(member, &invite).await.unwrap();
    }
    // Bob, Carol and the owner subscribe, Dave does not; nobody has a gateway session, so all
    // are away.
    let bob_endpoint = subscribe(&fluxer, &bob).await;
    let carol_endpoint = subscribe(&fluxer, &carol).await;
    let owner_endpoint = subscribe(&fluxer, &owner).await;
    // #staff: hidden from @everyone, shown to the Staff role, which Carol holds.
    let staff_role = fluxer
        .create_role(
            &owner,
            guild,
            RoleCreate {
                name: Some("Staff".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    fluxer
        .set_member_role(&owner, guild, carol.id(), staff_role, true)
        .await
        .unwrap();
    let staff = fluxer
        .create_guild_channel(
            &owner,
            guild,
            ChannelCreate {
                name: "staff".into(),
                permission_overwrites: vec![
                    PermissionOverwrite {
                        id: guild.0,
                        kind: OverwriteType::Role,
                        allow: Permissions::empty(),
                        deny: Permissions::VIEW_CHANNEL,
                    },
                    PermissionOverwrite {
                        id: staff_role.0,
                        kind: OverwriteType::Role,
                        allow: Permissions::VIEW_CHANNEL,
                        deny: Permissions::empty(),
                    },
                ],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;

    let hello = post(&fluxer, &owner, general, "hello all").await;
    let mut told = recorder.take();
    told.sort();
    let mut expected = vec![
        (bob_endpoint.clone(), hello.to_string()),
        (carol_endpoint.clone(), hello.to_string()),
    ];
    expected.sort();
    assert_eq!(told, expected, "the subscribed members, not the author");

    let secret = post(&fluxer, &owner, staff, "staff only").await;
    assert_eq!(
        recorder.take(),
        vec![(carol_endpoint.clone(), secret.to_string())],
        "only who can see #staff"
    );

    let reply = post(&fluxer, &carol, staff, "noted").await;
    assert_eq!(
        recorder.take(),
        vec![(owner_endpoint.clone(), reply.to_string())]
    );

    // Everyone subscribed hears from Dave (who, subscribed nowhere, is never told anything).
    let from_dave = post(&fluxer, &dave, general, "hi").await;
    let mut told = recorder.take();
    told.sort();
    let mut expected = vec![
        (bob_endpoint, from_dave.to_string()),
        (carol_endpoint, from_dave.to_string()),
        (owner_endpoint, from_dave.to_string()),
    ];
    expected.sort();
    assert_eq!(told, expected);
}

#[tokio::test]
async fn a_large_guild_tells_only_those_a_message_mentions() {
    let (fluxer, recorder) = env();
    let owner = user(&fluxer, "owner").await;
    let (_, general, invite) = guild_of(&fluxer, &owner, "Crowd").await;
    let mut members = Vec::new();
    for n in 0..LARGE_GUILD {
        let member = user(&fluxer, &format!("member{n}")).await;
        fluxer.accept_invite(&member, &invite).await.unwrap();
        members.push(member);
    }
    // Nobody has a gateway session (no presence port): everyone is away.
    let bob = &members[0];
    let carol = &members[1];
    let bob_endpoint = subscribe(&fluxer, bob).await;
    let carol_endpoint = subscribe(&fluxer, carol).await;
    let _owner_endpoint = subscribe(&fluxer, &owner).await;

    // Not mentioned: nobody is told in a guild this large, though Carol would be in a small one.
    post(&fluxer, &owner, general, "good morning, everyone").await;
    assert_eq!(recorder.take(), Vec::new());

    // Mentioned: Bob alone, and not the author.
    let ping = post(&fluxer, &owner, general, &format!("<@{}> look", bob.id())).await;
    assert_eq!(
        recorder.take(),
        vec![(bob_endpoint.clone(), ping.to_string())]
    );

    // A burst in one job: each message reaches whom it mentions, once.
    let first = post(&fluxer, carol, general, &format!("<@{}> one", bob.id())).await;
    let second = post(&fluxer, bob, general, &format!("<@{}> two", carol.id())).await;
    recorder.take();
    fluxer
        .run_task(Task::PushMessages {
            messages: vec![(general, first), (general, second)],
        })
        .await
        .unwrap();
    let mut told = recorder.take();
    told.sort();
    let mut expected = vec![
        (bob_endpoint, first.to_string()),
        (carol_endpoint, second.to_string()),
    ];
    expected.sort();
    assert_eq!(told, expected);
}
