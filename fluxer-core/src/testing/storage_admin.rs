//! The admin audit log, and the instance-wide documents kept beside users' own.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::id::UserId;
use crate::model::{AdminAuditEntry, AdminAuditQuery};
use crate::ports::{INSTANCE_DOCUMENTS, PrivateDocument, Store};

use super::fixtures::{Fixtures, T0};

fn entry(fx: &Fixtures, actor: UserId, action: &str, target: (&str, &str)) -> AdminAuditEntry {
    let id = fx.snowflake().0;
    AdminAuditEntry {
        id,
        actor,
        action: action.to_owned(),
        target_type: target.0.to_owned(),
        target_id: target.1.to_owned(),
        reason: None,
        metadata: BTreeMap::new(),
        created_at: T0,
    }
}

fn ids(entries: &[AdminAuditEntry]) -> Vec<u64> {
    entries.iter().map(|e| e.id).collect()
}

/// Entries read back whole, newest first by default, oldest first on request; filters by actor,
/// target type and target ID combine; the total counts every match while the page is cut by
/// offset and limit.
pub async fn admin_audit_log_filters_orders_and_pages(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (alice, bob) = (UserId(fx.snowflake()), UserId(fx.snowflake()));
    let mut first = entry(&fx, alice, "user.update_flags", ("user", "42"));
    first.reason = Some("Spam wave".to_owned());
    first
        .metadata
        .insert("before.flags".to_owned(), "0".to_owned());
    first
        .metadata
        .insert("after.flags".to_owned(), "4".to_owned());
    let second = entry(&fx, bob, "ban.ip.add", ("ip", "203.0.113.7"));
    let third = entry(&fx, alice, "user.temp_ban", ("user", "42"));
    let fourth = entry(&fx, alice, "user.temp_ban", ("user", "43"));
    for e in [&first, &second, &third, &fourth] {
        store.add_admin_audit_entry(e).await.unwrap();
    }
    let all = |q: AdminAuditQuery| AdminAuditQuery { limit: 50, ..q };

    let (page, total) = store
        .search_admin_audit_entries(&all(AdminAuditQuery::default()))
        .await
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(ids(&page), vec![fourth.id, third.id, second.id, first.id]);
    assert_eq!(page[3], first, "an entry reads back whole");

    let (page, _) = store
        .search_admin_audit_entries(&all(AdminAuditQuery {
            oldest_first: true,
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![first.id, second.id, third.id, fourth.id]);

    let (page, total) = store
        .search_admin_audit_entries(&all(AdminAuditQuery {
            actor: Some(alice),
            target_type: Some("user".to_owned()),
            target_id: Some("42".to_owned()),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert_eq!((ids(&page), total), (vec![third.id, first.id], 2));

    let (page, total) = store
        .search_admin_audit_entries(&AdminAuditQuery {
            actor: Some(alice),
            offset: 1,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((ids(&page), total), (vec![third.id], 3));

    let (page, total) = store
        .search_admin_audit_entries(&all(AdminAuditQuery {
            actor: Some(UserId(fx.snowflake())),
            ..Default::default()
        }))
        .await
        .unwrap();
    assert!(page.is_empty());
    assert_eq!(total, 0);
}

/// A text search matches the lower-cased action, target, reason and metadata, as a substring.
pub async fn admin_audit_log_text_search(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let alice = UserId(fx.snowflake());
    let mut flagged = entry(&fx, alice, "user.update_flags", ("user", "42"));
    flagged.reason = Some("Spam Wave".to_owned());
    flagged
        .metadata
        .insert("after.email".to_owned(), "x@Example.test".to_owned());
    let banned = entry(&fx, alice, "ban.ip.add", ("ip", "203.0.113.7"));
    store.add_admin_audit_entry(&flagged).await.unwrap();
    store.add_admin_audit_entry(&banned).await.unwrap();
    for (text, expected) in [
        ("spam wave", vec![flagged.id]),
        ("x@example.test", vec![flagged.id]),
        ("203.0.113", vec![banned.id]),
        ("user.", vec![flagged.id]),
        ("%", vec![]),
        ("nothing like it", vec![]),
    ] {
        let (page, total) = store
            .search_admin_audit_entries(&AdminAuditQuery {
                text: Some(text.to_owned()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(ids(&page), expected, "search {text:?}");
        assert_eq!(total, expected.len() as u64);
    }
}

/// Instance-wide documents live under [`INSTANCE_DOCUMENTS`], apart from every account's own, and
/// a real account's documents of the same kind do not mix with them. A staff account's ACLs and
/// bans read back with it.
pub async fn instance_documents_are_kept_apart(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let mut user = fx.make_user();
    user.acls = vec!["admin:authenticate".to_owned(), "user:lookup".to_owned()];
    user.temp_banned_until = Some(T0);
    user.staff_disabled = true;
    store.create_user(&user).await.unwrap();
    assert_eq!(store.get_user(user.id).await.unwrap(), Some(user.clone()));
    store
        .put_private_document(
            INSTANCE_DOCUMENTS,
            PrivateDocument::InstanceConfig,
            0,
            Some("{\"a\":1}"),
        )
        .await
        .unwrap();
    store
        .put_private_document(
            INSTANCE_DOCUMENTS,
            PrivateDocument::AdminApiKey,
            7,
            Some("{}"),
        )
        .await
        .unwrap();
    store
        .put_private_document(user.id, PrivateDocument::AdminApiKey, 8, Some("{}"))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_private_document(INSTANCE_DOCUMENTS, PrivateDocument::InstanceConfig, 0)
            .await
            .unwrap()
            .as_deref(),
        Some("{\"a\":1}")
    );
    let keys: Vec<u64> = store
        .list_private_documents(INSTANCE_DOCUMENTS, PrivateDocument::AdminApiKey)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, vec![7]);
}
