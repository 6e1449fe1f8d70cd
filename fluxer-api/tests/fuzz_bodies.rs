//! Fuzzes the JSON bodies of the API's write routes: near misses of valid bodies (wrong types,
//! extremes, missing and extra fields, damaged text, deep nesting) must get a client error in
//! Fluxer's error shape, never a 5xx or a panic. Bounded: a few thousand cases per run, a new seed
//! each run (printed, `FLUXER_FUZZ_SEED` replays it).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use fluxer_api::{ApiConfig, ApiState};
use fluxer_core::ports::SystemClock;
use fluxer_core::service::{Argon2Hasher, Config, Fluxer, Ports};
use fluxer_core::testing::fuzz::{Rng, mutate};
use fluxer_storage::memory::{
    InProcessEventBus, MemoryBlobStore, MemoryCache, MemoryMailer, MemoryQueue, MemorySearchIndex,
    MemoryStore,
};
use serde_json::{Value, json};
use tower::ServiceExt;

const CASES: usize = 2_000;

struct Api {
    router: axum::Router,
}

impl Api {
    fn new() -> Api {
        let ports = Ports {
            store: Arc::new(MemoryStore::new()),
            events: Arc::new(InProcessEventBus::new()),
            mailer: Arc::new(MemoryMailer::new()),
            cache: Arc::new(MemoryCache::new()),
            clock: Arc::new(SystemClock),
            hasher: Arc::new(Argon2Hasher::fast_for_tests()),
            queue: Some(Arc::new(MemoryQueue::new())),
            search: Some(Arc::new(MemorySearchIndex::new())),
            blobs: Some(Arc::new(MemoryBlobStore::new())),
            media: None,
            presence: None,
            unfurler: None,
            gif_providers: Vec::new(),
            domain_probe: None,
            bluesky: None,
            push: None,
            sso: None,
            webauthn: None,
            voice: None,
            voice_states: None,
        };
        let fluxer = Fluxer::new(ports, Config::default());
        let mut config = ApiConfig::default();
        config.rate_limits.enabled = false;
        let cache = Arc::new(MemoryCache::new());
        Api {
            router: fluxer_api::router(ApiState::new(fluxer, cache, config)),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: String,
    ) -> (StatusCode, Vec<u8>, String) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            request = request.header(header::AUTHORIZATION, t);
        }
        let response = self
            .router
            .clone()
            .oneshot(request.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec();
        (status, bytes, content_type)
    }

    async fn json(&self, method: &str, path: &str, token: Option<&str>, body: Value) -> Value {
        let (status, bytes, _) = self.call(method, path, token, body.to_string()).await;
        assert!(
            status.is_success(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_bodies_get_client_errors_never_server_errors() {
    let api = Api::new();
    let register = json!({
        "email": "fuzz@example.com", "username": "fuzz", "password": "correct horse battery",
        "date_of_birth": "1990-01-01", "consent": true
    });
    let token = api
        .json("POST", "/api/v1/auth/register", None, register.clone())
        .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = Some(token.as_str());
    let guild = api
        .json("POST", "/api/v1/guilds", t, json!({ "name": "Fuzz" }))
        .await;
    let g = guild["id"].as_str().unwrap().to_owned();
    let channel = api
        .json(
            "POST",
            &format!("/api/v1/guilds/{g}/channels"),
            t,
            json!({ "name": "fuzzing", "type": 0 }),
        )
        .await;
    let c = channel["id"].as_str().unwrap().to_owned();
    let message = api
        .json(
            "POST",
            &format!("/api/v1/channels/{c}/messages"),
            t,
            json!({ "content": "hello" }),
        )
        .await;
    let m = message["id"].as_str().unwrap().to_owned();
    let role = api
        .json(
            "POST",
            &format!("/api/v1/guilds/{g}/roles"),
            t,
            json!({ "name": "r" }),
        )
        .await;
    let r = role["id"].as_str().unwrap().to_owned();
    let me = api.json("GET", "/api/v1/users/@me", t, json!({})).await;
    let u = me["id"].as_str().unwrap().to_owned();

    // Each write route with a body that is valid for it.
    let routes: Vec<(&str, String, Option<&str>, Value)> = vec![
        ("POST", "/api/v1/auth/register".into(), None, register),
        (
            "POST",
            "/api/v1/auth/login".into(),
            None,
            json!({ "email": "fuzz@example.com", "password": "wrong password" }),
        ),
        (
            "POST",
            "/api/v1/auth/forgot".into(),
            None,
            json!({ "email": "nobody@example.com" }),
        ),
        (
            "POST",
            "/api/v1/auth/reset".into(),
            None,
            json!({ "token": "abc", "password": "another password" }),
        ),
        (
            "POST",
            "/api/v1/auth/login/mfa/totp".into(),
            None,
            json!({ "code": "123456", "ticket": "t" }),
        ),
        (
            "PATCH",
            "/api/v1/users/@me".into(),
            t,
            json!({ "global_name": "Fuzzy", "bio": "b", "accent_color": 5 }),
        ),
        (
            "POST",
            "/api/v1/guilds".into(),
            t,
            json!({ "name": "G", "icon": null }),
        ),
        (
            "PATCH",
            format!("/api/v1/guilds/{g}"),
            t,
            json!({ "name": "G2", "afk_timeout": 300, "system_channel_id": c }),
        ),
        (
            "POST",
            format!("/api/v1/guilds/{g}/channels"),
            t,
            json!({ "name": "c", "type": 0, "topic": "t", "permission_overwrites": [{ "id": r, "type": 0, "allow": "1024", "deny": "0" }] }),
        ),
        (
            "PATCH",
            format!("/api/v1/channels/{c}"),
            t,
            json!({ "name": "renamed", "topic": "x", "rate_limit_per_user": 0, "nsfw": false }),
        ),
        (
            "POST",
            format!("/api/v1/channels/{c}/messages"),
            t,
            json!({ "content": "hi", "nonce": "1", "tts": false, "embeds": [{ "title": "t", "fields": [{ "name": "n", "value": "v" }] }], "allowed_mentions": { "parse": ["users"] }, "message_reference": { "message_id": m } }),
        ),
        (
            "PATCH",
            format!("/api/v1/channels/{c}/messages/{m}"),
            t,
            json!({ "content": "edited", "flags": 0 }),
        ),
        (
            "POST",
            format!("/api/v1/channels/{c}/messages/bulk-delete"),
            t,
            json!({ "messages": [m, m] }),
        ),
        (
            "POST",
            format!("/api/v1/channels/{c}/invites"),
            t,
            json!({ "max_age": 3600, "max_uses": 5, "temporary": false, "unique": true }),
        ),
        (
            "POST",
            format!("/api/v1/channels/{c}/webhooks"),
            t,
            json!({ "name": "hook" }),
        ),
        (
            "PUT",
            format!("/api/v1/channels/{c}/permissions/{r}"),
            t,
            json!({ "type": 0, "allow": "1024", "deny": "2048" }),
        ),
        (
            "POST",
            format!("/api/v1/guilds/{g}/roles"),
            t,
            json!({ "name": "role", "permissions": "8", "color": 255, "hoist": true, "mentionable": false }),
        ),
        (
            "PATCH",
            format!("/api/v1/guilds/{g}/roles/{r}"),
            t,
            json!({ "name": "renamed", "permissions": "1024", "position": 1 }),
        ),
        (
            "PATCH",
            format!("/api/v1/guilds/{g}/roles"),
            t,
            json!([{ "id": r, "position": 1 }]),
        ),
        (
            "PATCH",
            format!("/api/v1/guilds/{g}/members/{u}"),
            t,
            json!({ "nick": "n", "roles": [r], "communication_disabled_until": null }),
        ),
        (
            "POST",
            format!("/api/v1/streams/{g}:{c}:abc123/preview"),
            t,
            json!({ "channel_id": c, "thumbnail": "/9j/4AAQ/9k=", "content_type": "image/jpeg" }),
        ),
        (
            "PATCH",
            format!("/api/v1/streams/{g}:{c}:abc123/stream"),
            t,
            json!({ "region": "eu" }),
        ),
        (
            "PUT",
            format!("/api/v1/guilds/{g}/bans/{u}"),
            t,
            json!({ "delete_message_seconds": 0 }),
        ),
        (
            "POST",
            format!("/api/v1/guilds/{g}/transfer-ownership"),
            t,
            json!({ "new_owner_id": u, "password": "correct horse battery" }),
        ),
        (
            "POST",
            "/api/v1/users/@me/channels".into(),
            t,
            json!({ "recipient_id": u }),
        ),
        (
            "POST",
            "/api/v1/users/@me/relationships".into(),
            t,
            json!({ "username": "someone", "discriminator": "0001" }),
        ),
        (
            "POST",
            "/api/v1/read-states/ack-bulk".into(),
            t,
            json!({ "read_states": [{ "channel_id": c, "message_id": m }] }),
        ),
        (
            "POST",
            "/api/v1/search/messages".into(),
            t,
            json!({ "content": "hello", "context_guild_id": g, "channel_id": [c], "has": ["link"], "page": 1, "hits_per_page": 10 }),
        ),
        (
            "POST",
            "/api/v1/oauth2/applications".into(),
            t,
            json!({ "name": "app", "redirect_uris": ["https://example.com/cb"] }),
        ),
        ("POST", format!("/api/v1/channels/{c}/typing"), t, json!({})),
        (
            "POST",
            "/api/v1/users/@me/mfa/totp/enable".into(),
            t,
            json!({ "secret": "JBSWY3DPEHPK3PXP", "code": "123456", "password": "correct horse battery" }),
        ),
    ];

    let mut rng = Rng::from_env();
    for case in 0..CASES {
        let (method, path, token, valid) = rng.pick(&routes);
        let body = mutate(&mut rng, valid);
        let (status, bytes, content_type) = api.call(method, path, *token, body.clone()).await;
        // This instance has no media processing (that is fluxer-media's): images are refused
        // with 503 UPLOADS_UNAVAILABLE, a deliberate answer.
        let unavailable = status == StatusCode::SERVICE_UNAVAILABLE
            && serde_json::from_slice::<Value>(&bytes)
                .is_ok_and(|e| e["code"] == "UPLOADS_UNAVAILABLE");
        assert!(
            !status.is_server_error() || unavailable,
            "case {case}: {method} {path} with {} answered {status}: {}",
            body.chars().take(400).collect::<String>(),
            String::from_utf8_lossy(&bytes)
        );
        if status.is_client_error() || unavailable {
            assert_eq!(
                content_type, "application/json",
                "case {case}: {method} {path}"
            );
            let error: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("case {case}: {method} {path}: the error is not JSON ({e})")
            });
            assert!(error["code"].is_string(), "case {case}: {error}");
            assert!(error["message"].is_string(), "case {case}: {error}");
        }
    }
    // The instance still answers after the storm.
    api.json("GET", "/api/v1/users/@me", t, json!({})).await;
}
