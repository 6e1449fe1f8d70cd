//! Single sign-on identities: one account per (issuer, subject), unlinked at erasure.

use std::sync::Arc;

use crate::id::UserId;
use crate::ports::{Store, conflict, is_conflict};

use super::fixtures::Fixtures;

/// A linked identity reads back its account; the same subject at another issuer, or another
/// subject, is a different identity; subjects compare exactly (case matters).
pub async fn sso_identities_link_and_find(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (alice, bob) = (UserId(fx.snowflake()), UserId(fx.snowflake()));
    let issuer = "https://id.example.test/realms/corp";
    store
        .link_sso_identity(issuer, "sub-1", alice)
        .await
        .unwrap();
    store
        .link_sso_identity("https://other.example.test", "sub-1", bob)
        .await
        .unwrap();
    assert_eq!(
        store.find_sso_identity(issuer, "sub-1").await.unwrap(),
        Some(alice)
    );
    assert_eq!(
        store
            .find_sso_identity("https://other.example.test", "sub-1")
            .await
            .unwrap(),
        Some(bob)
    );
    assert_eq!(
        store.find_sso_identity(issuer, "SUB-1").await.unwrap(),
        None
    );
    assert_eq!(
        store.find_sso_identity(issuer, "sub-2").await.unwrap(),
        None
    );
}

/// Linking an identity twice fails with the `sso_identities.pk` conflict, whichever account the
/// second link names, and the first link stays.
pub async fn sso_identity_links_once(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (alice, bob) = (UserId(fx.snowflake()), UserId(fx.snowflake()));
    let issuer = "https://id.example.test";
    store.link_sso_identity(issuer, "s", alice).await.unwrap();
    for user in [alice, bob] {
        let err = store
            .link_sso_identity(issuer, "s", user)
            .await
            .unwrap_err();
        assert!(is_conflict(&err, conflict::SSO_IDENTITY), "{err:?}");
    }
    assert_eq!(
        store.find_sso_identity(issuer, "s").await.unwrap(),
        Some(alice)
    );
}

/// Unlinking a user's identities removes theirs alone and counts them; the identity may then be
/// linked again.
pub async fn sso_identities_deleted_with_their_user(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (alice, bob) = (UserId(fx.snowflake()), UserId(fx.snowflake()));
    let issuer = "https://id.example.test";
    store.link_sso_identity(issuer, "a1", alice).await.unwrap();
    store
        .link_sso_identity("https://b.test", "a2", alice)
        .await
        .unwrap();
    store.link_sso_identity(issuer, "b1", bob).await.unwrap();
    assert_eq!(store.delete_user_sso_identities(alice).await.unwrap(), 2);
    assert_eq!(store.delete_user_sso_identities(alice).await.unwrap(), 0);
    assert_eq!(store.find_sso_identity(issuer, "a1").await.unwrap(), None);
    assert_eq!(
        store.find_sso_identity(issuer, "b1").await.unwrap(),
        Some(bob)
    );
    store.link_sso_identity(issuer, "a1", bob).await.unwrap();
    assert_eq!(
        store.find_sso_identity(issuer, "a1").await.unwrap(),
        Some(bob)
    );
}
