//! Guilds (atomic creation, vanity codes, cascading deletion), members and roles.

use std::sync::Arc;

use crate::id::{GuildId, UserId};
use crate::model::{Invite, Member};
use crate::ports::{MessagePage, Scan, Store, Tally, conflict};

use super::fixtures::{Fixtures, T0, unicode_emoji};
use super::storage::{assert_conflict, assert_not_found, sorted};

/// `create_guild` stores the guild with its roles, channels and owner membership.
pub async fn guild_create_stores_roles_channels_and_owner(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let bundle = fx.make_guild(owner.id);
    bundle.create_in(&*store).await.unwrap();

    let id = bundle.guild.id;
    assert_eq!(
        store.get_guild(id).await.unwrap(),
        Some(bundle.guild.clone())
    );
    assert_eq!(store.list_roles(id).await.unwrap(), bundle.roles);
    assert_eq!(
        store.get_role(id, id.everyone_role()).await.unwrap(),
        Some(bundle.roles[0].clone())
    );
    assert_eq!(
        store.list_guild_channels(id).await.unwrap(),
        bundle.channels
    );
    for c in &bundle.channels {
        assert_eq!(store.get_channel(c.id).await.unwrap().as_ref(), Some(c));
    }
    assert_eq!(
        store.get_member(id, owner.id).await.unwrap(),
        Some(bundle.owner.clone())
    );
    assert_eq!(store.count_members(id).await.unwrap(), 1);
    assert_eq!(store.list_user_guild_ids(owner.id).await.unwrap(), vec![id]);
    assert_eq!(
        store.get_guild(GuildId(fx.snowflake())).await.unwrap(),
        None
    );
}

/// A guild created with a taken vanity code is a conflict that stores none of its parts.
pub async fn guild_create_with_taken_vanity_leaves_nothing_behind(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let mut first = fx.make_guild(owner.id);
    first.guild.vanity_url_code = Some("fluxer".to_owned());
    first.create_in(&*store).await.unwrap();

    let mut second = fx.make_guild(owner.id);
    second.guild.vanity_url_code = Some("fluxer".to_owned());
    assert_conflict(second.create_in(&*store).await, conflict::GUILD_VANITY);

    let id = second.guild.id;
    assert_eq!(store.get_guild(id).await.unwrap(), None);
    assert!(store.list_roles(id).await.unwrap().is_empty());
    assert!(store.list_guild_channels(id).await.unwrap().is_empty());
    for c in &second.channels {
        assert_eq!(store.get_channel(c.id).await.unwrap(), None);
    }
    assert_eq!(store.get_member(id, owner.id).await.unwrap(), None);
    assert_eq!(store.count_members(id).await.unwrap(), 0);
    assert_eq!(
        store.list_user_guild_ids(owner.id).await.unwrap(),
        vec![first.guild.id]
    );
    assert_eq!(
        store.find_guild_by_vanity("fluxer").await.unwrap(),
        Some(first.guild)
    );
}

/// Vanity codes are found, conflict when taken by another guild, and are freed when changed or
/// cleared.
pub async fn guild_vanity_conflicts_and_lookup(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let mut a = fx.make_guild(owner.id);
    a.guild.vanity_url_code = Some("alpha".to_owned());
    a.create_in(&*store).await.unwrap();
    let b = fx.make_guild(owner.id);
    b.create_in(&*store).await.unwrap();

    assert_eq!(
        store.find_guild_by_vanity("alpha").await.unwrap(),
        Some(a.guild.clone())
    );
    assert_eq!(store.find_guild_by_vanity("beta").await.unwrap(), None);

    // Taking another guild's code fails and changes nothing.
    let mut steal = b.guild.clone();
    steal.vanity_url_code = Some("alpha".to_owned());
    steal.name = "thief".to_owned();
    assert_conflict(store.update_guild(&steal).await, conflict::GUILD_VANITY);
    assert_eq!(
        store.get_guild(b.guild.id).await.unwrap(),
        Some(b.guild.clone())
    );
    assert_eq!(
        store.find_guild_by_vanity("alpha").await.unwrap(),
        Some(a.guild.clone())
    );

    // Keeping one's own code is no conflict; changing it frees the old one.
    let mut renamed = a.guild.clone();
    renamed.name = "renamed".to_owned();
    store.update_guild(&renamed).await.unwrap();
    let mut moved = renamed.clone();
    moved.vanity_url_code = Some("gamma".to_owned());
    store.update_guild(&moved).await.unwrap();
    assert_eq!(store.find_guild_by_vanity("alpha").await.unwrap(), None);
    assert_eq!(
        store.find_guild_by_vanity("gamma").await.unwrap(),
        Some(moved.clone())
    );

    let mut takes_alpha = b.guild.clone();
    takes_alpha.vanity_url_code = Some("alpha".to_owned());
    store.update_guild(&takes_alpha).await.unwrap();
    assert_eq!(
        store.find_guild_by_vanity("alpha").await.unwrap(),
        Some(takes_alpha)
    );

    // Clearing the code frees it.
    let mut cleared = moved.clone();
    cleared.vanity_url_code = None;
    store.update_guild(&cleared).await.unwrap();
    assert_eq!(store.find_guild_by_vanity("gamma").await.unwrap(), None);
}

/// `update_guild` replaces (`NotFound` when missing); `get_guilds` skips unknown IDs.
pub async fn guild_update_and_get_guilds(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let (a, b) = (fx.make_guild(owner.id), fx.make_guild(owner.id));
    a.create_in(&*store).await.unwrap();
    b.create_in(&*store).await.unwrap();

    let mut edited = a.guild.clone();
    edited.name = "edited".to_owned();
    edited.description = Some("about".to_owned());
    edited.features = vec!["COMMUNITY".to_owned()];
    edited.afk_timeout = 900;
    store.update_guild(&edited).await.unwrap();
    assert_eq!(
        store.get_guild(a.guild.id).await.unwrap(),
        Some(edited.clone())
    );

    let mut got = store
        .get_guilds(&[b.guild.id, GuildId(fx.snowflake()), a.guild.id])
        .await
        .unwrap();
    got.sort_by_key(|g| g.id);
    assert_eq!(got, vec![edited, b.guild.clone()]);

    let ghost = fx.make_guild(owner.id);
    assert_not_found(store.update_guild(&ghost.guild).await);
}

/// Deleting a guild removes everything in it and frees its vanity code; another guild is untouched.
pub async fn guild_delete_cascades(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, member, banned) = (fx.make_user(), fx.make_user(), fx.make_user());
    for u in [&owner, &member, &banned] {
        store.create_user(u).await.unwrap();
    }
    let mut doomed = fx.make_guild(owner.id);
    doomed.guild.vanity_url_code = Some("doomed".to_owned());
    doomed.create_in(&*store).await.unwrap();
    let kept = fx.make_guild(owner.id);
    kept.create_in(&*store).await.unwrap();

    let id = doomed.guild.id;
    let role = fx.make_role(id, 1);
    store.create_role(&role).await.unwrap();
    let mut m = fx.make_member(id, member.id);
    m.roles = vec![role.id];
    store.add_member(&m).await.unwrap();
    store
        .add_member(&fx.make_member(kept.guild.id, member.id))
        .await
        .unwrap();
    let invite = fx.make_invite(doomed.channel());
    store.create_invite(&invite).await.unwrap();
    let vanity = Invite {
        code: "doomed".to_owned(),
        vanity: true,
        ..fx.make_invite(doomed.channel())
    };
    store.create_invite(&vanity).await.unwrap();
    store
        .put_ban(&fx.make_ban(id, banned.id, owner.id))
        .await
        .unwrap();
    let hook = fx.make_webhook(doomed.channel(), owner.id);
    store.create_webhook(&hook).await.unwrap();
    let msg = fx.make_message(doomed.channel(), owner.id);
    store.insert_message(&msg).await.unwrap();
    store
        .add_reaction(msg.channel_id, msg.id, &unicode_emoji("👍"), member.id)
        .await
        .unwrap();
    store
        .add_mentions(member.id, doomed.channel().id, 1)
        .await
        .unwrap();

    let kept_msg = fx.make_message(kept.channel(), owner.id);
    store.insert_message(&kept_msg).await.unwrap();
    let kept_invite = fx.make_invite(kept.channel());
    store.create_invite(&kept_invite).await.unwrap();

    store.delete_guild(id).await.unwrap();

    assert_eq!(store.get_guild(id).await.unwrap(), None);
    assert_eq!(store.find_guild_by_vanity("doomed").await.unwrap(), None);
    assert!(store.list_guild_channels(id).await.unwrap().is_empty());
    for c in &doomed.channels {
        assert_eq!(store.get_channel(c.id).await.unwrap(), None);
        assert!(
            store
                .list_messages(c.id, MessagePage::Latest, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(store.list_channel_invites(c.id).await.unwrap().is_empty());
        assert!(store.list_channel_webhooks(c.id).await.unwrap().is_empty());
    }
    assert_eq!(
        store.get_message(msg.channel_id, msg.id).await.unwrap(),
        None
    );
    assert!(
        store
            .reaction_counts(msg.channel_id, &[msg.id], member.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_roles(id).await.unwrap().is_empty());
    assert_eq!(store.get_role(id, role.id).await.unwrap(), None);
    assert_eq!(store.get_member(id, owner.id).await.unwrap(), None);
    assert_eq!(store.get_member(id, member.id).await.unwrap(), None);
    assert_eq!(store.count_members(id).await.unwrap(), 0);
    assert!(store.list_members(id, None, 100).await.unwrap().is_empty());
    assert_eq!(
        store.list_user_guild_ids(owner.id).await.unwrap(),
        vec![kept.guild.id]
    );
    assert_eq!(
        store.list_user_guild_ids(member.id).await.unwrap(),
        vec![kept.guild.id]
    );
    assert_eq!(store.get_invite(&invite.code).await.unwrap(), None);
    assert_eq!(store.get_invite(&vanity.code).await.unwrap(), None);
    assert!(store.list_guild_invites(id).await.unwrap().is_empty());
    assert_eq!(store.get_ban(id, banned.id).await.unwrap(), None);
    assert!(store.list_bans(id, None, 100).await.unwrap().is_empty());
    assert_eq!(store.get_webhook(hook.id).await.unwrap(), None);
    assert!(store.list_guild_webhooks(id).await.unwrap().is_empty());
    assert_eq!(
        store
            .get_read_state(member.id, doomed.channel().id)
            .await
            .unwrap(),
        None
    );

    // The other guild is untouched, and the vanity code is free again.
    assert_eq!(
        store.get_guild(kept.guild.id).await.unwrap(),
        Some(kept.guild.clone())
    );
    assert_eq!(
        store
            .list_guild_channels(kept.guild.id)
            .await
            .unwrap()
            .len(),
        kept.channels.len()
    );
    assert_eq!(store.count_members(kept.guild.id).await.unwrap(), 2);
    assert_eq!(
        store
            .get_message(kept_msg.channel_id, kept_msg.id)
            .await
            .unwrap(),
        Some(kept_msg)
    );
    assert_eq!(
        store.get_invite(&kept_invite.code).await.unwrap(),
        Some(kept_invite)
    );
    let mut reuse = fx.make_guild(owner.id);
    reuse.guild.vanity_url_code = Some("doomed".to_owned());
    reuse.create_in(&*store).await.unwrap();
}

fn user_ids(members: &[Member]) -> Vec<UserId> {
    members.iter().map(|m| m.user_id).collect()
}

/// Members are added and read; adding one twice is a `members.pk` conflict; membership is per guild.
pub async fn members_add_get_and_conflict(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let users = fx.create_users(&*store, 2).await;
    let gid = g.guild.id;
    let mut m = fx.make_member(gid, users[0].id);
    m.nick = Some("nick".to_owned());
    store.add_member(&m).await.unwrap();
    assert_eq!(
        store.get_member(gid, users[0].id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(store.get_member(gid, users[1].id).await.unwrap(), None);

    let mut again = m.clone();
    again.nick = Some("other".to_owned());
    assert_conflict(store.add_member(&again).await, conflict::MEMBER);
    assert_eq!(
        store.get_member(gid, users[0].id).await.unwrap(),
        Some(m.clone())
    );
    assert_eq!(store.count_members(gid).await.unwrap(), 2);

    let mut got = store
        .get_members(gid, &[users[1].id, users[0].id, owner.id])
        .await
        .unwrap();
    got.sort_by_key(|m| m.user_id);
    assert_eq!(user_ids(&got), sorted(vec![owner.id, users[0].id]));
    assert!(got.contains(&m));
    assert!(store.get_members(gid, &[]).await.unwrap().is_empty());
    // Membership is per guild.
    let other = fx.make_guild(owner.id);
    other.create_in(&*store).await.unwrap();
    assert_eq!(
        store.get_member(other.guild.id, users[0].id).await.unwrap(),
        None
    );
    store
        .add_member(&fx.make_member(other.guild.id, users[0].id))
        .await
        .unwrap();
}

/// Members list by ascending user ID with an `after` cursor and are counted; a user's guilds list by
/// ascending ID.
pub async fn members_listed_and_counted(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let gid = g.guild.id;
    let users = fx.create_users(&*store, 10).await;
    // Joined in a shuffled order.
    for i in [7, 2, 9, 0, 5, 1, 8, 3, 6, 4] {
        store
            .add_member(&fx.make_member(gid, users[i].id))
            .await
            .unwrap();
    }
    let mut all: Vec<UserId> = users.iter().map(|u| u.id).collect();
    all.push(owner.id);
    let all = sorted(all);

    assert_eq!(store.count_members(gid).await.unwrap(), 11);
    assert_eq!(
        user_ids(&store.list_members(gid, None, 100).await.unwrap()),
        all
    );
    assert_eq!(
        user_ids(&store.list_members(gid, None, 3).await.unwrap()),
        all[..3].to_vec()
    );
    assert_eq!(
        user_ids(&store.list_members(gid, Some(all[2]), 4).await.unwrap()),
        all[3..7].to_vec()
    );
    assert_eq!(
        user_ids(&store.list_members(gid, Some(all[9]), 4).await.unwrap()),
        all[10..].to_vec()
    );
    assert!(
        store
            .list_members(gid, Some(all[10]), 4)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.count_members(GuildId(fx.snowflake())).await.unwrap(),
        0
    );

    // The guilds of a user, by ascending ID, whatever the joining order.
    let (g2, g3) = (fx.make_guild(owner.id), fx.make_guild(owner.id));
    g2.create_in(&*store).await.unwrap();
    g3.create_in(&*store).await.unwrap();
    store
        .add_member(&fx.make_member(g3.guild.id, users[0].id))
        .await
        .unwrap();
    store
        .add_member(&fx.make_member(g2.guild.id, users[0].id))
        .await
        .unwrap();
    assert_eq!(
        store.list_user_guild_ids(users[0].id).await.unwrap(),
        vec![gid, g2.guild.id, g3.guild.id]
    );
    assert_eq!(
        store.list_user_guild_ids(users[1].id).await.unwrap(),
        vec![gid]
    );
    assert!(
        store
            .list_user_guild_ids(UserId(fx.snowflake()))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A membership is replaced (`NotFound` when missing) and removed (the guild leaves the user's
/// list); the user may join again.
pub async fn members_update_and_remove(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let gid = g.guild.id;
    let users = fx.create_users(&*store, 2).await;
    let role = fx.make_role(gid, 1);
    store.create_role(&role).await.unwrap();
    let m = fx.make_member(gid, users[0].id);
    store.add_member(&m).await.unwrap();

    let mut edited = m.clone();
    edited.nick = Some("nick".to_owned());
    edited.avatar = Some("abc".to_owned());
    edited.roles = vec![role.id];
    edited.mute = true;
    edited.communication_disabled_until = Some(T0);
    store.update_member(&edited).await.unwrap();
    assert_eq!(
        store.get_member(gid, users[0].id).await.unwrap(),
        Some(edited)
    );

    let ghost = fx.make_member(gid, users[1].id);
    assert_not_found(store.update_member(&ghost).await);
    assert_eq!(store.get_member(gid, users[1].id).await.unwrap(), None);

    assert!(store.remove_member(gid, users[0].id).await.unwrap());
    assert!(!store.remove_member(gid, users[0].id).await.unwrap());
    assert_eq!(store.get_member(gid, users[0].id).await.unwrap(), None);
    assert_eq!(store.count_members(gid).await.unwrap(), 1);
    assert!(
        store
            .list_user_guild_ids(users[0].id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        user_ids(&store.list_members(gid, None, 10).await.unwrap()),
        vec![owner.id]
    );
    // A removed member may join again.
    store.add_member(&m).await.unwrap();
    assert_eq!(
        store.list_user_guild_ids(users[0].id).await.unwrap(),
        vec![gid]
    );
}

/// A guild's roles list by position, then ID; a role is found only in its guild.
pub async fn roles_listed_by_position_then_id(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let gid = g.guild.id;
    let (low, high) = (fx.make_role(gid, 1), fx.make_role(gid, 1));
    let top = fx.make_role(gid, 2);
    for r in [&top, &high, &low] {
        store.create_role(r).await.unwrap();
    }
    let other = fx.make_guild(owner.id);
    other.create_in(&*store).await.unwrap();
    store
        .create_role(&fx.make_role(other.guild.id, 1))
        .await
        .unwrap();

    let everyone = g.roles[0].clone();
    assert_eq!(
        store.list_roles(gid).await.unwrap(),
        vec![everyone, low.clone(), high, top]
    );
    assert_eq!(
        store.get_role(gid, low.id).await.unwrap(),
        Some(low.clone())
    );
    assert_eq!(store.get_role(other.guild.id, low.id).await.unwrap(), None);
}

/// `update_roles` applies every change, or none when one role is unknown (`NotFound`).
pub async fn roles_update_many_is_atomic(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (_, g) = fx.create_guild(&*store).await;
    let gid = g.guild.id;
    let (a, b) = (fx.make_role(gid, 1), fx.make_role(gid, 2));
    store.create_role(&a).await.unwrap();
    store.create_role(&b).await.unwrap();

    let (mut a2, mut b2) = (a.clone(), b.clone());
    a2.position = 2;
    a2.name = "renamed".to_owned();
    a2.hoist = true;
    b2.position = 1;
    store.update_roles(&[a2.clone(), b2.clone()]).await.unwrap();
    assert_eq!(
        store.list_roles(gid).await.unwrap(),
        vec![g.roles[0].clone(), b2.clone(), a2.clone()]
    );

    let mut a3 = a2.clone();
    a3.position = 5;
    let ghost = fx.make_role(gid, 4);
    assert_not_found(store.update_roles(&[a3, ghost.clone()]).await);
    assert_eq!(
        store.list_roles(gid).await.unwrap(),
        vec![g.roles[0].clone(), b2, a2]
    );
    assert_eq!(store.get_role(gid, ghost.id).await.unwrap(), None);
}

/// Deleting a role takes it off every member; a second delete answers `false`.
pub async fn role_delete_takes_it_off_members(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (_, g) = fx.create_guild(&*store).await;
    let gid = g.guild.id;
    let users = fx.create_users(&*store, 2).await;
    let (doomed, kept) = (fx.make_role(gid, 1), fx.make_role(gid, 2));
    store.create_role(&doomed).await.unwrap();
    store.create_role(&kept).await.unwrap();
    let mut both = fx.make_member(gid, users[0].id);
    both.roles = vec![doomed.id, kept.id];
    let mut only = fx.make_member(gid, users[1].id);
    only.roles = vec![doomed.id];
    store.add_member(&both).await.unwrap();
    store.add_member(&only).await.unwrap();

    assert!(store.delete_role(gid, doomed.id).await.unwrap());
    assert!(!store.delete_role(gid, doomed.id).await.unwrap());
    assert_eq!(store.get_role(gid, doomed.id).await.unwrap(), None);
    assert_eq!(
        store.list_roles(gid).await.unwrap(),
        vec![g.roles[0].clone(), kept.clone()]
    );
    assert_eq!(
        store
            .get_member(gid, users[0].id)
            .await
            .unwrap()
            .unwrap()
            .roles,
        vec![kept.id]
    );
    assert!(
        store
            .get_member(gid, users[1].id)
            .await
            .unwrap()
            .unwrap()
            .roles
            .is_empty()
    );
}

/// The one-call reads of [`AccessRepository`](crate::ports::AccessRepository) answer what the
/// pieces answer, and `None` where any piece is missing.
pub async fn access_reads_match_their_pieces(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let owner = fx.make_user();
    let outsider = fx.make_user();
    store.create_user(&owner).await.unwrap();
    store.create_user(&outsider).await.unwrap();
    let bundle = fx.make_guild(owner.id);
    bundle.create_in(&*store).await.unwrap();
    let gid = bundle.guild.id;
    let mut extra = fx.make_role(gid, 1);
    extra.name = "later".into();
    store.create_role(&extra).await.unwrap();

    // Sessions: with their user; unknown tokens and sessions of a vanished user are `None`.
    let session = fx.make_session(owner.id, T0);
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.get_session_user(&session.token_hash).await.unwrap(),
        Some((session.clone(), owner.clone()))
    );
    assert_eq!(
        store.get_session_user(&fx.token_hash()).await.unwrap(),
        None
    );
    let orphan = fx.make_session(UserId(fx.snowflake()), T0);
    store.create_session(&orphan).await.unwrap();
    assert_eq!(
        store.get_session_user(&orphan.token_hash).await.unwrap(),
        None
    );

    // Guild standing: the member's, with every role in list order; `None` for outsiders and no guild.
    let standing = store
        .get_guild_standing(gid, owner.id)
        .await
        .unwrap()
        .expect("the owner stands in the guild");
    assert_eq!(standing.guild, bundle.guild);
    assert_eq!(standing.member, bundle.owner);
    assert_eq!(standing.roles, store.list_roles(gid).await.unwrap());
    assert_eq!(standing.roles.len(), bundle.roles.len() + 1);
    assert_eq!(
        store.get_guild_standing(gid, outsider.id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .get_guild_standing(GuildId(fx.snowflake()), owner.id)
            .await
            .unwrap(),
        None
    );

    // Channel standing: a guild channel carries the standing (or `None` for an outsider), a DM none.
    let channel = bundle.channel().clone();
    let found = store
        .get_channel_standing(channel.id, owner.id)
        .await
        .unwrap();
    assert_eq!(found, Some((channel.clone(), Some(standing))));
    assert_eq!(
        store
            .get_channel_standing(channel.id, outsider.id)
            .await
            .unwrap(),
        Some((channel.clone(), None))
    );
    let dm = fx.make_dm(owner.id, outsider.id);
    store.create_channel(&dm).await.unwrap();
    assert_eq!(
        store
            .get_channel_standing(dm.id, outsider.id)
            .await
            .unwrap(),
        Some((dm, None))
    );
    assert_eq!(
        store
            .get_channel_standing(crate::id::ChannelId(fx.snowflake()), owner.id)
            .await
            .unwrap(),
        None
    );
}

/// The one-call reads of [`AccessRepository`](crate::ports::AccessRepository) follow every write
/// they depend on as soon as it is acknowledged (a backend that keeps their answers must drop them).
pub async fn access_reads_follow_writes(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let mut owner = fx.make_user();
    let member = fx.make_user();
    store.create_user(&owner).await.unwrap();
    store.create_user(&member).await.unwrap();
    let bundle = fx.make_guild(owner.id);
    bundle.create_in(&*store).await.unwrap();
    let gid = bundle.guild.id;
    let mut channel = bundle.channel().clone();
    let session = fx.make_session(owner.id, T0);
    store.create_session(&session).await.unwrap();
    let standing = |user: UserId| {
        let store = store.clone();
        let channel = channel.id;
        async move {
            store
                .get_channel_standing(channel, user)
                .await
                .unwrap()
                .expect("the channel exists")
        }
    };

    // A session answers with its user as the user is now, and not at all once it is deleted.
    assert!(
        store
            .get_session_user(&session.token_hash)
            .await
            .unwrap()
            .is_some()
    );
    owner.username = "renamed".into();
    store.update_user(&owner).await.unwrap();
    let (_, user) = store
        .get_session_user(&session.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.username, "renamed");
    assert!(store.delete_session(&session.token_hash).await.unwrap());
    assert_eq!(
        store.get_session_user(&session.token_hash).await.unwrap(),
        None
    );

    // Membership: an outsider has no standing until added; roles given, changed and removed show.
    assert_eq!(standing(member.id).await.1, None);
    assert_eq!(
        store.get_guild_standing(gid, member.id).await.unwrap(),
        None
    );
    let mut role = fx.make_role(gid, 1);
    store.create_role(&role).await.unwrap();
    let mut m = fx.make_member(gid, member.id);
    store.add_member(&m).await.unwrap();
    let got = standing(member.id).await.1.expect("a member now");
    assert!(got.member.roles.is_empty());
    assert!(got.roles.iter().any(|r| r.id == role.id));
    m.roles = vec![role.id];
    store.update_member(&m).await.unwrap();
    assert_eq!(
        standing(member.id).await.1.unwrap().member.roles,
        vec![role.id]
    );
    role.name = "changed".into();
    store
        .update_roles(std::slice::from_ref(&role))
        .await
        .unwrap();
    let got = store
        .get_guild_standing(gid, member.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        got.roles.iter().find(|r| r.id == role.id).unwrap().name,
        "changed"
    );
    assert!(store.delete_role(gid, role.id).await.unwrap());
    let got = standing(member.id).await.1.unwrap();
    assert!(got.roles.iter().all(|r| r.id != role.id));
    assert!(got.member.roles.is_empty());

    // The guild and the channel as they are now, with the newest message stored.
    let mut guild = bundle.guild.clone();
    guild.name = "renamed guild".into();
    store.update_guild(&guild).await.unwrap();
    assert_eq!(
        standing(member.id).await.1.unwrap().guild.name,
        "renamed guild"
    );
    channel.name = Some("renamed-channel".into());
    store.update_channel(&channel).await.unwrap();
    assert_eq!(
        standing(member.id).await.0.name.as_deref(),
        Some("renamed-channel")
    );
    for _ in 0..2 {
        let message = fx.make_message(&channel, owner.id);
        store.insert_message(&message).await.unwrap();
        assert_eq!(
            standing(member.id).await.0.last_message_id,
            Some(message.id)
        );
    }

    // Leaving, then the channel going away.
    assert!(store.remove_member(gid, member.id).await.unwrap());
    assert_eq!(standing(member.id).await.1, None);
    assert_eq!(
        store.get_guild_standing(gid, member.id).await.unwrap(),
        None
    );
    store.delete_channel(channel.id).await.unwrap();
    assert_eq!(
        store
            .get_channel_standing(channel.id, owner.id)
            .await
            .unwrap(),
        None
    );
}

/// `scan_ids` pages through every user, guild and channel ID once, ascending.
pub async fn scan_walks_every_id_in_order(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users: Vec<_> = (0..5).map(|_| fx.make_user()).collect();
    for u in &users {
        store.create_user(u).await.unwrap();
    }
    let guilds: Vec<_> = (0..3).map(|_| fx.make_guild(users[0].id)).collect();
    for g in &guilds {
        g.create_in(&*store).await.unwrap();
    }
    let dm = fx.make_dm(users[1].id, users[2].id);
    store.create_channel(&dm).await.unwrap();

    // Paged two at a time, every ID comes back once, ascending, and nothing else.
    async fn walk(store: &dyn Store, what: Scan) -> Vec<u64> {
        let (mut out, mut after) = (Vec::new(), 0);
        loop {
            let page = store.scan_ids(what, after, 2).await.unwrap();
            assert!(
                page.len() <= 2,
                "{what:?}: a page holds at most `limit` IDs"
            );
            let Some(last) = page.last() else { break };
            after = *last;
            out.extend(page);
        }
        out
    }
    let mut want: Vec<u64> = users.iter().map(|u| u.id.get()).collect();
    want.sort_unstable();
    assert_eq!(walk(&*store, Scan::Users).await, want);
    let mut want: Vec<u64> = guilds.iter().map(|g| g.guild.id.get()).collect();
    want.sort_unstable();
    assert_eq!(walk(&*store, Scan::Guilds).await, want);
    let mut want: Vec<u64> = guilds
        .iter()
        .flat_map(|g| g.channels.iter().map(|c| c.id.get()))
        .chain([dm.id.get()])
        .collect();
    want.sort_unstable();
    assert_eq!(walk(&*store, Scan::Channels).await, want);
}

/// `count_rows` counts every user, guild and message; `count_ids_per_bucket` counts IDs per range,
/// leaving out those before the first bucket and after the last.
pub async fn tally_counts_rows_and_id_ranges(store: Arc<dyn Store>) {
    use crate::id::{MessageId, Snowflake};

    let fx = Fixtures::new();
    for what in [Tally::Users, Tally::Guilds, Tally::Messages] {
        assert_eq!(store.count_rows(what).await.unwrap(), 0, "{what:?}");
    }
    let users = fx.create_users(&*store, 3).await;
    let bundle = fx.make_guild(users[0].id);
    bundle.create_in(&*store).await.unwrap();
    let channel = &bundle.channels[0];
    // Messages at days 0, 0, 1 and 3 from a start, and one the day before it.
    let day = 86_400_000i64;
    let start = 1_700_000_000_000i64;
    let mut seq = 0u16;
    for offset in [0, day / 2, day + 5, 3 * day, -1] {
        seq += 1;
        let mut m = fx.make_message(channel, users[0].id);
        m.id = MessageId(Snowflake::from_parts(start + offset, 0, seq));
        store.insert_message(&m).await.unwrap();
    }
    assert_eq!(store.count_rows(Tally::Users).await.unwrap(), 3);
    assert_eq!(store.count_rows(Tally::Guilds).await.unwrap(), 1);
    assert_eq!(store.count_rows(Tally::Messages).await.unwrap(), 5);
    let from = Snowflake::from_parts(start, 0, 0).0;
    let width = (day as u64) << 22;
    assert_eq!(
        store
            .count_ids_per_bucket(Tally::Messages, from, width, 3)
            .await
            .unwrap(),
        vec![2, 1, 0],
        "the message of day 3 is past the last bucket, the one before `from` before the first"
    );
    assert_eq!(
        store
            .count_ids_per_bucket(Tally::Messages, from, width, 4)
            .await
            .unwrap(),
        vec![2, 1, 0, 1]
    );
    assert_eq!(
        store
            .count_ids_per_bucket(Tally::Guilds, 0, u64::MAX / 2, 2)
            .await
            .unwrap()
            .iter()
            .sum::<u64>(),
        1
    );
}

/// Audit entries read back newest first per guild, filtered by cursor, actor and action, limited;
/// retention deletes the older ones of every guild.
pub async fn audit_log_filters_pages_and_expires(store: Arc<dyn Store>) {
    use crate::id::AuditLogId;
    use crate::model::{AuditChange, AuditEntry, AuditQuery};

    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 2).await;
    let (a, b) = (users[0].id, users[1].id);
    let (g1, g2) = (GuildId(fx.snowflake()), GuildId(fx.snowflake()));
    let mut made = Vec::new();
    for (i, (guild, user, action)) in [
        (g1, a, 10),
        (g1, b, 20),
        (g2, a, 10),
        (g1, a, 30),
        (g1, b, 10),
    ]
    .into_iter()
    .enumerate()
    {
        let entry = AuditEntry {
            id: AuditLogId(fx.snowflake()),
            guild_id: guild,
            action_type: action,
            user_id: Some(user),
            target_id: Some(format!("target-{i}")),
            reason: (i == 1).then(|| "spam".to_owned()),
            options: None,
            changes: vec![AuditChange {
                key: "name".into(),
                old_value: None,
                new_value: Some(serde_json::json!(format!("n{i}"))),
            }],
        };
        store.add_audit_entry(&entry).await.unwrap();
        made.push(entry);
    }
    let ids = |v: Vec<AuditEntry>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    let all = AuditQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        ids(store.list_audit_entries(g1, &all).await.unwrap()),
        vec![made[4].id, made[3].id, made[1].id, made[0].id]
    );
    assert_eq!(
        store.list_audit_entries(g1, &all).await.unwrap()[2],
        made[1]
    );
    let page = AuditQuery { limit: 2, ..all };
    assert_eq!(
        ids(store.list_audit_entries(g1, &page).await.unwrap()),
        vec![made[4].id, made[3].id]
    );
    let before = AuditQuery {
        before: Some(made[3].id),
        ..all
    };
    assert_eq!(
        ids(store.list_audit_entries(g1, &before).await.unwrap()),
        vec![made[1].id, made[0].id]
    );
    let after = AuditQuery {
        after: Some(made[1].id),
        ..all
    };
    assert_eq!(
        ids(store.list_audit_entries(g1, &after).await.unwrap()),
        vec![made[4].id, made[3].id]
    );
    let by_b = AuditQuery {
        user_id: Some(b),
        ..all
    };
    assert_eq!(
        ids(store.list_audit_entries(g1, &by_b).await.unwrap()),
        vec![made[4].id, made[1].id]
    );
    let creates = AuditQuery {
        action_type: Some(10),
        ..all
    };
    assert_eq!(
        ids(store.list_audit_entries(g1, &creates).await.unwrap()),
        vec![made[4].id, made[0].id]
    );
    // Retention: everything before the fourth entry goes, in every guild.
    assert_eq!(
        store.delete_audit_entries_before(made[3].id).await.unwrap(),
        3
    );
    assert_eq!(
        ids(store.list_audit_entries(g1, &all).await.unwrap()),
        vec![made[4].id, made[3].id]
    );
    assert!(store.list_audit_entries(g2, &all).await.unwrap().is_empty());
}

/// Emojis and stickers: put replaces, reads by ID from any guild (several at once, unknown ones
/// skipped), lists one guild's of one kind by ascending ID, deletes one, and go with their guild.
pub async fn expressions_by_guild_and_kind_and_cascade(store: Arc<dyn Store>) {
    use crate::id::ExpressionId;
    use crate::model::{Expression, ExpressionKind};

    let fx = Fixtures::new();
    let owner = fx.make_user();
    store.create_user(&owner).await.unwrap();
    let (doomed, kept) = (fx.make_guild(owner.id), fx.make_guild(owner.id));
    doomed.create_in(&*store).await.unwrap();
    kept.create_in(&*store).await.unwrap();
    let make = |guild: GuildId, kind: ExpressionKind, name: &str| Expression {
        id: ExpressionId(fx.snowflake()),
        guild_id: guild,
        kind,
        name: name.to_owned(),
        creator_id: owner.id,
        animated: false,
        content_type: "image/png".to_owned(),
        description: (kind == ExpressionKind::Sticker).then(|| "a sticker".to_owned()),
        tags: vec![],
    };
    let (d, k) = (doomed.guild.id, kept.guild.id);
    let made = [
        make(d, ExpressionKind::Emoji, "one"),
        make(d, ExpressionKind::Emoji, "two"),
        make(d, ExpressionKind::Sticker, "three"),
        make(k, ExpressionKind::Emoji, "four"),
    ];
    // Stored out of order; listed by ID.
    for e in made.iter().rev() {
        store.put_expression(e).await.unwrap();
    }
    let emojis = store
        .list_guild_expressions(d, ExpressionKind::Emoji)
        .await
        .unwrap();
    assert_eq!(emojis, [made[0].clone(), made[1].clone()]);
    let stickers = store
        .list_guild_expressions(d, ExpressionKind::Sticker)
        .await
        .unwrap();
    assert_eq!(stickers, [made[2].clone()]);

    let mut renamed = made[1].clone();
    renamed.name = "deux".to_owned();
    renamed.tags = vec!["x".to_owned()];
    store.put_expression(&renamed).await.unwrap();
    assert_eq!(
        store.get_expression(renamed.id).await.unwrap(),
        Some(renamed.clone())
    );
    let mut some = store
        .get_expressions(&[made[3].id, renamed.id, ExpressionId(fx.snowflake())])
        .await
        .unwrap();
    some.sort_by_key(|e| e.id);
    assert_eq!(some, [renamed.clone(), made[3].clone()]);
    assert!(store.get_expressions(&[]).await.unwrap().is_empty());

    assert!(store.delete_expression(made[0].id).await.unwrap());
    assert!(!store.delete_expression(made[0].id).await.unwrap());
    assert_eq!(store.get_expression(made[0].id).await.unwrap(), None);

    store.delete_guild(d).await.unwrap();
    for kind in [ExpressionKind::Emoji, ExpressionKind::Sticker] {
        assert!(
            store
                .list_guild_expressions(d, kind)
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(store.get_expression(renamed.id).await.unwrap(), None);
    assert_eq!(
        store
            .list_guild_expressions(k, ExpressionKind::Emoji)
            .await
            .unwrap(),
        [made[3].clone()]
    );
}
