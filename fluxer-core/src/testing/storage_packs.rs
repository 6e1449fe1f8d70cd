//! Users' emoji and sticker packs: the packs, the expressions they own and their invites.

use std::sync::Arc;

use crate::model::{ExpressionKind, Invite, Pack};
use crate::ports::{PrivateDocument, Store, conflict};

use super::fixtures::{Fixtures, T0};
use super::storage::{assert_conflict, sorted};

fn ids(mut packs: Vec<Pack>) -> Vec<Pack> {
    packs.sort_by_key(|p| p.id);
    packs
}

fn codes(invites: Vec<Invite>) -> Vec<String> {
    sorted(invites.into_iter().map(|i| i.code).collect())
}

/// Packs: put replaces, reads one or several by ID (unknown and repeated IDs give nothing more),
/// lists one user's of both kinds by ascending ID; deleting one takes its expressions and invites
/// with it and leaves everything else.
pub async fn packs_put_get_list_and_delete_with_what_they_own(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let other = fx.make_user();
    store.create_user(&other).await.unwrap();
    let emojis = fx.make_pack(owner.id, ExpressionKind::Emoji);
    let stickers = fx.make_pack(owner.id, ExpressionKind::Sticker);
    let theirs = fx.make_pack(other.id, ExpressionKind::Emoji);
    // Stored out of order; listed by ID.
    for p in [&theirs, &stickers, &emojis] {
        store.put_pack(p).await.unwrap();
    }
    assert_eq!(
        store.get_pack(emojis.id).await.unwrap(),
        Some(emojis.clone())
    );
    assert_eq!(
        store
            .get_pack(crate::id::PackId(fx.snowflake()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.list_user_packs(owner.id).await.unwrap(),
        [emojis.clone(), stickers.clone()]
    );
    assert_eq!(
        store.list_user_packs(other.id).await.unwrap(),
        std::slice::from_ref(&theirs)
    );
    let some = store
        .get_packs(&[
            theirs.id,
            crate::id::PackId(fx.snowflake()),
            emojis.id,
            theirs.id,
        ])
        .await
        .unwrap();
    assert_eq!(ids(some), ids(vec![emojis.clone(), theirs.clone()]));
    assert!(store.get_packs(&[]).await.unwrap().is_empty());

    let renamed = Pack {
        name: "renamed".to_owned(),
        description: None,
        updated_at: T0.plus_ms(1000),
        ..emojis.clone()
    };
    store.put_pack(&renamed).await.unwrap();
    assert_eq!(
        store.get_pack(emojis.id).await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(store.list_user_packs(owner.id).await.unwrap().len(), 2);

    // What the pack owns, and what it does not.
    let owned = [
        fx.make_expression(
            emojis.id.expression_owner(),
            ExpressionKind::Emoji,
            owner.id,
        ),
        fx.make_expression(
            emojis.id.expression_owner(),
            ExpressionKind::Emoji,
            owner.id,
        ),
    ];
    let kept = [
        fx.make_expression(
            theirs.id.expression_owner(),
            ExpressionKind::Emoji,
            other.id,
        ),
        fx.make_expression(g.guild.id, ExpressionKind::Emoji, owner.id),
    ];
    for e in owned.iter().chain(&kept) {
        store.put_expression(e).await.unwrap();
    }
    assert_eq!(
        store
            .list_guild_expressions(emojis.id.expression_owner(), ExpressionKind::Emoji)
            .await
            .unwrap(),
        owned
    );
    let invite = fx.make_pack_invite(&emojis);
    let kept_invite = fx.make_pack_invite(&theirs);
    let guild_invite = fx.make_invite(g.channel());
    for i in [&invite, &kept_invite, &guild_invite] {
        store.create_invite(i).await.unwrap();
    }

    assert!(store.delete_pack(emojis.id).await.unwrap());
    assert!(!store.delete_pack(emojis.id).await.unwrap());
    assert_eq!(store.get_pack(emojis.id).await.unwrap(), None);
    assert_eq!(
        store.list_user_packs(owner.id).await.unwrap(),
        std::slice::from_ref(&stickers)
    );
    assert!(
        store
            .list_guild_expressions(emojis.id.expression_owner(), ExpressionKind::Emoji)
            .await
            .unwrap()
            .is_empty()
    );
    for e in &owned {
        assert_eq!(store.get_expression(e.id).await.unwrap(), None);
    }
    for e in &kept {
        assert_eq!(store.get_expression(e.id).await.unwrap(), Some(e.clone()));
    }
    assert_eq!(store.get_invite(&invite.code).await.unwrap(), None);
    assert!(store.list_pack_invites(emojis.id).await.unwrap().is_empty());
    assert_eq!(
        store.get_invite(&kept_invite.code).await.unwrap(),
        Some(kept_invite.clone())
    );
    assert_eq!(
        store.get_invite(&guild_invite.code).await.unwrap(),
        Some(guild_invite.clone())
    );
    assert_eq!(store.get_pack(theirs.id).await.unwrap(), Some(theirs));
}

/// An invite to a pack has neither guild nor channel: it shares the codes of all invites, is read,
/// listed with its pack's only, used and expired like any other.
pub async fn invites_to_packs_have_no_channel(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let pack = fx.make_pack(owner.id, ExpressionKind::Sticker);
    let other = fx.make_pack(owner.id, ExpressionKind::Emoji);
    store.put_pack(&pack).await.unwrap();
    store.put_pack(&other).await.unwrap();
    let first = fx.make_pack_invite(&pack);
    let limited = Invite {
        max_uses: 1,
        ..fx.make_pack_invite(&pack)
    };
    let expiring = Invite {
        max_age: 60,
        ..fx.make_pack_invite(&pack)
    };
    let elsewhere = fx.make_pack_invite(&other);
    for i in [&first, &limited, &expiring, &elsewhere] {
        store.create_invite(i).await.unwrap();
    }
    assert_eq!(
        store.get_invite(&first.code).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        codes(store.list_pack_invites(pack.id).await.unwrap()),
        codes(vec![first.clone(), limited.clone(), expiring.clone()])
    );
    assert_eq!(
        codes(store.list_pack_invites(other.id).await.unwrap()),
        std::slice::from_ref(&elsewhere.code)
    );
    for c in &g.channels {
        assert!(store.list_channel_invites(c.id).await.unwrap().is_empty());
    }
    assert!(
        store
            .list_guild_invites(g.guild.id)
            .await
            .unwrap()
            .is_empty()
    );

    // One namespace of codes, whatever the invite is to.
    let guild_invite = fx.make_invite(g.channel());
    store.create_invite(&guild_invite).await.unwrap();
    let taken = Invite {
        code: first.code.clone(),
        ..fx.make_invite(g.channel())
    };
    assert_conflict(store.create_invite(&taken).await, conflict::INVITE_CODE);
    let taken = Invite {
        code: guild_invite.code.clone(),
        ..fx.make_pack_invite(&pack)
    };
    assert_conflict(store.create_invite(&taken).await, conflict::INVITE_CODE);
    assert_eq!(store.list_pack_invites(pack.id).await.unwrap().len(), 3);

    let used = store.use_invite(&limited.code, T0).await.unwrap().unwrap();
    assert_eq!(used.uses, 1);
    assert_eq!(used.pack_id, Some(pack.id));
    assert_eq!(store.use_invite(&limited.code, T0).await.unwrap(), None);

    assert_eq!(
        store
            .delete_expired_invites(T0.plus_ms(60_000))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.get_invite(&expiring.code).await.unwrap(), None);
    assert!(store.delete_invite(&first.code).await.unwrap());
    assert_eq!(
        codes(store.list_pack_invites(pack.id).await.unwrap()),
        [limited.code]
    );
}

/// A user's pack installations are private documents keyed by the pack's ID, apart from the
/// user's other documents and from other users'.
pub async fn pack_installations_are_private_documents(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let users = fx.create_users(&*store, 2).await;
    let (user, other) = (users[0].id, users[1].id);
    let kind = PrivateDocument::PackInstallation;
    let (a, b) = (fx.snowflake().0, fx.snowflake().0);
    for (who, key) in [(user, b), (user, a), (other, a)] {
        store
            .put_private_document(who, kind, key, Some(r#"{"kind":"emoji"}"#))
            .await
            .unwrap();
    }
    store
        .put_private_document(user, PrivateDocument::Note, a, Some("a note"))
        .await
        .unwrap();
    let listed = store.list_private_documents(user, kind).await.unwrap();
    assert_eq!(listed.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [a, b]);
    store
        .put_private_document(user, kind, a, None)
        .await
        .unwrap();
    assert_eq!(
        store.get_private_document(user, kind, a).await.unwrap(),
        None
    );
    assert!(
        store
            .get_private_document(other, kind, a)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .get_private_document(user, PrivateDocument::Note, a)
            .await
            .unwrap()
            .as_deref(),
        Some("a note")
    );
}
