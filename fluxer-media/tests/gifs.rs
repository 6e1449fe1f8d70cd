//! GIF search against fakes of Tenor's and KLIPY's APIs on loopback, answering in the shape of
//! their v2 APIs; what a domain publishes, read with the production settings; and the atproto
//! OAuth and OpenID Connect clients' conformance.

mod fixtures;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluxer_core::ports::{DomainProbe, GifAudience, GifProvider, GifProviderKind};
use fluxer_media::{DomainChecks, GifApi};
use serde_json::{Value, json};

use fixtures::LOCALHOST;

/// Requests the fake saw: path and query.
type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

fn tenor_item(id: &str, title: &str) -> Value {
    json!({
        "id": id, "title": "", "content_description": title,
        "itemurl": format!("https://tenor.com/view/{id}"), "url": format!("https://tenor.com/{id}.gif"),
        "created": 1700000000.0, "tags": [], "flags": [], "hasaudio": false,
        "media_formats": {
            "mp4": {"url": format!("https://media.tenor.com/{id}/a.mp4"), "dims": [498, 280], "duration": 1.2, "size": 1000},
            "webm": {"url": format!("https://media.tenor.com/{id}/a.webm"), "dims": [498, 280], "duration": 1.2, "size": 900},
        }
    })
}

fn klipy_item(slug: &str, title: &str) -> Value {
    json!({
        "id": format!("{}", slug.len()), "slug": slug, "title": title,
        "itemurl": format!("https://klipy.com/gifs/{slug}"),
        "media_formats": {
            "webm": {"url": format!("https://static.klipy.com/{slug}.webm"), "dims": [320, 240], "size": 2000},
        }
    })
}

/// A fake of `kind`'s API under `/v2`: cats when searched, a featured list, categories and
/// suggestions; `/broken/v2/...` answers 500.
async fn fake(kind: GifProviderKind) -> (SocketAddr, Seen) {
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = Router::new()
        .route(
            "/v2/{endpoint}",
            get(
                move |Path(endpoint): Path<String>, Query(q): Query<HashMap<String, String>>| {
                    log.lock().unwrap().push((endpoint.clone(), q.clone()));
                    async move { answer(kind, &endpoint, &q) }
                },
            ),
        )
        .route(
            "/broken/v2/{endpoint}",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, seen)
}

fn answer(kind: GifProviderKind, endpoint: &str, q: &HashMap<String, String>) -> Response {
    let item = |id: &str, title: &str| match kind {
        GifProviderKind::Klipy => klipy_item(id, title),
        _ => tenor_item(id, title),
    };
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
    let body = match endpoint {
        "search" => {
            let term = q.get("q").cloned().unwrap_or_default();
            let all: Vec<Value> = (0..5)
                .map(|i| item(&format!("{term}-{i}"), &format!("{term} {i}")))
                .collect();
            json!({ "results": all.into_iter().take(limit).collect::<Vec<_>>(), "next": "5" })
        }
        "featured" => {
            let all = [item("featured-1", "Hello"), item("featured-2", "Bye")];
            json!({ "results": all.into_iter().take(limit).collect::<Vec<_>>(), "next": "2" })
        }
        "categories" => match kind {
            GifProviderKind::Klipy => {
                json!({ "tags": [{"searchterm": "happy"}, {"searchterm": "sad"}] })
            }
            _ => json!({ "locale": "en", "tags": [
                {"searchterm": "happy", "path": "/v2/search?q=happy", "image": "https://media.tenor.com/happy.gif", "name": "#happy"},
                {"searchterm": "", "path": "", "image": "https://media.tenor.com/x.gif", "name": ""},
            ] }),
        },
        "search_suggestions" | "autocomplete" => {
            let all = ["cat", "cats", "catnap"];
            json!({ "results": all.into_iter().take(limit).collect::<Vec<_>>() })
        }
        "registershare" => json!({}),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn provider(kind: GifProviderKind) -> (Arc<dyn GifProvider>, Seen) {
    let (addr, seen) = fake(kind).await;
    let api = match kind {
        GifProviderKind::Klipy => GifApi::klipy("test-key"),
        _ => GifApi::tenor("test-key"),
    }
    .with_base_url(format!("http://{addr}/v2"))
    .with_allow_addresses(vec![LOCALHOST]);
    (Arc::new(api), seen)
}

mod tenor {
    use super::*;
    fluxer_core::gif_provider_conformance_tests!(async {
        provider(GifProviderKind::Tenor).await.0
    });
}

mod klipy {
    use super::*;
    fluxer_core::gif_provider_conformance_tests!(async {
        provider(GifProviderKind::Klipy).await.0
    });
}

fluxer_core::domain_probe_conformance_tests!(Arc::new(DomainChecks::new(None).unwrap()));

/// Finds no DNS record.
struct NoDns;

#[async_trait::async_trait]
impl DomainProbe for NoDns {
    async fn txt_records(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    async fn verification_file(&self, _: &str) -> Option<String> {
        None
    }
}

fluxer_core::bluesky_oauth_conformance_tests!({
    let der = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap();
    use base64::Engine;
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(der.as_ref())
    );
    let client = fluxer_media::bluesky::AtprotoClient {
        api_url: "https://chat.example.com/api".into(),
        client_name: "Fluxer".into(),
        client_uri: String::new(),
        logo_uri: String::new(),
        tos_uri: String::new(),
        policy_uri: String::new(),
        keys: vec![("k1".into(), pem)],
    };
    Arc::new(fluxer_media::AtprotoOAuth::new(client, Arc::new(NoDns)).unwrap())
        as Arc<dyn fluxer_core::ports::BlueskyOAuth>
});

const US: GifAudience<'static> = GifAudience {
    locale: "en_US",
    country: "US",
};

#[tokio::test(flavor = "multi_thread")]
async fn requests_carry_the_key_and_upstreams_parameters() {
    let (tenor, seen) = provider(GifProviderKind::Tenor).await;
    let found = tenor.search("cat", US, 50).await.unwrap();
    assert_eq!(found[0].title, "cat 0");
    assert_eq!(found[0].src, "https://media.tenor.com/cat-0/a.webm");
    assert_eq!((found[0].width, found[0].height), (498, 280));
    let (endpoint, q) = seen.lock().unwrap().pop().unwrap();
    assert_eq!(endpoint, "search");
    for (k, v) in [
        ("key", "test-key"),
        ("client_key", "fluxer"),
        ("q", "cat"),
        ("locale", "en_US"),
        ("country", "US"),
        ("contentfilter", "low"),
        ("media_filter", "webm,mp4"),
        ("limit", "50"),
    ] {
        assert_eq!(q.get(k).map(String::as_str), Some(v), "{k} in {q:?}");
    }
    // Categories without a term are left out.
    let categories = tenor.categories(US).await.unwrap();
    assert_eq!(categories.len(), 1);
    assert_eq!(categories[0].image, "https://media.tenor.com/happy.gif");

    let (klipy, seen) = provider(GifProviderKind::Klipy).await;
    let found = klipy.search("dog", US, 2).await.unwrap();
    assert_eq!(found[0].id, "dog-0");
    assert_eq!(found[0].url, "https://klipy.com/gifs/dog-0");
    assert_eq!(
        seen.lock().unwrap().last().unwrap().1["media_filter"],
        "webm"
    );
    // KLIPY's categories are previewed by searching them, in their order.
    let categories = klipy.categories(US).await.unwrap();
    let names: Vec<&str> = categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["happy", "sad"]);
    assert_eq!(categories[1].image, "https://static.klipy.com/sad-0.webm");
    klipy.suggest("ca", US, 20).await.unwrap();
    assert_eq!(seen.lock().unwrap().last().unwrap().0, "autocomplete");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_or_forbidden_service_is_an_error() {
    let (addr, seen) = fake(GifProviderKind::Tenor).await;
    let broken = GifApi::tenor("k")
        .with_base_url(format!("http://{addr}/broken/v2"))
        .with_allow_addresses(vec![LOCALHOST]);
    assert!(broken.search("cat", US, 5).await.is_err());
    // Loopback without the test hook: refused before any request.
    let private = GifApi::tenor("k").with_base_url(format!("http://{addr}/v2"));
    assert!(private.search("cat", US, 5).await.is_err());
    assert!(private.register_share("x", "", US).await.is_err());
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_domain_serves_its_verification_file() {
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/{domain}/.well-known/fluxer-verification",
        get(|Path(domain): Path<String>| async move {
            if domain == "example.com" {
                ([(header::CONTENT_TYPE, "text/plain")], "token123\n").into_response()
            } else {
                StatusCode::NOT_FOUND.into_response()
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let template = format!("http://{addr}/{{domain}}/.well-known/fluxer-verification");
    let checks = DomainChecks::new(None)
        .unwrap()
        .with_well_known_url(template.clone())
        .with_allow_addresses(vec![LOCALHOST]);
    assert_eq!(
        checks.verification_file("example.com").await.as_deref(),
        Some("token123\n")
    );
    assert_eq!(checks.verification_file("example.org").await, None);
    // Without the hook, loopback stays out of reach.
    let strict = DomainChecks::new(None)
        .unwrap()
        .with_well_known_url(template);
    assert_eq!(strict.verification_file("example.com").await, None);
}

fluxer_core::oidc_provider_conformance_tests!({
    // Through the connector the server uses; nothing listens on port 1.
    use fluxer_core::ports::OidcConnector;
    fluxer_media::oidc::OidcConnections::new(std::time::Duration::from_secs(5)).connect(
        &fluxer_core::ports::OidcClientSettings {
            issuer: "http://127.0.0.1:1".into(),
            client_id: "fluxer".into(),
            client_secret: Some("client-secret".into()),
            scopes: vec!["openid".into(), "email".into()],
        },
    )
});
