//! Connections end to end: domains proven through a DNS TXT record (a DNS server on loopback, the
//! server's configured resolver) or a well-known file (a site on loopback, reached through the
//! configured URL template and the test hook), listed, edited, reordered, checked again, deleted,
//! and shown on profiles to whom their visibility admits; `USER_CONNECTIONS_UPDATE` on the gateway.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::gateway::{identify, next_dispatch, runtime};
use crate::harness::{Client, Server};
use crate::{create_guild, general_channel, invite_and_join, register};

type Published = Arc<Mutex<HashMap<String, String>>>;

/// A DNS server on loopback (UDP) answering TXT queries from a table; other names are NXDOMAIN.
struct FakeDns {
    addr: String,
    txt: Published,
}

impl FakeDns {
    fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let txt: Published = Arc::default();
        let table = txt.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                if let Some(reply) = dns_reply(&buf[..n], &table.lock().unwrap()) {
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        FakeDns { addr, txt }
    }

    fn publish(&self, name: &str, value: &str) {
        self.txt
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }
}

/// The answer to one DNS query: the TXT record of the asked name, if the table has one.
fn dns_reply(query: &[u8], table: &HashMap<String, String>) -> Option<Vec<u8>> {
    let mut pos = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(pos)?);
        pos += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(pos..pos + len)?).to_lowercase());
        pos += len;
    }
    let qtype = u16::from_be_bytes([*query.get(pos)?, *query.get(pos + 1)?]);
    let question_end = pos + 4;
    let record = table.get(&labels.join("."));
    let answers: Vec<&String> = record.filter(|_| qtype == 16).into_iter().collect();
    let mut reply = Vec::with_capacity(512);
    reply.extend_from_slice(&query[..2]);
    let rcode = if record.is_some() { 0 } else { 3 };
    reply.extend_from_slice(&[0x81 | (query[2] & 0x01), 0x80 | rcode]);
    reply.extend_from_slice(&[0, 1]);
    reply.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(query.get(12..question_end)?);
    for text in answers {
        let rdata: Vec<u8> = text
            .as_bytes()
            .chunks(255)
            .flat_map(|chunk| std::iter::once(chunk.len() as u8).chain(chunk.iter().copied()))
            .collect();
        reply.extend_from_slice(&[0xC0, 0x0C, 0, 16, 0, 1, 0, 0, 0, 0]);
        reply.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        reply.extend_from_slice(&rdata);
    }
    Some(reply)
}

/// A web site on loopback serving `/{domain}/.well-known/fluxer-verification` from a table.
struct Site {
    base: String,
    files: Published,
}

impl Site {
    fn start() -> Site {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let files: Published = Arc::default();
        let table = files.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/");
                let body = path
                    .strip_suffix("/.well-known/fluxer-verification")
                    .and_then(|domain| {
                        table
                            .lock()
                            .unwrap()
                            .get(domain.trim_start_matches('/'))
                            .cloned()
                    });
                let (status, body) = match body {
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", "not here".to_owned()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Site { base, files }
    }

    fn publish(&self, domain: &str, body: &str) {
        self.files
            .lock()
            .unwrap()
            .insert(domain.to_owned(), body.to_owned());
    }

    fn withdraw(&self, domain: &str) {
        self.files.lock().unwrap().remove(domain);
    }
}

fn start(dns: &FakeDns, site: &Site) -> Server {
    let template = format!("{}/{{domain}}/.well-known/fluxer-verification", site.base);
    Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        (
            "FLUXER_CONFIG__SERVICES__MEDIA_PROXY__ALLOW_ADDRESSES",
            "[\"127.0.0.1\"]",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__CONNECTIONS__DNS_SERVER",
            &dns.addr,
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__CONNECTIONS__WELL_KNOWN_URL",
            &template,
        ),
    ])
}

/// Starts proving `domain`: the token to publish and the initiation token.
fn initiate(c: &Client, domain: &str) -> (String, String) {
    let v = c
        .post(
            "/api/v1/users/@me/connections",
            &json!({ "type": "domain", "identifier": domain }),
        )
        .expect(201)
        .json();
    (
        v["token"].as_str().unwrap().to_owned(),
        v["initiation_token"].as_str().unwrap().to_owned(),
    )
}

/// Proves `domain` through its well-known file; returns the connection.
fn connect(c: &Client, site: &Site, domain: &str, flags: u32) -> Value {
    let (token, initiation) = initiate(c, domain);
    site.publish(domain, &token);
    c.post(
        "/api/v1/users/@me/connections/verify",
        &json!({ "initiation_token": initiation, "visibility_flags": flags }),
    )
    .expect(201)
    .json()
}

fn listed(c: &Client) -> Vec<Value> {
    c.get("/api/v1/users/@me/connections")
        .expect(200)
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn profile_names(viewer: &Client, user: &str) -> Vec<String> {
    viewer
        .get(&format!("/api/v1/users/{user}/profile"))
        .expect(200)
        .json()["connected_accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn domains_are_proven_through_dns_or_a_well_known_file() {
    let (dns, site) = (FakeDns::start(), Site::start());
    let server = start(&dns, &site);
    let anon = server.client();
    let (alice, _) = register(&anon, "conn-a@example.com", "conn_a");
    let rt = runtime();
    let mut ws = rt.block_on(identify(&server.addr, alice.token.as_deref().unwrap()));
    assert_eq!(listed(&alice), Vec::<Value>::new());

    // Starting stores nothing; the answer says what to publish where.
    let started = alice
        .post(
            "/api/v1/users/@me/connections",
            &json!({ "type": "domain", "identifier": "Alice.Example." }),
        )
        .expect(201)
        .json();
    assert_eq!(started["type"], "domain");
    assert_eq!(started["id"], "alice.example");
    let alice_token = started["token"].as_str().unwrap().to_owned();
    let token = alice_token.clone();
    assert_eq!(token.len(), 64);
    let instructions = started["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("_fluxer.alice.example"),
        "{instructions}"
    );
    assert!(instructions.contains(&format!("fluxer-verification={token}")));
    let initiation = started["initiation_token"].as_str().unwrap().to_owned();
    assert!(listed(&alice).is_empty());

    // Not published yet: refused. Published in the file: created, verified, announced.
    let verify = |c: &Client, body: Value| c.post("/api/v1/users/@me/connections/verify", &body);
    verify(&alice, json!({ "initiation_token": initiation }))
        .expect_error(403, "CONNECTION_VERIFICATION_FAILED");
    site.publish("alice.example", &format!("  {token}\n"));
    let created = verify(&alice, json!({ "initiation_token": initiation }))
        .expect(201)
        .json();
    assert_eq!(created["type"], "domain");
    assert_eq!(created["name"], "alice.example");
    assert_eq!(created["verified"], true);
    assert_eq!(created["visibility_flags"], 1);
    assert_eq!(created["sort_order"], 0);
    let event = rt.block_on(next_dispatch(&mut ws, "USER_CONNECTIONS_UPDATE"));
    assert_eq!(event["d"]["connections"], json!([created]));
    // The same initiation token cannot add it twice.
    verify(&alice, json!({ "initiation_token": initiation }))
        .expect_error(409, "CONNECTION_ALREADY_EXISTS");
    alice
        .post(
            "/api/v1/users/@me/connections",
            &json!({ "type": "domain", "identifier": "ALICE.example" }),
        )
        .expect_error(409, "CONNECTION_ALREADY_EXISTS");

    // Through DNS: `_fluxer.{domain}` TXT = `fluxer-verification={token}`.
    let (token, initiation) = initiate(&alice, "dns.example");
    dns.publish("_fluxer.dns.example", "fluxer-verification=wrong");
    verify(&alice, json!({ "initiation_token": initiation }))
        .expect_error(403, "CONNECTION_VERIFICATION_FAILED");
    dns.publish(
        "_fluxer.dns.example",
        &format!("fluxer-verification={token}"),
    );
    let by_dns = verify(
        &alice,
        json!({ "initiation_token": initiation, "visibility_flags": 2 }),
    )
    .expect(201)
    .json();
    assert_eq!(by_dns["name"], "dns.example");
    assert_eq!(by_dns["visibility_flags"], 2);
    assert_eq!(by_dns["sort_order"], 1);

    // Initiation tokens are the initiator's, whole and fresh.
    let (bob, _) = register(&anon, "conn-b@example.com", "conn_b");
    let (_, theirs) = initiate(&alice, "third.example");
    verify(&bob, json!({ "initiation_token": theirs }))
        .expect_error(400, "CONNECTION_INITIATION_TOKEN_INVALID");
    let mut resigned = theirs.clone();
    let last = resigned.pop().unwrap();
    resigned.push(if last == 'A' { 'Q' } else { 'A' });
    let (payload, _) = theirs.split_once('.').unwrap();
    let (_, other_signature) = initiation.split_once('.').unwrap();
    for forged in [
        format!("{theirs}x"),
        resigned,
        format!("{payload}.{other_signature}"),
        "expired.token.value".to_owned(),
        "nodot".to_owned(),
    ] {
        verify(&alice, json!({ "initiation_token": forged }))
            .expect_error(400, "CONNECTION_INITIATION_TOKEN_INVALID");
    }

    // Bad input.
    let create = |body: Value| alice.post("/api/v1/users/@me/connections", &body);
    for body in [
        json!({ "type": "myspace", "identifier": "x.example" }),
        json!({ "identifier": "x.example" }),
        json!({ "type": "domain" }),
        json!({ "type": "domain", "identifier": "a".repeat(254) }),
        json!({ "type": "domain", "identifier": "x.example", "visibility_flags": 8 }),
    ] {
        create(body).expect_error(400, "INVALID_FORM_BODY");
    }
    for bad in [
        "localhost",
        "127.0.0.1",
        "example.com:8080",
        "example.com/x",
        "no spaces.example",
    ] {
        create(json!({ "type": "domain", "identifier": bad }))
            .expect_error(400, "CONNECTION_INVALID_IDENTIFIER");
    }
    create(json!({ "type": "bsky", "identifier": "alice.bsky.social" }))
        .expect_error(400, "BLUESKY_OAUTH_NOT_ENABLED");
    verify(&alice, json!({})).expect_error(400, "INVALID_FORM_BODY");
    alice
        .post(
            "/api/v1/users/@me/connections/bluesky/authorize",
            &json!({ "handle": "alice.bsky.social" }),
        )
        .expect_error(400, "BLUESKY_OAUTH_NOT_ENABLED");
    alice
        .post(
            "/api/v1/users/@me/connections/bluesky/authorize",
            &json!({}),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    anon.get("/api/v1/users/@me/connections")
        .expect_error(401, "UNAUTHORIZED");
    // Without a key, Bluesky is off: no client documents, and a callback lands on an error.
    anon.get("/api/connections/bluesky/client-metadata.json")
        .expect(404);
    let landing = anon
        .get("/api/connections/bluesky/callback?code=x&state=y")
        .expect(302);
    assert_eq!(
        landing.header("location"),
        Some(
            format!(
                "{}/connection-callback?status=error&reason=not_enabled",
                server.base
            )
            .as_str()
        )
    );

    // Edit, reorder, check again, delete.
    let (a_id, d_id) = (
        created["id"].as_str().unwrap().to_owned(),
        by_dns["id"].as_str().unwrap().to_owned(),
    );
    let path = |kind: &str, id: &str| format!("/api/v1/users/@me/connections/{kind}/{id}");
    alice
        .patch(&path("domain", &a_id), &json!({ "visibility_flags": 5 }))
        .expect(204);
    rt.block_on(next_dispatch(&mut ws, "USER_CONNECTIONS_UPDATE"));
    assert_eq!(listed(&alice)[0]["visibility_flags"], 5);
    alice
        .patch(&path("domain", &a_id), &json!({ "visibility_flags": -1 }))
        .expect_error(400, "INVALID_FORM_BODY");
    alice
        .patch(&path("domain", "123"), &json!({ "sort_order": 1 }))
        .expect_error(404, "CONNECTION_NOT_FOUND");
    alice
        .patch(&path("bsky", &a_id), &json!({ "sort_order": 1 }))
        .expect_error(404, "CONNECTION_NOT_FOUND");
    alice
        .patch(&path("twitter", &a_id), &json!({ "sort_order": 1 }))
        .expect_error(400, "INVALID_FORM_BODY");
    bob.patch(&path("domain", &a_id), &json!({ "sort_order": 1 }))
        .expect_error(404, "CONNECTION_NOT_FOUND");
    alice
        .patch(
            "/api/v1/users/@me/connections/reorder",
            &json!({ "connection_ids": [d_id, a_id, "unknown"] }),
        )
        .expect(204);
    let names: Vec<Value> = listed(&alice).iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, [json!("dns.example"), json!("alice.example")]);
    alice
        .patch(
            "/api/v1/users/@me/connections/reorder",
            &json!({ "connection_ids": [] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Checking again: a withdrawn file unverifies, a republished one verifies again.
    site.withdraw("alice.example");
    alice
        .post(&format!("{}/verify", path("domain", &a_id)), &json!({}))
        .expect_error(403, "CONNECTION_VERIFICATION_FAILED");
    let alice_entry = |c: &Client| {
        listed(c)
            .into_iter()
            .find(|c| c["name"] == "alice.example")
            .unwrap()
    };
    assert_eq!(alice_entry(&alice)["verified"], false);
    site.publish("alice.example", &alice_token);
    let again = alice
        .post(&format!("{}/verify", path("domain", &a_id)), &json!({}))
        .expect(200)
        .json();
    assert_eq!(again["verified"], true);
    alice
        .post(&format!("{}/verify", path("domain", "42")), &json!({}))
        .expect_error(404, "CONNECTION_NOT_FOUND");

    alice.delete(&path("domain", &d_id)).expect(204);
    alice
        .delete(&path("domain", &d_id))
        .expect_error(404, "CONNECTION_NOT_FOUND");
    assert_eq!(listed(&alice).len(), 1);

    // The data export lists them (and not the tokens).
    let id = alice
        .post("/api/v1/users/@me/harvest", &json!({}))
        .expect(200)
        .json()["harvest_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while alice
        .get(&format!("/api/v1/users/@me/harvest/{id}"))
        .expect(200)
        .json()["status"]
        != "completed"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the export never completed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let zip = alice
        .get(&format!("/api/v1/users/@me/harvest/{id}/download"))
        .expect(200);
    let files = crate::background::read_zip(&zip.body);
    let exported: Value = serde_json::from_str(&files["connections.json"]).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 1, "{exported}");
    assert_eq!(exported[0]["name"], "alice.example");
    assert_eq!(exported[0]["verified"], true);
    assert!(!files["connections.json"].contains(&alice_token));
}

#[test]
fn profiles_show_verified_connections_to_whom_they_are_visible() {
    let (dns, site) = (FakeDns::start(), Site::start());
    let server = start(&dns, &site);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "vis-a@example.com", "vis_a");
    let (friend, friend_id) = register(&anon, "vis-f@example.com", "vis_f");
    let (member, _) = register(&anon, "vis-m@example.com", "vis_m");

    let everyone = connect(&alice, &site, "everyone.example", 1);
    connect(&alice, &site, "friends.example", 2);
    connect(&alice, &site, "guild.example", 4);
    connect(&alice, &site, "both.example", 6);
    let hidden = connect(&alice, &site, "withdrawn.example", 1);
    site.withdraw("withdrawn.example");
    alice
        .post(
            &format!(
                "/api/v1/users/@me/connections/domain/{}/verify",
                hidden["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .expect_error(403, "CONNECTION_VERIFICATION_FAILED");
    alice
        .patch(
            &format!(
                "/api/v1/users/@me/connections/domain/{}",
                everyone["id"].as_str().unwrap()
            ),
            &json!({ "sort_order": 10 }),
        )
        .expect(204);

    // Friends (no guild in common) and a guild member (not a friend).
    alice
        .put(
            &format!("/api/v1/users/@me/relationships/{friend_id}"),
            &json!({}),
        )
        .expect(204);
    friend
        .put(
            &format!("/api/v1/users/@me/relationships/{alice_id}"),
            &json!({}),
        )
        .expect(204);
    let guild = create_guild(&alice, "Visible");
    invite_and_join(&alice, &general_channel(&alice, &guild), &member);

    // One's own profile: every verified connection, by sort order.
    assert_eq!(
        profile_names(&alice, &alice_id),
        [
            "friends.example",
            "guild.example",
            "both.example",
            "everyone.example"
        ]
    );
    assert_eq!(
        profile_names(&friend, &alice_id),
        ["friends.example", "both.example", "everyone.example"]
    );
    assert_eq!(
        profile_names(&member, &alice_id),
        ["guild.example", "both.example", "everyone.example"]
    );
    let shown = member
        .get(&format!("/api/v1/users/{alice_id}/profile"))
        .expect(200)
        .json()["connected_accounts"][2]
        .clone();
    assert_eq!(shown["id"], everyone["id"]);
    assert_eq!(shown["type"], "domain");
    assert_eq!(shown["verified"], true);
    assert_eq!(shown["sort_order"], 10);
    // Someone without connections shows none.
    assert!(profile_names(&alice, &friend_id).is_empty());
}

#[test]
fn twenty_connections_at_most() {
    let (dns, site) = (FakeDns::start(), Site::start());
    let server = start(&dns, &site);
    let (erin, _) = register(&server.client(), "conn-e@example.com", "conn_e");
    for i in 0..20 {
        connect(&erin, &site, &format!("d{i}.example"), 1);
    }
    assert_eq!(listed(&erin).len(), 20);
    // Upstream's 429 without a retry hint (waiting does not help): asked once.
    let mut strict = erin.clone();
    strict.retry_on_429 = false;
    let e = strict
        .post(
            "/api/v1/users/@me/connections",
            &json!({ "type": "domain", "identifier": "one-more.example" }),
        )
        .expect_error(429, "CONNECTION_LIMIT_REACHED");
    assert!(e.get("retry_after").is_none(), "{e}");
    // Making room makes it possible again.
    let first = listed(&erin)[0]["id"].as_str().unwrap().to_owned();
    erin.delete(&format!("/api/v1/users/@me/connections/domain/{first}"))
        .expect(204);
    connect(&erin, &site, "one-more.example", 1);
}

/// A throwaway P-256 key (PKCS#8) that signs this test instance's client assertions.
const TEST_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6/SMLuKoQpMB8+Xy
gdxe65Ybyalqir5C8aiuA9nAlj6hRANCAARI5VRmjL8rD842r6pTzOKkzMKi2Gxa
i29KEfAHdduGCeA0adqpn9tkSJLLVy7c63NpRfWY7vCAyGErw0ChXw1o
-----END PRIVATE KEY-----";

/// What the fake atproto server was sent: PAR and token forms, and the DPoP proofs.
#[derive(Default)]
struct AtprotoLog {
    par: Vec<HashMap<String, String>>,
    token: Vec<HashMap<String, String>>,
    dpop: Vec<(Value, Value)>,
}

/// One server on loopback playing the PLC directory, the PDS and its authorization server:
/// `did:plc:alice123` claims `alice.test`; PAR wants the DPoP nonce `n1`; the code `good-code`
/// is exchanged for a token of that DID.
fn fake_atproto() -> (String, Arc<Mutex<AtprotoLog>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let log: Arc<Mutex<AtprotoLog>> = Arc::default();
    let (me, seen) = (base.clone(), log.clone());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let (mut length, mut dpop) = (0usize, None);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("dpop:") {
                    dpop = Some(line[5..].trim().to_owned());
                }
                line.clear();
            }
            let mut body = vec![0u8; length];
            let _ = std::io::Read::read_exact(&mut reader, &mut body);
            let form: HashMap<String, String> = String::from_utf8_lossy(&body)
                .split('&')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_owned(), crate::gifs::decode(v)))
                .collect();
            let proof = dpop.map(|jwt| (jwt_part(&jwt, 0), jwt_part(&jwt, 1)));
            let nonce_ok = proof.as_ref().is_some_and(|(_, p)| p["nonce"] == "n1");
            if let Some(proof) = proof {
                seen.lock().unwrap().dpop.push(proof);
            }
            let path = request_line.split_whitespace().nth(1).unwrap_or("/");
            let (status, extra, answer) = match path {
                "/did:plc:alice123" => (
                    "200 OK",
                    "",
                    json!({
                        "id": "did:plc:alice123", "alsoKnownAs": ["at://alice.test"],
                        "service": [{ "id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": me }],
                    }),
                ),
                "/.well-known/oauth-protected-resource" => (
                    "200 OK",
                    "",
                    json!({ "resource": me, "authorization_servers": [me] }),
                ),
                "/.well-known/oauth-authorization-server" => (
                    "200 OK",
                    "",
                    json!({
                        "issuer": me,
                        "pushed_authorization_request_endpoint": format!("{me}/oauth/par"),
                        "authorization_endpoint": format!("{me}/oauth/authorize"),
                        "token_endpoint": format!("{me}/oauth/token"),
                        "dpop_signing_alg_values_supported": ["ES256"],
                    }),
                ),
                "/oauth/par" | "/oauth/token" if !nonce_ok => (
                    "400 Bad Request",
                    "DPoP-Nonce: n1\r\n",
                    json!({ "error": "use_dpop_nonce" }),
                ),
                "/oauth/par" => {
                    seen.lock().unwrap().par.push(form);
                    (
                        "201 Created",
                        "",
                        json!({ "request_uri": "urn:ietf:params:oauth:request_uri:req-1", "expires_in": 60 }),
                    )
                }
                "/oauth/token" => {
                    let good = form.get("code").is_some_and(|c| c == "good-code");
                    seen.lock().unwrap().token.push(form);
                    if good {
                        (
                            "200 OK",
                            "",
                            json!({
                                "access_token": "at", "token_type": "DPoP", "sub": "did:plc:alice123",
                                "scope": "atproto", "expires_in": 3600, "refresh_token": "rt",
                            }),
                        )
                    } else {
                        ("400 Bad Request", "", json!({ "error": "invalid_grant" }))
                    }
                }
                _ => ("404 Not Found", "", json!({ "error": "not_found" })),
            };
            let answer = answer.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (base, log)
}

/// One part of a compact JWS, decoded.
fn jwt_part(jwt: &str, i: usize) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(i).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

fn query_of(url: &str) -> HashMap<String, String> {
    url.split_once('?')
        .map_or("", |(_, q)| q)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), crate::gifs::decode(v)))
        .collect()
}

#[test]
fn bluesky_accounts_are_linked_through_atproto_oauth() {
    let dns = FakeDns::start();
    dns.publish("_atproto.alice.test", "did=did:plc:alice123");
    let (atproto, log) = fake_atproto();
    let keys = json!([{ "kid": "test-key", "private_key": TEST_KEY }]).to_string();
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        (
            "FLUXER_CONFIG__SERVICES__MEDIA_PROXY__ALLOW_ADDRESSES",
            "[\"127.0.0.1\"]",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__CONNECTIONS__DNS_SERVER",
            &dns.addr,
        ),
        ("FLUXER_CONFIG__AUTH__BLUESKY__KEYS", &keys),
        ("FLUXER_CONFIG__AUTH__BLUESKY__PLC_DIRECTORY_URL", &atproto),
    ]);
    let anon = server.client();
    // The client documents authorization servers read.
    let metadata = anon
        .get("/api/connections/bluesky/client-metadata.json")
        .expect(200)
        .json();
    let client_id = format!(
        "{}/api/connections/bluesky/client-metadata.json",
        server.base
    );
    assert_eq!(metadata["client_id"], client_id.as_str());
    assert_eq!(
        metadata["redirect_uris"],
        json!([format!("{}/api/connections/bluesky/callback", server.base)])
    );
    assert_eq!(metadata["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(metadata["dpop_bound_access_tokens"], true);
    let jwks = anon
        .get("/api/connections/bluesky/jwks.json")
        .expect(200)
        .json();
    assert_eq!(jwks["keys"][0]["kid"], "test-key");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "no private part: {jwks}"
    );

    // Authorize: the handle is resolved and the request pushed; the user goes to their server.
    let (alice, _) = register(&anon, "bsky-a@example.com", "bsky_a");
    let url = alice
        .post(
            "/api/v1/users/@me/connections/bluesky/authorize",
            &json!({ "handle": "https://bsky.app/profile/@Alice.Test" }),
        )
        .expect(200)
        .json()["authorize_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        url.starts_with(&format!("{atproto}/oauth/authorize?")),
        "{url}"
    );
    let q = query_of(&url);
    assert_eq!(q["client_id"], client_id);
    assert_eq!(q["request_uri"], "urn:ietf:params:oauth:request_uri:req-1");
    let state = {
        let log = log.lock().unwrap();
        let par = &log.par[0];
        for (k, v) in [
            ("client_id", client_id.as_str()),
            ("response_type", "code"),
            ("scope", "atproto"),
            ("code_challenge_method", "S256"),
            ("login_hint", "alice.test"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
        ] {
            assert_eq!(par.get(k).map(String::as_str), Some(v), "{k}: {par:?}");
        }
        assert_eq!(par["code_challenge"].len(), 43);
        let assertion_header = jwt_part(&par["client_assertion"], 0);
        let assertion = jwt_part(&par["client_assertion"], 1);
        assert_eq!(assertion_header["alg"], "ES256");
        assert_eq!(assertion_header["kid"], "test-key");
        assert_eq!(assertion["iss"], client_id.as_str());
        assert_eq!(assertion["aud"], atproto.as_str());
        // The nonce challenge was answered: two proofs, the second with the nonce.
        assert_eq!(log.dpop.len(), 2);
        let (header, claims) = &log.dpop[1];
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["jwk"]["kty"], "EC");
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], format!("{atproto}/oauth/par"));
        assert_eq!(claims["nonce"], "n1");
        par["state"].clone()
    };

    // The callback: a made-up state is refused; the real one links the account.
    let callback = |state: &str, code: &str| {
        let r = anon
            .get(&format!(
                "/api/connections/bluesky/callback?code={code}&state={state}&iss={}",
                atproto.replace(':', "%3A").replace('/', "%2F")
            ))
            .expect(302);
        r.header("location").unwrap().to_owned()
    };
    let landing = format!("{}/connection-callback?", server.base);
    assert_eq!(
        callback("made-up", "good-code"),
        format!("{landing}status=error&reason=state_invalid")
    );
    assert_eq!(
        callback(&state, "good-code"),
        format!("{landing}status=connected")
    );
    let token = log.lock().unwrap().token.last().cloned().unwrap();
    assert_eq!(token["grant_type"], "authorization_code");
    assert_eq!(token["code"], "good-code");
    assert!(!token["code_verifier"].is_empty());
    let linked = listed(&alice);
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!(linked[0]["type"], "bsky");
    assert_eq!(linked[0]["name"], "alice.test");
    assert_eq!(linked[0]["verified"], true);
    assert_eq!(linked[0]["visibility_flags"], 1);
    // A state is good once.
    assert_eq!(
        callback(&state, "good-code"),
        format!("{landing}status=error&reason=state_invalid")
    );
    alice
        .post(
            "/api/v1/users/@me/connections/bluesky/authorize",
            &json!({ "handle": "alice.test" }),
        )
        .expect_error(409, "CONNECTION_ALREADY_EXISTS");

    // Checking again follows the DID: still the handle's, verified; moved away, not.
    let id = linked[0]["id"].as_str().unwrap().to_owned();
    let check = format!("/api/v1/users/@me/connections/bsky/{id}/verify");
    assert_eq!(
        alice.post(&check, &json!({})).expect(200).json()["verified"],
        true
    );
    dns.publish("_atproto.alice.test", "did=did:plc:someoneelse");
    alice
        .post(&check, &json!({}))
        .expect_error(403, "CONNECTION_VERIFICATION_FAILED");
    assert_eq!(listed(&alice)[0]["verified"], false);
    dns.publish("_atproto.alice.test", "did=did:plc:alice123");

    // A code the server refuses ends in an error page, and links nothing.
    let (carol, _) = register(&anon, "bsky-c@example.com", "bsky_c");
    carol
        .post(
            "/api/v1/users/@me/connections/bluesky/authorize",
            &json!({ "handle": "alice.test" }),
        )
        .expect(200);
    let state = log.lock().unwrap().par.last().unwrap()["state"].clone();
    assert_eq!(
        callback(&state, "bad-code"),
        format!("{landing}status=error&reason=callback_failed")
    );
    assert!(listed(&carol).is_empty());
    for bad in ["not a handle", "localhost", "alice.test/../x"] {
        carol
            .post(
                "/api/v1/users/@me/connections/bluesky/authorize",
                &json!({ "handle": bad }),
            )
            .expect_error(400, "INVALID_FORM_BODY");
    }
    // A handle that names no DID cannot start.
    carol
        .post(
            "/api/v1/users/@me/connections/bluesky/authorize",
            &json!({ "handle": "nobody.test" }),
        )
        .expect_error(400, "BLUESKY_OAUTH_AUTHORIZATION_FAILED");
}
