//! WebAuthn credentials: unique IDs, per-user lists, renames, the counter check and deletion.

use std::sync::Arc;

use crate::id::UserId;
use crate::model::WebAuthnCredential;
use crate::ports::{Store, conflict, is_conflict};

use super::fixtures::{Fixtures, T0};

fn credential(id: &str, user: UserId, created_ms: i64) -> WebAuthnCredential {
    WebAuthnCredential {
        id: id.to_owned(),
        user_id: user,
        name: format!("key {id}"),
        passkey: format!("{{\"key\":\"{id}\"}}"),
        sign_count: 0,
        created_at: T0.plus_ms(created_ms),
        last_used_at: None,
    }
}

/// A credential reads back whole by ID; a user's come oldest first and nobody else's; an ID is
/// unique across users; rename and delete touch only the owner's.
pub async fn webauthn_credentials_create_list_rename_delete(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (alice, bob) = (UserId(fx.snowflake()), UserId(fx.snowflake()));
    let second = credential("b2", alice, 2_000);
    let first = credential("a1", alice, 1_000);
    let bobs = credential("c3", bob, 500);
    for c in [&second, &first, &bobs] {
        store.create_webauthn_credential(c).await.unwrap();
    }
    assert_eq!(
        store.get_webauthn_credential("a1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.get_webauthn_credential("zz").await.unwrap(), None);
    assert_eq!(
        store.list_webauthn_credentials(alice).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    // The ID is taken, whoever asks.
    let clash = store
        .create_webauthn_credential(&credential("a1", bob, 3_000))
        .await
        .unwrap_err();
    assert!(
        is_conflict(&clash, conflict::WEBAUTHN_CREDENTIAL),
        "{clash:?}"
    );
    assert_eq!(
        store.get_webauthn_credential("a1").await.unwrap(),
        Some(first.clone())
    );

    assert!(
        !store
            .rename_webauthn_credential(bob, "a1", "mine now")
            .await
            .unwrap()
    );
    assert!(
        store
            .rename_webauthn_credential(alice, "a1", "Laptop")
            .await
            .unwrap()
    );
    let renamed = store.get_webauthn_credential("a1").await.unwrap().unwrap();
    assert_eq!(renamed.name, "Laptop");
    assert_eq!(renamed.passkey, first.passkey);

    assert!(!store.delete_webauthn_credential(bob, "a1").await.unwrap());
    assert!(store.delete_webauthn_credential(alice, "a1").await.unwrap());
    assert!(!store.delete_webauthn_credential(alice, "a1").await.unwrap());
    assert_eq!(
        store.list_webauthn_credentials(alice).await.unwrap(),
        vec![second]
    );
    assert_eq!(
        store.delete_user_webauthn_credentials(alice).await.unwrap(),
        1
    );
    assert!(
        store
            .list_webauthn_credentials(alice)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.list_webauthn_credentials(bob).await.unwrap(),
        vec![bobs]
    );
}

/// A use is recorded only when the signature counter rises (or stays 0 on a counterless key); it
/// keeps the owner's name, and a lower or equal counter (a cloned key, a replay) changes nothing.
pub async fn webauthn_use_is_recorded_only_when_the_counter_rises(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let user = UserId(fx.snowflake());
    let stored = credential("k", user, 0);
    store.create_webauthn_credential(&stored).await.unwrap();
    store
        .rename_webauthn_credential(user, "k", "Phone")
        .await
        .unwrap();

    // A counterless authenticator: 0 after 0 is fine.
    let zero = WebAuthnCredential {
        last_used_at: Some(T0.plus_secs(1)),
        ..stored.clone()
    };
    assert!(store.record_webauthn_use(&zero).await.unwrap());

    let used = WebAuthnCredential {
        sign_count: 5,
        passkey: "{\"key\":\"k\",\"v\":2}".to_owned(),
        last_used_at: Some(T0.plus_secs(2)),
        name: "stale name".to_owned(),
        ..stored.clone()
    };
    assert!(store.record_webauthn_use(&used).await.unwrap());
    let after = store.get_webauthn_credential("k").await.unwrap().unwrap();
    assert_eq!(after.sign_count, 5);
    assert_eq!(after.passkey, used.passkey);
    assert_eq!(after.last_used_at, Some(T0.plus_secs(2)));
    assert_eq!(after.name, "Phone", "a use does not undo a rename");

    for regressed in [5, 3, 0] {
        let replay = WebAuthnCredential {
            sign_count: regressed,
            last_used_at: Some(T0.plus_secs(9)),
            ..used.clone()
        };
        assert!(
            !store.record_webauthn_use(&replay).await.unwrap(),
            "{regressed}"
        );
    }
    assert_eq!(
        store.get_webauthn_credential("k").await.unwrap().unwrap(),
        after
    );
    let gone = credential("missing", user, 0);
    assert!(!store.record_webauthn_use(&gone).await.unwrap());
}

/// Of concurrent uses with the same counter, exactly one is recorded.
pub async fn webauthn_use_with_one_counter_is_recorded_once(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let user = UserId(fx.snowflake());
    let stored = credential("race", user, 0);
    store.create_webauthn_credential(&stored).await.unwrap();
    let used = WebAuthnCredential {
        sign_count: 1,
        ..stored
    };
    let tries = (0..8).map(|_| {
        let (store, used) = (store.clone(), used.clone());
        tokio::spawn(async move { store.record_webauthn_use(&used).await.unwrap() })
    });
    let mut recorded = 0;
    for t in tries {
        if t.await.unwrap() {
            recorded += 1;
        }
    }
    assert_eq!(recorded, 1);
}
