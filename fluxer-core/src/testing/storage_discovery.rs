//! Discovery applications: one per guild, replaced in place, listed by status in guild order, gone
//! with their guild.

use std::sync::Arc;

use crate::id::GuildId;
use crate::model::{DiscoveryApplication, DiscoveryStatus};
use crate::ports::Store;
use crate::time::Timestamp;

use super::fixtures::Fixtures;

fn application(
    guild: GuildId,
    by: crate::id::UserId,
    status: DiscoveryStatus,
) -> DiscoveryApplication {
    DiscoveryApplication {
        guild_id: guild,
        status,
        description: "A friendly place to talk about foxes".to_owned(),
        category_type: 8,
        applied_by: by,
        applied_at: Timestamp::from_unix_ms(1_700_000_000_000),
        reviewed_at: None,
        reviewed_by: None,
        review_reason: None,
        removed_at: None,
        removed_by: None,
        removal_reason: None,
    }
}

/// An application reads back as stored; a second put replaces it (status included); delete
/// reports whether there was one.
pub async fn discovery_applications_put_get_replace_delete(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    let id = g.guild.id;
    assert_eq!(store.get_discovery_application(id).await.unwrap(), None);
    let mut a = application(id, owner.id, DiscoveryStatus::Pending);
    store.put_discovery_application(&a).await.unwrap();
    assert_eq!(
        store.get_discovery_application(id).await.unwrap(),
        Some(a.clone())
    );

    a.status = DiscoveryStatus::Approved;
    a.reviewed_at = Some(Timestamp::from_unix_ms(1_700_000_100_000));
    a.reviewed_by = Some(owner.id);
    a.review_reason = Some("Looks great".to_owned());
    store.put_discovery_application(&a).await.unwrap();
    assert_eq!(
        store.get_discovery_application(id).await.unwrap(),
        Some(a.clone())
    );
    let pending = store
        .list_discovery_applications(DiscoveryStatus::Pending, None, 10)
        .await
        .unwrap();
    assert!(
        pending.iter().all(|p| p.guild_id != id),
        "the old status is not listed"
    );

    assert!(store.delete_discovery_application(id).await.unwrap());
    assert!(!store.delete_discovery_application(id).await.unwrap());
    assert_eq!(store.get_discovery_application(id).await.unwrap(), None);
}

/// Listing returns only the asked status, by ascending guild ID, `limit` at a time after a cursor.
pub async fn discovery_applications_listed_by_status_in_pages(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let mut pending = Vec::new();
    for i in 0..5 {
        let (owner, g) = fx.create_guild(&*store).await;
        let status = if i == 2 {
            DiscoveryStatus::Rejected
        } else {
            DiscoveryStatus::Pending
        };
        store
            .put_discovery_application(&application(g.guild.id, owner.id, status))
            .await
            .unwrap();
        if status == DiscoveryStatus::Pending {
            pending.push(g.guild.id);
        }
    }
    pending.sort();
    let first = store
        .list_discovery_applications(DiscoveryStatus::Pending, None, 3)
        .await
        .unwrap();
    let first: Vec<GuildId> = first.iter().map(|a| a.guild_id).collect();
    assert_eq!(first, pending[..3]);
    let rest = store
        .list_discovery_applications(DiscoveryStatus::Pending, Some(first[2]), 3)
        .await
        .unwrap();
    let rest: Vec<GuildId> = rest.iter().map(|a| a.guild_id).collect();
    assert_eq!(rest, pending[3..]);
    let rejected = store
        .list_discovery_applications(DiscoveryStatus::Rejected, None, 10)
        .await
        .unwrap();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].status, DiscoveryStatus::Rejected);
}

/// Deleting a guild deletes its application.
pub async fn discovery_application_deleted_with_its_guild(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (owner, g) = fx.create_guild(&*store).await;
    store
        .put_discovery_application(&application(
            g.guild.id,
            owner.id,
            DiscoveryStatus::Approved,
        ))
        .await
        .unwrap();
    store.delete_guild(g.guild.id).await.unwrap();
    assert_eq!(
        store.get_discovery_application(g.guild.id).await.unwrap(),
        None
    );
    let approved = store
        .list_discovery_applications(DiscoveryStatus::Approved, None, 100)
        .await
        .unwrap();
    assert!(approved.iter().all(|a| a.guild_id != g.guild.id));
}
