//! The [`BlueskyOAuth`] conformance suite: what every atproto OAuth client publishes and refuses.
//! (A whole flow needs a user's server, and is each implementation's own test.)

use std::sync::Arc;

use crate::ports::BlueskyOAuth;

/// Generates one test per [`BlueskyOAuth`] case; see [`crate::testing`]. The factory builds a
/// client with its production settings (no address allowed beyond the public ones) whose handle
/// lookups find no DNS record.
#[macro_export]
macro_rules! bluesky_oauth_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(bluesky, bluesky_oauth_conformance, [$($factory)+], [
            client_documents_publish_no_secret,
            private_addresses_are_never_asked,
        ]);
    };
}

/// The client metadata names the client, its redirect and its key set; the key set holds public
/// keys only.
pub async fn client_documents_publish_no_secret(oauth: Arc<dyn BlueskyOAuth>) {
    let metadata = oauth.client_metadata();
    for key in ["client_id", "redirect_uris", "jwks_uri", "scope"] {
        assert!(!metadata[key].is_null(), "{key} in {metadata}");
    }
    assert_eq!(metadata["dpop_bound_access_tokens"], true);
    let jwks = oauth.jwks();
    let keys = jwks["keys"].as_array().expect("a JWK set");
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key.get("d").is_none(), "a private key part: {key}");
        assert!(key["kid"].is_string(), "{key}");
    }
}

/// Handles and `did:web` documents on loopback or private addresses are never read: such a flow
/// cannot start, and such a DID has no handle.
pub async fn private_addresses_are_never_asked(oauth: Arc<dyn BlueskyOAuth>) {
    for handle in ["localhost", "127.0.0.1", "10.0.0.1"] {
        assert!(oauth.start(handle, "state").await.is_err(), "{handle}");
    }
    for did in [
        "did:web:localhost",
        "did:web:127.0.0.1",
        "did:web:169.254.169.254",
    ] {
        assert_eq!(oauth.current_handle(did).await, None, "{did}");
    }
}
