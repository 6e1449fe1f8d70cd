//! The [`OidcProvider`] conformance suite: how every OpenID Connect client fails. (A whole
//! sign-in needs a provider, and is each implementation's own test: the server's end-to-end suite
//! runs one against `oidc-provider`.)

use std::sync::Arc;

use crate::ports::{OidcAuthorizationRequest, OidcError, OidcProvider};

/// Generates one test per [`OidcProvider`] case; see [`crate::testing`]. The factory builds a
/// client whose issuer does not answer (a closed loopback port).
#[macro_export]
macro_rules! oidc_provider_conformance_tests {
    ($($factory:tt)+) => {
        $crate::__conformance_tests!(sso, oidc_provider_conformance, [$($factory)+], [
            an_unreachable_provider_is_unavailable,
            failures_never_repeat_secrets,
        ]);
    };
}

const CODE: &str = "code-5ecr3t-Zq81";
const VERIFIER: &str = "verifier-5ecr3t-Lp02";
const NONCE: &str = "nonce-5ecr3t-Hx77";

/// A provider that cannot be reached makes both calls fail as unavailable (the domain answers
/// 503), never as a refused token (a 400 that would blame the user).
pub async fn an_unreachable_provider_is_unavailable(provider: Arc<dyn OidcProvider>) {
    let request = OidcAuthorizationRequest {
        state: "state",
        nonce: NONCE,
        code_challenge: "challenge",
        redirect_uri: "https://chat.example.com/auth/sso/callback",
    };
    let started = provider.authorization_url(&request).await;
    assert!(
        matches!(started, Err(OidcError::Unavailable(_))),
        "{started:?}"
    );
    let redeemed = provider
        .redeem(CODE, VERIFIER, request.redirect_uri, NONCE)
        .await;
    assert!(
        matches!(redeemed, Err(OidcError::Unavailable(_))),
        "{redeemed:?}"
    );
}

/// A failure's message (which reaches the logs) names no code, verifier or nonce.
pub async fn failures_never_repeat_secrets(provider: Arc<dyn OidcProvider>) {
    let err = provider
        .redeem(CODE, VERIFIER, "https://chat.example.com/cb", NONCE)
        .await
        .expect_err("nothing answers");
    let text = format!("{err} {err:?}");
    for secret in [CODE, VERIFIER, NONCE] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}
