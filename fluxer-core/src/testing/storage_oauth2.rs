//! OAuth2 credentials: codes, access and refresh tokens, their single use, expiry and revocation.

use std::sync::Arc;

use crate::id::{ApplicationId, UserId};
use crate::model::{OAuth2Scope, OAuth2Scopes, OAuth2Token, OAuth2TokenKind};
use crate::ports::Store;

use super::fixtures::{Fixtures, T0};

const KINDS: [OAuth2TokenKind; 3] = [
    OAuth2TokenKind::AuthorizationCode,
    OAuth2TokenKind::AccessToken,
    OAuth2TokenKind::RefreshToken,
];

fn by_hash(mut tokens: Vec<OAuth2Token>) -> Vec<OAuth2Token> {
    tokens.sort_by_key(|t| t.token_hash);
    tokens
}

/// A stored credential reads back whole by its kind and hash until it expires (at `expires_at`);
/// another kind or an unknown hash finds nothing; a put with a stored hash replaces it.
pub async fn oauth2_tokens_read_back_by_kind_until_expiry(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (user, app) = (UserId(fx.snowflake()), ApplicationId(fx.snowflake()));
    let expires = T0.plus_secs(600);
    for kind in KINDS {
        let token = fx.make_oauth2_token(kind, user, app, expires);
        store.put_oauth2_token(&token).await.unwrap();
        let got = store
            .get_oauth2_token(kind, &token.token_hash, T0)
            .await
            .unwrap();
        assert_eq!(got, Some(token.clone()), "{kind:?}");
        // Reading does not use it up.
        assert!(
            store
                .get_oauth2_token(kind, &token.token_hash, expires.plus_ms(-1))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            store
                .get_oauth2_token(kind, &token.token_hash, expires)
                .await
                .unwrap(),
            None,
            "expired at expires_at"
        );
        for other in KINDS.into_iter().filter(|k| *k != kind) {
            assert_eq!(
                store
                    .get_oauth2_token(other, &token.token_hash, T0)
                    .await
                    .unwrap(),
                None
            );
        }
    }
    assert_eq!(
        store
            .get_oauth2_token(OAuth2TokenKind::AccessToken, &fx.token_hash(), T0)
            .await
            .unwrap(),
        None
    );

    // A put with a stored hash replaces the credential.
    let mut token = fx.make_oauth2_token(OAuth2TokenKind::AccessToken, user, app, expires);
    store.put_oauth2_token(&token).await.unwrap();
    token.expires_at = expires.plus_secs(600);
    token.scopes = OAuth2Scopes::from_iter([OAuth2Scope::Guilds]);
    store.put_oauth2_token(&token).await.unwrap();
    assert_eq!(
        store
            .get_oauth2_token(OAuth2TokenKind::AccessToken, &token.token_hash, expires)
            .await
            .unwrap(),
        Some(token)
    );
}

/// A take returns the credential once; a take of another kind leaves it; an expired one is not
/// returned; of many concurrent takes exactly one wins.
pub async fn oauth2_token_is_taken_once(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (user, app) = (UserId(fx.snowflake()), ApplicationId(fx.snowflake()));
    let code = fx.make_oauth2_token(
        OAuth2TokenKind::AuthorizationCode,
        user,
        app,
        T0.plus_secs(600),
    );
    store.put_oauth2_token(&code).await.unwrap();
    assert_eq!(
        store
            .take_oauth2_token(OAuth2TokenKind::RefreshToken, &code.token_hash, T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_oauth2_token(OAuth2TokenKind::AuthorizationCode, &code.token_hash, T0)
            .await
            .unwrap(),
        Some(code.clone())
    );
    for kind in KINDS {
        assert_eq!(
            store
                .take_oauth2_token(kind, &code.token_hash, T0)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .get_oauth2_token(kind, &code.token_hash, T0)
                .await
                .unwrap(),
            None
        );
    }

    let expired = fx.make_oauth2_token(OAuth2TokenKind::RefreshToken, user, app, T0);
    store.put_oauth2_token(&expired).await.unwrap();
    assert_eq!(
        store
            .take_oauth2_token(OAuth2TokenKind::RefreshToken, &expired.token_hash, T0)
            .await
            .unwrap(),
        None
    );

    let contested =
        fx.make_oauth2_token(OAuth2TokenKind::RefreshToken, user, app, T0.plus_secs(600));
    store.put_oauth2_token(&contested).await.unwrap();
    let takes = (0..8).map(|_| {
        let (store, hash) = (store.clone(), contested.token_hash);
        tokio::spawn(async move {
            store
                .take_oauth2_token(OAuth2TokenKind::RefreshToken, &hash, T0)
                .await
                .unwrap()
        })
    });
    let mut won = 0;
    for take in takes.collect::<Vec<_>>() {
        if take.await.unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one concurrent take gets the token");
}

/// A user's credentials are listed (unexpired only) and revoked by grant (user and application),
/// by user, by application, and by expiry, touching nothing else.
pub async fn oauth2_grants_listed_and_revoked(store: Arc<dyn Store>) {
    let fx = Fixtures::new();
    let (alice, bob) = (UserId(fx.snowflake()), UserId(fx.snowflake()));
    let (app1, app2) = (ApplicationId(fx.snowflake()), ApplicationId(fx.snowflake()));
    let later = T0.plus_secs(3600);
    let mut put = Vec::new();
    for (user, app) in [(alice, app1), (alice, app2), (bob, app1)] {
        for kind in [OAuth2TokenKind::AccessToken, OAuth2TokenKind::RefreshToken] {
            let t = fx.make_oauth2_token(kind, user, app, later);
            store.put_oauth2_token(&t).await.unwrap();
            put.push(t);
        }
    }
    let stale = fx.make_oauth2_token(OAuth2TokenKind::AccessToken, alice, app1, T0);
    store.put_oauth2_token(&stale).await.unwrap();
    let of = |user: UserId, app: Option<ApplicationId>| {
        by_hash(
            put.iter()
                .filter(|t| t.user_id == user && app.is_none_or(|a| t.application_id == a))
                .cloned()
                .collect(),
        )
    };

    let listed = store.list_user_oauth2_tokens(alice, T0).await.unwrap();
    assert_eq!(
        by_hash(listed),
        of(alice, None),
        "the expired one is left out"
    );
    assert!(
        store
            .list_user_oauth2_tokens(UserId(fx.snowflake()), T0)
            .await
            .unwrap()
            .is_empty()
    );

    // Revoking alice's grant to app1 leaves her grant to app2 and bob's to app1.
    assert_eq!(store.delete_oauth2_grant(alice, app1).await.unwrap(), 3);
    assert_eq!(
        by_hash(store.list_user_oauth2_tokens(alice, T0).await.unwrap()),
        of(alice, Some(app2))
    );
    assert_eq!(
        by_hash(store.list_user_oauth2_tokens(bob, T0).await.unwrap()),
        of(bob, None)
    );
    assert_eq!(store.delete_oauth2_grant(alice, app1).await.unwrap(), 0);

    assert_eq!(
        store.delete_application_oauth2_tokens(app1).await.unwrap(),
        2
    );
    assert!(
        store
            .list_user_oauth2_tokens(bob, T0)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.delete_user_oauth2_tokens(alice).await.unwrap(), 2);
    assert!(
        store
            .list_user_oauth2_tokens(alice, T0)
            .await
            .unwrap()
            .is_empty()
    );

    // Expiry sweeps only what has expired.
    let soon = fx.make_oauth2_token(OAuth2TokenKind::AccessToken, bob, app2, T0.plus_secs(60));
    let long = fx.make_oauth2_token(OAuth2TokenKind::RefreshToken, bob, app2, later);
    store.put_oauth2_token(&soon).await.unwrap();
    store.put_oauth2_token(&long).await.unwrap();
    assert_eq!(
        store
            .delete_expired_oauth2_tokens(T0.plus_secs(60))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.list_user_oauth2_tokens(bob, T0).await.unwrap(),
        vec![long]
    );
}
