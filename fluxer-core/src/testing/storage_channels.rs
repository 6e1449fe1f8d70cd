//! Guild and private channels, cascading channel deletion, and webhooks.

use std::sync::Arc;

use crate::model::{Channel, ChannelType, Invite, ReadState, Webhook};
use crate::ports::{MessagePage, Store};

use super::fixtures::{Fixtures, unicode_emoji};
use super::storage::{assert_not_found, sorted};

/// Channels are created and replaced whole; updating an unknown one is `NotFound`.
pub async fn channels_create_get_update(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let g = fx.make_guild(owner.id);
    g.create_in(&*store).await.unwrap();

    let mut voice = fx.make_text_channel(g.guild.id, "voice", 5);
    voice.kind = ChannelType::GuildVoice;
    voice.bitrate = Some(64_000);
    voice.user_limit = Some(10);
    store.create_channel(&voice).await.unwrap();
    assert_eq!(
        store.get_channel(voice.id).await.unwrap(),
        Some(voice.clone())
    );

    let mut edited = g.channel().clone();
    edited.name = Some("renamed".to_owned());
    edited.topic = Some("a topic".to_owned());
    edited.nsfw = true;
    edited.rate_limit_per_user = 10;
    store.update_channel(&edited).await.unwrap();
    assert_eq!(store.get_channel(edited.id).await.unwrap(), Some(edited));

    let ghost = fx.make_text_channel(g.guild.id, "ghost", 9);
    assert_not_found(store.update_channel(&ghost).await);
    assert_eq!(store.get_channel(ghost.id).await.unwrap(), None);
}

/// A guild's channels list by position, then ID, and only its own.
pub async fn channels_listed_by_position_then_id(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let mut g = fx.make_guild(owner.id);
    let gid = g.guild.id;
    // Two channels share position 1: the smaller ID comes first whatever the creation order.
    let low = fx.make_text_channel(gid, "low", 1);
    let high = fx.make_text_channel(gid, "high", 1);
    g.channels = vec![fx.make_text_channel(gid, "c", 3)];
    g.create_in(&*store).await.unwrap();
    store.create_channel(&high).await.unwrap();
    store
        .create_channel(&fx.make_text_channel(gid, "a", -1))
        .await
        .unwrap();
    store.create_channel(&low).await.unwrap();
    store
        .create_channel(&fx.make_text_channel(gid, "b", 2))
        .await
        .unwrap();
    // Another guild's channel is not listed.
    let other = fx.make_guild(owner.id);
    other.create_in(&*store).await.unwrap();

    let listed = store.list_guild_channels(gid).await.unwrap();
    let names: Vec<&str> = listed
        .iter()
        .map(|c| c.name.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(names, vec!["a", "low", "high", "b", "c"]);
}

/// `update_channels` applies every change, or none when one channel is unknown (`NotFound`).
pub async fn channels_update_many_is_atomic(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let g = fx.make_guild(owner.id);
    g.create_in(&*store).await.unwrap();
    let (a, b) = (g.channels[0].clone(), g.channels[1].clone());

    let (mut a2, mut b2) = (a.clone(), b.clone());
    a2.position = 1;
    b2.position = 0;
    store
        .update_channels(&[a2.clone(), b2.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.list_guild_channels(g.guild.id).await.unwrap(),
        vec![b2.clone(), a2.clone()]
    );

    // One unknown channel in the batch: nothing is applied.
    let (mut a3, mut ghost) = (a2.clone(), fx.make_text_channel(g.guild.id, "ghost", 7));
    a3.position = 9;
    ghost.position = 8;
    assert_not_found(store.update_channels(&[a3, ghost.clone()]).await);
    assert_eq!(
        store.list_guild_channels(g.guild.id).await.unwrap(),
        vec![b2, a2]
    );
    assert_eq!(store.get_channel(ghost.id).await.unwrap(), None);
}

/// `find_dm_channel` finds the 1:1 DM with the users in either order, never a group DM.
pub async fn dm_channel_found_in_either_order(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (a, b, c) = (fx.make_user(), fx.make_user(), fx.make_user());
    for u in [&a, &b, &c] {
        store.create_user(u).await.unwrap();
    }
    // A group DM with both is not their DM.
    store
        .create_channel(&fx.make_group_dm(a.id, &[b.id, c.id]))
        .await
        .unwrap();
    assert_eq!(store.find_dm_channel(a.id, b.id).await.unwrap(), None);

    let dm = fx.make_dm(a.id, b.id);
    store.create_channel(&dm).await.unwrap();
    assert_eq!(
        store.find_dm_channel(a.id, b.id).await.unwrap(),
        Some(dm.clone())
    );
    assert_eq!(store.find_dm_channel(b.id, a.id).await.unwrap(), Some(dm));
    assert_eq!(store.find_dm_channel(a.id, c.id).await.unwrap(), None);
    assert_eq!(store.find_dm_channel(c.id, b.id).await.unwrap(), None);
}

/// `list_private_channels` gives each recipient its DMs and group DMs, and none to others.
pub async fn private_channels_listed_for_recipients(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (a, b, c) = (fx.make_user(), fx.make_user(), fx.make_user());
    for u in [&a, &b, &c] {
        store.create_user(u).await.unwrap();
    }
    let g = fx.make_guild(a.id);
    g.create_in(&*store).await.unwrap();
    let ab = fx.make_dm(a.id, b.id);
    let bc = fx.make_dm(b.id, c.id);
    let group = fx.make_group_dm(c.id, &[a.id]);
    for ch in [&ab, &bc, &group] {
        store.create_channel(ch).await.unwrap();
    }
    let ids = |v: Vec<Channel>| sorted(v.into_iter().map(|c| c.id).collect());
    assert_eq!(
        ids(store.list_private_channels(a.id).await.unwrap()),
        sorted(vec![ab.id, group.id])
    );
    assert_eq!(
        ids(store.list_private_channels(b.id).await.unwrap()),
        sorted(vec![ab.id, bc.id])
    );
    assert_eq!(
        ids(store.list_private_channels(c.id).await.unwrap()),
        sorted(vec![bc.id, group.id])
    );
    let outsider = fx.make_user();
    assert!(
        store
            .list_private_channels(outsider.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Deleting a channel removes its messages, reactions, invites (not the vanity one), webhooks and
/// read states, and leaves its sibling alone.
pub async fn channel_delete_cascades(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, reader) = (fx.make_user(), fx.make_user());
    store.create_user(&owner).await.unwrap();
    store.create_user(&reader).await.unwrap();
    let g = fx.make_guild(owner.id);
    g.create_in(&*store).await.unwrap();
    let (doomed, kept) = (g.channels[0].clone(), g.channels[1].clone());

    let mut doomed_msgs = Vec::new();
    for _ in 0..5 {
        let m = fx.make_message(&doomed, owner.id);
        store.insert_message(&m).await.unwrap();
        store
            .add_reaction(doomed.id, m.id, &unicode_emoji("🔥"), reader.id)
            .await
            .unwrap();
        doomed_msgs.push(m);
    }
    let kept_msg = fx.make_message(&kept, owner.id);
    store.insert_message(&kept_msg).await.unwrap();
    let invite = fx.make_invite(&doomed);
    let kept_invite = fx.make_invite(&kept);
    // A vanity invite belongs to the guild's vanity code, not to the channel it points at.
    let vanity = Invite {
        vanity: true,
        ..fx.make_invite(&doomed)
    };
    for i in [&invite, &kept_invite, &vanity] {
        store.create_invite(i).await.unwrap();
    }
    let hook = fx.make_webhook(&doomed, owner.id);
    let kept_hook = fx.make_webhook(&kept, owner.id);
    store.create_webhook(&hook).await.unwrap();
    store.create_webhook(&kept_hook).await.unwrap();
    let state = ReadState {
        user_id: reader.id,
        channel_id: doomed.id,
        last_message_id: Some(doomed_msgs[2].id),
        mention_count: 1,
        last_pin_timestamp: None,
    };
    store.put_read_state(&state).await.unwrap();
    let kept_state = ReadState {
        channel_id: kept.id,
        last_message_id: Some(kept_msg.id),
        ..state.clone()
    };
    store.put_read_state(&kept_state).await.unwrap();

    store.delete_channel(doomed.id).await.unwrap();

    assert_eq!(store.get_channel(doomed.id).await.unwrap(), None);
    assert!(
        store
            .list_messages(doomed.id, MessagePage::Latest, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let ids: Vec<_> = doomed_msgs.iter().map(|m| m.id).collect();
    for m in &doomed_msgs {
        assert_eq!(store.get_message(doomed.id, m.id).await.unwrap(), None);
    }
    assert!(
        store
            .reaction_counts(doomed.id, &ids, reader.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_reaction_users(doomed.id, ids[0], "🔥", None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.get_invite(&invite.code).await.unwrap(), None);
    assert_eq!(
        store.list_channel_invites(doomed.id).await.unwrap(),
        vec![vanity.clone()]
    );
    assert_eq!(
        store.get_invite(&vanity.code).await.unwrap(),
        Some(vanity.clone())
    );
    assert_eq!(store.get_webhook(hook.id).await.unwrap(), None);
    assert!(
        store
            .list_channel_webhooks(doomed.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_read_state(reader.id, doomed.id).await.unwrap(),
        None
    );
    assert_eq!(
        store.list_read_states(reader.id).await.unwrap(),
        vec![kept_state]
    );

    // The sibling channel keeps everything.
    assert_eq!(
        store.list_guild_channels(g.guild.id).await.unwrap(),
        vec![store.get_channel(kept.id).await.unwrap().unwrap()]
    );
    assert_eq!(
        store
            .list_messages(kept.id, MessagePage::Latest, 100)
            .await
            .unwrap(),
        vec![kept_msg]
    );
    let mut invites = store.list_guild_invites(g.guild.id).await.unwrap();
    invites.sort_by(|a, b| a.code.cmp(&b.code));
    let mut expected = vec![kept_invite, vanity];
    expected.sort_by(|a, b| a.code.cmp(&b.code));
    assert_eq!(invites, expected);
    assert_eq!(
        store.list_guild_webhooks(g.guild.id).await.unwrap(),
        vec![kept_hook]
    );
}

/// Webhooks are created, read, replaced (`NotFound` when missing), listed per channel and guild, and
/// deleted.
pub async fn webhooks_crud_and_lists(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let (a, b) = (g.channels[0].clone(), g.channels[1].clone());
    let (h1, h2, h3) = (
        fx.make_webhook(&a, owner.id),
        fx.make_webhook(&a, owner.id),
        fx.make_webhook(&b, owner.id),
    );
    for h in [&h3, &h1, &h2] {
        store.create_webhook(h).await.unwrap();
    }
    assert_eq!(store.get_webhook(h1.id).await.unwrap(), Some(h1.clone()));

    let mut edited = h2.clone();
    edited.name = "renamed".to_owned();
    edited.avatar = Some("hash".to_owned());
    edited.channel_id = b.id;
    store.update_webhook(&edited).await.unwrap();
    assert_eq!(
        store.get_webhook(h2.id).await.unwrap(),
        Some(edited.clone())
    );

    let ghost = fx.make_webhook(&a, owner.id);
    assert_not_found(store.update_webhook(&ghost).await);
    assert_eq!(store.get_webhook(ghost.id).await.unwrap(), None);

    let by_id = |mut v: Vec<Webhook>| {
        v.sort_by_key(|h| h.id);
        v
    };
    assert_eq!(
        store.list_channel_webhooks(a.id).await.unwrap(),
        vec![h1.clone()]
    );
    assert_eq!(
        by_id(store.list_channel_webhooks(b.id).await.unwrap()),
        by_id(vec![edited.clone(), h3.clone()])
    );
    assert_eq!(
        by_id(store.list_guild_webhooks(g.guild.id).await.unwrap()),
        by_id(vec![h1.clone(), edited, h3.clone()])
    );

    assert!(store.delete_webhook(h1.id).await.unwrap());
    assert!(!store.delete_webhook(h1.id).await.unwrap());
    assert_eq!(store.get_webhook(h1.id).await.unwrap(), None);
    assert!(store.list_channel_webhooks(a.id).await.unwrap().is_empty());
}
