//! Link previews against a local origin on loopback, which the previewer is allowed to reach only
//! when told so (`LinkPreviews::new(vec![127.0.0.1])`); with the production setting it is never
//! contacted.

mod fixtures;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use fluxer_core::ports::Unfurler;
use fluxer_media::LinkPreviews;
use serde_json::json;

use fixtures::{LOCALHOST, animated_gif, png};

fluxer_core::unfurl_conformance_tests!(Arc::new(LinkPreviews::new(Vec::new())));

/// A site with a page (OpenGraph tags, an oEmbed link, a cover image), a redirect to it, an
/// animated GIF and a text file; counts the requests it gets.
async fn site() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let page = format!(
        r##"<!doctype html><html><head><title>Fallback</title>
        <meta property="og:title" content="Fish &amp; chips">
        <meta property="og:description" content="{}">
        <meta property="og:image" content="/cover.png">
        <meta property="og:image:alt" content="A plate">
        <meta property="og:site_name" content="Ignored for oEmbed's">
        <meta name="theme-color" content="#336699">
        <link rel="alternate" type="application/json+oembed" href="/oembed.json">
        </head><body>hello</body></html>"##,
        "long ".repeat(100)
    );
    let counted = |hits: &Arc<AtomicUsize>| {
        let hits = hits.clone();
        move || {
            hits.fetch_add(1, Ordering::SeqCst);
        }
    };
    let count = counted(&hits);
    let app = Router::new()
        .route(
            "/page",
            get(move || {
                count();
                let page = page.clone();
                async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page) }
            }),
        )
        .route(
            "/cover.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], png(64, 32)) }),
        )
        .route(
            "/oembed.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    json!({ "provider_name": "Origin", "provider_url": "https://origin.example/",
                            "author_name": "Ann", "author_url": "https://origin.example/ann" })
                    .to_string(),
                )
            }),
        )
        .route(
            "/moved",
            get(|| async {
                let mut r = StatusCode::FOUND.into_response();
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/page"));
                r
            }),
        )
        .route(
            "/dance.gif",
            get(|| async { ([(header::CONTENT_TYPE, "image/gif")], animated_gif()) }),
        )
        .route(
            "/notes.txt",
            get(|| async { ([(header::CONTENT_TYPE, "text/plain")], "just text") }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_becomes_a_link_embed_with_its_measured_image() {
    let (addr, _) = site().await;
    let previews = LinkPreviews::new(vec![LOCALHOST]);
    // Through a redirect: the embed names the page it landed on.
    let embeds = previews.unfurl(&format!("http://{addr}/moved")).await;
    assert_eq!(embeds.len(), 1, "{embeds:?}");
    let e = serde_json::to_value(&embeds[0]).unwrap();
    assert_eq!(e["type"], "link");
    assert_eq!(e["url"], format!("http://{addr}/page"));
    assert_eq!(e["title"], "Fish & chips");
    let description = e["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 350);
    assert!(description.ends_with("..."));
    assert_eq!(e["color"], 0x336699);
    assert_eq!(
        e["provider"],
        json!({ "name": "Origin", "url": "https://origin.example/" })
    );
    assert_eq!(
        e["author"],
        json!({ "name": "Ann", "url": "https://origin.example/ann" })
    );
    let thumbnail = &e["thumbnail"];
    assert_eq!(thumbnail["url"], format!("http://{addr}/cover.png"));
    assert_eq!(
        (thumbnail["width"].as_u64(), thumbnail["height"].as_u64()),
        (Some(64), Some(32))
    );
    assert_eq!(thumbnail["content_type"], "image/png");
    assert_eq!(thumbnail["flags"], 0);
    assert_eq!(thumbnail["description"], "A plate");
    assert_eq!(thumbnail["content_hash"].as_str().unwrap().len(), 64);
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_media_links_and_other_types() {
    let (addr, _) = site().await;
    let previews = LinkPreviews::new(vec![LOCALHOST]);
    let gif = previews.unfurl(&format!("http://{addr}/dance.gif")).await;
    let e = serde_json::to_value(&gif).unwrap();
    assert_eq!(e[0]["type"], "image");
    assert_eq!(e[0]["thumbnail"]["flags"], 32, "animated");
    assert_eq!(e[0]["thumbnail"]["width"], 32);
    // Text, a missing page and a dead port preview as nothing.
    assert!(
        previews
            .unfurl(&format!("http://{addr}/notes.txt"))
            .await
            .is_empty()
    );
    assert!(
        previews
            .unfurl(&format!("http://{addr}/missing"))
            .await
            .is_empty()
    );
    assert!(previews.unfurl("http://127.0.0.1:9/").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn by_default_loopback_is_refused_and_never_contacted() {
    let (addr, hits) = site().await;
    let previews = LinkPreviews::new(Vec::new());
    assert!(
        previews
            .unfurl(&format!("http://{addr}/page"))
            .await
            .is_empty()
    );
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    // The same site, allowed: it is asked.
    let allowed = LinkPreviews::new(vec![LOCALHOST]);
    assert_eq!(
        allowed.unfurl(&format!("http://{addr}/page")).await.len(),
        1
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
