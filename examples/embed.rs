//! Embedding Fluxer in your own server: the SDK's REST API and gateway mounted next to your own routes,
//! on in-memory backends, and your code calling the use-cases directly.
//!
//! ```sh
//! cargo run --example embed
//! # then: curl http://127.0.0.1:3000/hello
//! ```

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use fluxer::api::{ApiConfig, ApiState, SpawnBlockingHasher};
use fluxer::core::ports::SystemClock;
use fluxer::core::service::{
    Config, Fluxer, GuildCreate, LoginOutcome, MessageCreate, Ports, RegisterRequest,
};
use fluxer::gateway::{Gateway, GatewayConfig};
use fluxer::storage::memory::{
    InProcessEventBus, LogMailer, MemoryCache, MemoryPresence, MemoryStore,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Pick the backends. Any type implementing the ports works here. One cache serves the
    //    use-cases, the API's rate limits and the gateway's resumable sessions.
    let cache = Arc::new(MemoryCache::new());
    let ports = Ports {
        store: Arc::new(MemoryStore::new()),
        events: Arc::new(InProcessEventBus::new()),
        mailer: Arc::new(LogMailer),
        cache: cache.clone(),
        clock: Arc::new(SystemClock),
        hasher: Arc::new(SpawnBlockingHasher::default()),
        queue: None,
        search: None,
        blobs: None,
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

    // 2. Use the domain directly: your app can create accounts, guilds and messages itself.
    let LoginOutcome::Session { token, .. } = fluxer
        .register(RegisterRequest {
            email: Some("host@example.com".into()),
            username: Some("host".into()),
            password: Some("a long enough password".into()),
            ..Default::default()
        })
        .await?
    else {
        unreachable!("new accounts have no second factor")
    };
    let host = fluxer.authenticate(&token).await?;
    let guild = fluxer
        .create_guild(
            &host,
            GuildCreate {
                name: "Embedded".into(),
                ..Default::default()
            },
        )
        .await?;
    let guild_id = guild.id;
    let general = fluxer.list_guild_channels(&host, guild_id).await?[0].id;
    fluxer
        .send_message(
            &host,
            general,
            MessageCreate {
                content: Some("Welcome!".into()),
                ..Default::default()
            },
        )
        .await?;

    // 3. Mount the API and the gateway in your own router, next to your own routes.
    let api = fluxer::api::router(ApiState::new(
        fluxer.clone(),
        cache.clone(),
        ApiConfig {
            gateway_url: "ws://127.0.0.1:3000/gateway".into(),
            ..Default::default()
        },
    ));
    let gateway = Gateway::new(
        fluxer.clone(),
        cache,
        Arc::new(MemoryPresence::new()),
        GatewayConfig {
            public_url: "ws://127.0.0.1:3000/gateway".into(),
            ..Default::default()
        },
    );
    let app = Router::new()
        .route("/hello", get(|| async { "your own route" }))
        .merge(api)
        .merge(gateway.router());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "embedded Fluxer on http://127.0.0.1:3000 (API under /api/v1, token for 'host': {token})"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await?;
    Ok(())
}
