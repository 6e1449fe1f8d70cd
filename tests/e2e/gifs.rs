//! GIF search end to end: the server asks fakes of Tenor's and KLIPY's v2 APIs on loopback (their
//! base URLs configured, loopback allowed by the test hook) and answers in upstream's shapes, with
//! media through the media proxy, answers cached, input checked and requests rate limited.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::harness::Server;
use crate::register;

/// Requests a fake saw: endpoint and query.
type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// A fake GIF API on loopback: `/v2/{endpoint}` answers as Tenor or KLIPY does; `/broken/...`
/// answers 500. Remembers every request (endpoint and query).
struct FakeGifApi {
    base: String,
    seen: Seen,
}

impl FakeGifApi {
    fn start(klipy: bool) -> FakeGifApi {
        FakeGifApi::start_on("127.0.0.1", klipy)
    }

    /// On another loopback address than the usual one.
    fn start_on(ip: &str, klipy: bool) -> FakeGifApi {
        let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let target = request_line.split_whitespace().nth(1).unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let query: HashMap<String, String> = query
                    .split('&')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_owned(), decode(v)))
                    .collect();
                let (status, body) = match path.strip_prefix("/v2/") {
                    Some(endpoint) => {
                        log.lock()
                            .unwrap()
                            .push((endpoint.to_owned(), query.clone()));
                        ("200 OK", answer(klipy, endpoint, &query).to_string())
                    }
                    None => ("500 Internal Server Error", "{}".to_owned()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeGifApi {
            base: format!("http://{addr}"),
            seen,
        }
    }

    /// Requests made to `endpoint`.
    fn requests(&self, endpoint: &str) -> Vec<HashMap<String, String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(e, _)| e == endpoint)
            .map(|(_, q)| q.clone())
            .collect()
    }
}

pub(crate) fn decode(s: &str) -> String {
    let s = s.replace('+', " ");
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Tenor's and KLIPY's v2 answers, in the shape upstream reads.
fn answer(klipy: bool, endpoint: &str, query: &HashMap<String, String>) -> Value {
    let item = |id: &str, title: &str| {
        if klipy {
            json!({
                "id": 1000 + id.len(), "slug": id, "title": title,
                "itemurl": format!("https://klipy.com/gifs/{id}"),
                "media_formats": {
                    "webm": { "url": format!("https://static.klipy.com/{id}.webm"), "dims": [320, 240], "size": 2048 },
                },
            })
        } else {
            json!({
                "id": id, "title": "", "content_description": title,
                "itemurl": format!("https://tenor.com/view/{id}"),
                "media_formats": {
                    "webm": { "url": format!("https://media.tenor.com/{id}/tiny.webm"), "dims": [498, 280], "duration": 1.5, "size": 4096 },
                    "mp4": { "url": format!("https://media.tenor.com/{id}/tiny.mp4"), "dims": [498, 280], "duration": 1.5, "size": 8192 },
                },
            })
        }
    };
    let limit: usize = query
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50);
    match endpoint {
        "search" => {
            let q = query
                .get("q")
                .cloned()
                .unwrap_or_default()
                .replace(' ', "-");
            let all: Vec<Value> = (1..=5)
                .map(|i| item(&format!("{q}-{i}"), &format!("{q} number {i}")))
                .collect();
            json!({ "results": all.into_iter().take(limit).collect::<Vec<_>>(), "next": "5" })
        }
        "featured" => {
            let all = [item("wave", "Waving"), item("dance", "Dancing")];
            json!({ "results": all.into_iter().take(limit).collect::<Vec<_>>(), "next": "2" })
        }
        "categories" if klipy => {
            json!({ "tags": [{ "searchterm": "happy" }, { "searchterm": "sleepy" }] })
        }
        "categories" => json!({ "locale": "en", "tags": [
            { "searchterm": "happy", "path": "/v2/search?q=happy", "image": "https://media.tenor.com/happy.gif", "name": "#happy" },
            { "searchterm": "sleepy", "path": "/v2/search?q=sleepy", "image": "https://media.tenor.com/sleepy.gif", "name": "#sleepy" },
        ] }),
        "search_suggestions" | "autocomplete" => json!({ "results": ["cat", "cats", "cat dance"] }),
        "registershare" => json!({}),
        _ => json!({ "error": "unknown endpoint" }),
    }
}

fn configured(tenor: &FakeGifApi, klipy_base: &str) -> Vec<(&'static str, String)> {
    vec![
        ("FLUXER_CONFIG__INTEGRATIONS__GIF__PROVIDER", "tenor".into()),
        (
            "FLUXER_CONFIG__INTEGRATIONS__TENOR__API_KEY",
            "tenor-key".into(),
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__TENOR__BASE_URL",
            format!("{}/v2", tenor.base),
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__KLIPY__API_KEY",
            "klipy-key".into(),
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__KLIPY__BASE_URL",
            klipy_base.to_owned(),
        ),
        (
            "FLUXER_CONFIG__SERVICES__MEDIA_PROXY__ALLOW_ADDRESSES",
            "[\"127.0.0.1\"]".into(),
        ),
        // The test client stands in for the CDN whose CF-IPCountry the server believes.
        (
            "FLUXER_CONFIG__PROXY__TRUSTED_PROXIES",
            "[\"127.0.0.1/32\"]".into(),
        ),
    ]
}

fn start(env: &[(&'static str, String)]) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&env)
}

#[test]
fn gif_search_goes_through_the_configured_providers() {
    let tenor = FakeGifApi::start(false);
    let klipy = FakeGifApi::start(true);
    let server = start(&configured(&tenor, &format!("{}/v2", klipy.base)));
    let anon = server.client();
    let doc = anon.get("/.well-known/fluxer").expect(200).json();
    assert_eq!(doc["gif"]["provider"], "tenor");
    let (alice, _) = register(&anon, "gif-a@example.com", "gif_a");

    // Search: upstream's shape, media through our proxy, the query as the provider wants it.
    let found = alice
        .raw(
            "GET",
            "/api/v1/tenor/search?q=cat%20dance&locale=pt-BR",
            &[("CF-IPCountry", "br")],
            b"",
        )
        .expect(200)
        .json();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 5);
    let first = &found[0];
    assert_eq!(first["id"], "cat-dance-1");
    assert_eq!(first["title"], "cat-dance number 1");
    assert_eq!(first["url"], "https://tenor.com/view/cat-dance-1");
    assert_eq!(
        first["src"],
        "https://media.tenor.com/cat-dance-1/tiny.webm"
    );
    assert_eq!(
        (first["width"].as_u64(), first["height"].as_u64()),
        (Some(498), Some(280))
    );
    let proxied = first["proxy_src"].as_str().unwrap();
    assert!(
        proxied.starts_with(&format!("{}/media/external/", server.base)),
        "{proxied}"
    );
    let asked = tenor.requests("search");
    assert_eq!(asked.len(), 1);
    for (k, v) in [
        ("key", "tenor-key"),
        ("client_key", "fluxer"),
        ("q", "cat dance"),
        ("locale", "pt_BR"),
        ("country", "BR"),
        ("contentfilter", "low"),
        ("media_filter", "webm,mp4"),
        ("limit", "50"),
    ] {
        assert_eq!(
            asked[0].get(k).map(String::as_str),
            Some(v),
            "{k}: {asked:?}"
        );
    }
    // The same search again is answered from the cache.
    alice
        .raw(
            "GET",
            "/api/v1/tenor/search?q=cat%20dance&locale=pt-BR",
            &[("CF-IPCountry", "BR")],
            b"",
        )
        .expect(200);
    assert_eq!(tenor.requests("search").len(), 1);
    // Without a locale: en-US, and the country defaults to US.
    alice.get("/api/v1/tenor/search?q=dog").expect(200);
    let asked = tenor.requests("search");
    assert_eq!(asked[1]["locale"], "en_US");
    assert_eq!(asked[1]["country"], "US");

    // Suggestions, featured page, trending.
    let terms = alice
        .get("/api/v1/tenor/suggest?q=ca&locale=en-US")
        .expect(200)
        .json();
    assert_eq!(terms, json!(["cat", "cats", "cat dance"]));
    assert_eq!(tenor.requests("search_suggestions")[0]["limit"], "20");
    let featured = alice.get("/api/v1/tenor/featured").expect(200).json();
    assert_eq!(featured["gifs"].as_array().unwrap().len(), 1);
    assert_eq!(featured["gifs"][0]["id"], "wave");
    let categories = featured["categories"].as_array().unwrap();
    assert_eq!(categories.len(), 2);
    assert_eq!(categories[0]["name"], "happy");
    assert_eq!(categories[0]["src"], "https://media.tenor.com/happy.gif");
    assert!(
        categories[0]["proxy_src"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/media/external/", server.base))
    );
    let trending = alice
        .get("/api/v1/tenor/trending-gifs?locale=fr")
        .expect(200)
        .json();
    assert_eq!(trending.as_array().unwrap().len(), 2);
    assert_eq!(tenor.requests("featured").last().unwrap()["limit"], "50");

    // A share is registered with the provider.
    alice
        .post(
            "/api/v1/tenor/register-share",
            &json!({ "id": "cat-dance-1", "q": "cat dance", "locale": "en-US" }),
        )
        .expect(204);
    let shares = tenor.requests("registershare");
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0]["id"], "cat-dance-1");
    assert_eq!(shares[0]["q"], "cat dance");
    alice
        .post(
            "/api/v1/tenor/register-share",
            &json!({ "id": "x", "q": null }),
        )
        .expect(204);

    // KLIPY, served beside Tenor: slugs as IDs, its pages, categories previewed by a search.
    let found = alice.get("/v1/klipy/search?q=otter").expect(200).json();
    assert_eq!(found[0]["id"], "otter-1");
    assert_eq!(found[0]["url"], "https://klipy.com/gifs/otter-1");
    assert_eq!(found[0]["src"], "https://static.klipy.com/otter-1.webm");
    assert_eq!(klipy.requests("search")[0]["key"], "klipy-key");
    let featured = alice.get("/api/klipy/featured").expect(200).json();
    assert_eq!(
        featured["categories"][1],
        json!({
            "name": "sleepy",
            "src": "https://static.klipy.com/sleepy-1.webm",
            "proxy_src": featured["categories"][1]["proxy_src"],
        })
    );
    assert_eq!(
        alice.get("/api/v1/klipy/suggest?q=ot").expect(200).json(),
        json!(["cat", "cats", "cat dance"])
    );
    assert_eq!(klipy.requests("autocomplete").len(), 1);

    // Bad input names the field.
    for (path, field) in [
        ("/api/v1/tenor/search", "q"),
        ("/api/v1/tenor/search?q=%20%20", "q"),
        ("/api/v1/tenor/suggest?q=", "q"),
        ("/api/v1/tenor/featured?locale=xx-XX", "locale"),
        ("/api/v1/klipy/trending-gifs?locale=english", "locale"),
    ] {
        let e = alice.get(path).expect_error(400, "INVALID_FORM_BODY");
        assert_eq!(crate::error_paths(&e), [field], "{path}");
    }
    let long = "a".repeat(257);
    let e = alice
        .get(&format!("/api/v1/tenor/search?q={long}"))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(crate::error_paths(&e), ["q"]);
    for body in [
        json!({}),
        json!({ "id": "" }),
        json!({ "id": "x".repeat(65) }),
        json!({ "id": "ok", "q": "q".repeat(257) }),
        json!({ "id": "ok", "locale": "tlh" }),
    ] {
        alice
            .post("/api/v1/klipy/register-share", &body)
            .expect_error(400, "INVALID_FORM_BODY");
    }
    // Credentials are needed once the provider is on.
    anon.get("/api/v1/tenor/search?q=cat")
        .expect_error(401, "UNAUTHORIZED");
}

#[test]
fn gif_search_without_a_key_is_missing_access_and_failures_are_errors() {
    let server = Server::start(&[]);
    let anon = server.client();
    let doc = anon.get("/.well-known/fluxer").expect(200).json();
    assert_eq!(doc["gif"]["provider"], "klipy");
    let (alice, _) = register(&anon, "gif-off@example.com", "gif_off");
    for provider in ["tenor", "klipy"] {
        for path in ["search?q=cat", "suggest?q=cat", "featured", "trending-gifs"] {
            alice
                .get(&format!("/api/v1/{provider}/{path}"))
                .expect_error(403, "MISSING_ACCESS");
            // Before credentials, as upstream checks the key first.
            anon.get(&format!("/api/v1/{provider}/{path}"))
                .expect_error(403, "MISSING_ACCESS");
        }
        alice
            .post(
                &format!("/api/v1/{provider}/register-share"),
                &json!({ "id": "x" }),
            )
            .expect_error(403, "MISSING_ACCESS");
    }
    drop(server);

    // A provider that fails is a server error (its detail stays in the log); one on an address
    // the test hook does not allow (127.0.0.2) is never asked.
    let tenor = FakeGifApi::start_on("127.0.0.2", false);
    let klipy = FakeGifApi::start(true);
    let server = start(&configured(&tenor, &format!("{}/broken/v2", klipy.base)));
    let (bob, _) = register(&server.client(), "gif-err@example.com", "gif_err");
    bob.get("/api/v1/tenor/search?q=cat")
        .expect_error(500, "INTERNAL_SERVER_ERROR");
    assert!(
        tenor.requests("search").is_empty(),
        "a refused address was asked"
    );
    bob.get("/api/v1/klipy/search?q=cat")
        .expect_error(500, "INTERNAL_SERVER_ERROR");
}

#[test]
fn gif_search_is_rate_limited_per_user() {
    let tenor = FakeGifApi::start(false);
    let klipy = FakeGifApi::start(true);
    let server = start(&configured(&tenor, &format!("{}/v2", klipy.base)));
    let (alice, _) = register(&server.client(), "gif-rl@example.com", "gif_rl");
    let mut strict = alice.clone();
    strict.retry_on_429 = false;
    for _ in 0..40 {
        strict.get("/api/v1/tenor/search?q=cat").expect(200);
    }
    let e = strict
        .get("/api/v1/tenor/search?q=cat")
        .expect_error(429, "RATE_LIMITED");
    assert!(e["retry_after"].as_f64().unwrap() > 0.0);
    // Another route's bucket is untouched.
    strict.get("/api/v1/tenor/suggest?q=cat").expect(200);
    // One request reached the provider: the others came from the cache.
    assert_eq!(tenor.requests("search").len(), 1);
}
