//! Invites (unique codes, atomic use, expiry) and bans.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::id::UserId;
use crate::model::{Ban, Channel, Invite};
use crate::ports::{Store, conflict};

use super::fixtures::{Fixtures, T0};
use super::storage::{assert_conflict, sorted};

fn limited_invite(fx: &Fixtures, channel: &Channel, max_uses: u32, max_age: u32) -> Invite {
    Invite {
        max_uses,
        max_age,
        ..fx.make_invite(channel)
    }
}

fn codes(invites: Vec<Invite>) -> Vec<String> {
    sorted(invites.into_iter().map(|i| i.code).collect())
}

/// Invites are created (a taken code is an `invites.code` conflict), read, listed per guild and
/// channel (a group DM's belongs to no guild) and deleted.
pub async fn invites_create_get_list_delete(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let (a, b) = (g.channels[0].clone(), g.channels[1].clone());
    let mut first = fx.make_invite(&a);
    first.inviter_id = Some(owner.id);
    first.temporary = true;
    let second = limited_invite(&fx, &a, 5, 3600);
    let third = fx.make_invite(&b);
    for i in [&first, &second, &third] {
        store.create_invite(i).await.unwrap();
    }
    assert_eq!(
        store.get_invite(&first.code).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_invite("nope").await.unwrap(), None);

    // Codes are unique across the instance.
    let other = fx.make_guild(owner.id);
    other.create_in(&*store).await.unwrap();
    let dup = Invite {
        code: first.code.clone(),
        ..fx.make_invite(other.channel())
    };
    assert_conflict(store.create_invite(&dup).await, conflict::INVITE_CODE);
    assert_eq!(
        store.get_invite(&first.code).await.unwrap(),
        Some(first.clone())
    );
    assert!(
        store
            .list_guild_invites(other.guild.id)
            .await
            .unwrap()
            .is_empty()
    );

    // A group DM invite belongs to no guild.
    let friend = fx.make_user();
    store.create_user(&friend).await.unwrap();
    let group = fx.make_group_dm(owner.id, &[friend.id]);
    store.create_channel(&group).await.unwrap();
    let group_invite = fx.make_invite(&group);
    store.create_invite(&group_invite).await.unwrap();

    let gid = g.guild.id;
    assert_eq!(
        codes(store.list_guild_invites(gid).await.unwrap()),
        codes(vec![first.clone(), second.clone(), third.clone()])
    );
    assert_eq!(
        codes(store.list_channel_invites(a.id).await.unwrap()),
        codes(vec![first.clone(), second.clone()])
    );
    assert_eq!(
        store.list_channel_invites(b.id).await.unwrap(),
        vec![third.clone()]
    );
    assert_eq!(
        store.list_channel_invites(group.id).await.unwrap(),
        vec![group_invite]
    );

    assert!(store.delete_invite(&second.code).await.unwrap());
    assert!(!store.delete_invite(&second.code).await.unwrap());
    assert_eq!(store.get_invite(&second.code).await.unwrap(), None);
    assert_eq!(
        codes(store.list_guild_invites(gid).await.unwrap()),
        codes(vec![first, third])
    );
}

/// `use_invite` counts uses and refuses used-up, expired (from `max_age` on) and unknown invites.
pub async fn invite_use_counts_and_refuses(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (_, g) = fx.create_guild(&*store).await;
    let channel = g.channel();

    let twice = limited_invite(&fx, channel, 2, 0);
    store.create_invite(&twice).await.unwrap();
    assert_eq!(
        store
            .use_invite(&twice.code, T0)
            .await
            .unwrap()
            .map(|i| i.uses),
        Some(1)
    );
    let used = store.use_invite(&twice.code, T0).await.unwrap().unwrap();
    assert_eq!(
        used,
        Invite {
            uses: 2,
            ..twice.clone()
        }
    );
    assert_eq!(store.use_invite(&twice.code, T0).await.unwrap(), None);
    assert_eq!(
        store.get_invite(&twice.code).await.unwrap().unwrap().uses,
        2
    );

    // A one-minute invite works until its 60th second, not at it.
    let minute = limited_invite(&fx, channel, 0, 60);
    store.create_invite(&minute).await.unwrap();
    assert_eq!(
        store
            .use_invite(&minute.code, T0.plus_ms(59_999))
            .await
            .unwrap()
            .map(|i| i.uses),
        Some(1)
    );
    assert_eq!(
        store
            .use_invite(&minute.code, T0.plus_secs(60))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_invite(&minute.code).await.unwrap().unwrap().uses,
        1
    );

    let unlimited = fx.make_invite(channel);
    store.create_invite(&unlimited).await.unwrap();
    for n in 1..=5 {
        let at = T0.plus_secs(86_400 * 365);
        assert_eq!(
            store
                .use_invite(&unlimited.code, at)
                .await
                .unwrap()
                .map(|i| i.uses),
            Some(n)
        );
    }
    assert_eq!(store.use_invite("nope", T0).await.unwrap(), None);
}

/// Concurrent uses of a limited invite each get a distinct count, and no more than `max_uses` succeed.
pub async fn invite_use_is_atomic(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (_, g) = fx.create_guild(&*store).await;
    let invite = limited_invite(&fx, g.channel(), 10, 0);
    store.create_invite(&invite).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (store, code) = (store.clone(), invite.code.clone());
            tokio::spawn(async move { store.use_invite(&code, T0).await.unwrap().map(|i| i.uses) })
        })
        .collect();
    let mut counts = BTreeSet::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Some(uses) => assert!(counts.insert(uses), "use count {uses} handed out twice"),
            None => refused += 1,
        }
    }
    assert_eq!(counts, (1..=10).collect());
    assert_eq!(refused, 30);
    assert_eq!(
        store.get_invite(&invite.code).await.unwrap().unwrap().uses,
        10
    );
}

/// `delete_expired_invites` removes exactly the invites expired at `now` and says how many.
pub async fn invites_expired_are_deleted(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (_, g) = fx.create_guild(&*store).await;
    let channel = g.channel();
    let forever = fx.make_invite(channel);
    let minute = limited_invite(&fx, channel, 0, 60);
    let hour = limited_invite(&fx, channel, 0, 3600);
    for i in [&forever, &minute, &hour] {
        store.create_invite(i).await.unwrap();
    }
    assert_eq!(
        store
            .delete_expired_invites(T0.plus_secs(59))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_expired_invites(T0.plus_secs(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.get_invite(&minute.code).await.unwrap(), None);
    assert_eq!(
        store
            .delete_expired_invites(T0.plus_secs(7200))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .delete_expired_invites(T0.plus_secs(7200))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.list_guild_invites(g.guild.id).await.unwrap(),
        vec![forever]
    );
}

/// A ban is put (replacing) and read; bans list by ascending user ID with an `after` cursor, per
/// guild; delete answers whether one existed.
pub async fn bans_put_replaces_and_list_paginates(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let gid = g.guild.id;
    let users = fx.create_users(&*store, 5).await;
    for i in [3, 0, 4, 1, 2] {
        store
            .put_ban(&fx.make_ban(gid, users[i].id, owner.id))
            .await
            .unwrap();
    }
    let mut replaced = fx.make_ban(gid, users[2].id, owner.id);
    replaced.reason = None;
    replaced.expires_at = Some(T0.plus_secs(3600));
    store.put_ban(&replaced).await.unwrap();
    assert_eq!(
        store.get_ban(gid, users[2].id).await.unwrap(),
        Some(replaced)
    );
    assert_eq!(store.get_ban(gid, owner.id).await.unwrap(), None);

    let ids = |bans: Vec<Ban>| bans.into_iter().map(|b| b.user_id).collect::<Vec<_>>();
    let all: Vec<UserId> = users.iter().map(|u| u.id).collect();
    assert_eq!(ids(store.list_bans(gid, None, 100).await.unwrap()), all);
    assert_eq!(
        ids(store.list_bans(gid, None, 2).await.unwrap()),
        all[..2].to_vec()
    );
    assert_eq!(
        ids(store.list_bans(gid, Some(all[1]), 2).await.unwrap()),
        all[2..4].to_vec()
    );
    assert!(
        store
            .list_bans(gid, Some(all[4]), 2)
            .await
            .unwrap()
            .is_empty()
    );

    let other = fx.make_guild(owner.id);
    other.create_in(&*store).await.unwrap();
    assert!(
        store
            .list_bans(other.guild.id, None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_ban(other.guild.id, users[0].id).await.unwrap(),
        None
    );

    assert!(store.delete_ban(gid, users[0].id).await.unwrap());
    assert!(!store.delete_ban(gid, users[0].id).await.unwrap());
    assert_eq!(store.get_ban(gid, users[0].id).await.unwrap(), None);
    assert_eq!(
        ids(store.list_bans(gid, None, 100).await.unwrap()),
        all[1..].to_vec()
    );
}
