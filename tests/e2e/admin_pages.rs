//! The admin panel's guild, message, discovery and voice pages and its single sign-on form, over
//! plain HTTP against the real binary: each action with a reason, confirmed through the API and
//! the audit log; ACLs refused as the API refuses them; bad forms change nothing. And the
//! dashboard's storage number, which follows what the blob store holds.

use serde_json::{Value, json};

use crate::admin::limited_staff;
use crate::admin_web::{csrf_of, get_with, post_form, sign_in};
use crate::harness::{Client, Response, Server};
use crate::{create_guild, general_channel, invite_and_join, post_message, register, staff};

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Posts a panel form with the session's CSRF token and a reason.
fn act(anon: &Client, cookie: &str, csrf: &str, path: &str, fields: &[(&str, &str)]) -> Response {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    post_form(anon, path, cookie, &all)
}

fn lookup_guild(op: &Client, guild: &str) -> Value {
    op.post("/api/v1/admin/guilds/lookup", &json!({ "guild_id": guild }))
        .expect(200)
        .json()["guild"]
        .clone()
}

fn audit_has(anon: &Client, cookie: &str, needle: &str) -> bool {
    let q: String = needle
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    text(&get_with(anon, &format!("/admin/audit-log?q={q}"), cookie).expect(200)).contains(needle)
}

#[test]
fn admin_pages_administer_guilds_and_messages() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (op, _) = staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    let (owner, owner_id) = register(&anon, "owner@example.com", "owner");
    let (member, member_id) = register(&anon, "member@example.com", "member");
    let guild = create_guild(&owner, "Kayak Club");
    let channel = general_channel(&owner, &guild);
    invite_and_join(&owner, &channel, &member);

    // Search by name and by ID; the guild's page shows its owner, members and features.
    let found = text(&get_with(&anon, "/admin/guilds?q=kayak", &cookie).expect(200));
    assert!(found.contains(&format!("/admin/guilds/{guild}")), "{found}");
    assert!(found.contains("1 found"), "{found}");
    let found = text(&get_with(&anon, &format!("/admin/guilds?q={guild}"), &cookie).expect(200));
    assert!(found.contains("Kayak Club"), "{found}");
    assert!(
        text(&get_with(&anon, "/admin/guilds?q=zebra", &cookie).expect(200)).contains("0 found")
    );
    get_with(&anon, "/admin/guilds/not-an-id", &cookie).expect(404);
    get_with(&anon, "/admin/guilds/12345", &cookie).expect(404);
    let page = text(&get_with(&anon, &format!("/admin/guilds/{guild}"), &cookie).expect(200));
    assert!(
        page.contains(&format!(
            "id=\"guild-owner\"><a href=\"/admin/users/{owner_id}\""
        )),
        "{page}"
    );
    assert!(page.contains("id=\"guild-members\">2<"), "{page}");
    assert!(
        page.contains(&format!("/admin/users/{member_id}")),
        "{page}"
    );

    // Features: a reason is required, then the API sees them.
    let features = format!("/admin/guilds/{guild}/features");
    act(
        &anon,
        &cookie,
        &csrf,
        &features,
        &[("add", "VERIFIED"), ("reason", "")],
    )
    .expect(400);
    act(
        &anon,
        &cookie,
        &csrf,
        &features,
        &[("add", "not a feature!"), ("reason", "x")],
    )
    .expect(400);
    assert_eq!(lookup_guild(&op, &guild)["features"], json!([]));
    let r = act(
        &anon,
        &cookie,
        &csrf,
        &features,
        &[("add", "verified, PARTNERED"), ("reason", "Official club")],
    )
    .expect(303);
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/guilds/{guild}?done=features").as_str())
    );
    assert_eq!(
        lookup_guild(&op, &guild)["features"],
        json!(["VERIFIED", "PARTNERED"])
    );
    act(
        &anon,
        &cookie,
        &csrf,
        &features,
        &[("remove", "PARTNERED"), ("reason", "Partnership over")],
    )
    .expect(303);
    assert_eq!(lookup_guild(&op, &guild)["features"], json!(["VERIFIED"]));

    // Ownership: only to a member; then the API says who owns it.
    let transfer = format!("/admin/guilds/{guild}/transfer");
    let (_, stranger_id) = register(&anon, "stranger@example.com", "stranger");
    act(
        &anon,
        &cookie,
        &csrf,
        &transfer,
        &[("new_owner_id", &stranger_id), ("reason", "x")],
    )
    .expect(404);
    act(
        &anon,
        &cookie,
        &csrf,
        &transfer,
        &[
            ("new_owner_id", &member_id),
            ("reason", "The owner left the club"),
        ],
    )
    .expect(303);
    assert_eq!(lookup_guild(&op, &guild)["owner_id"], member_id.as_str());
    assert!(audit_has(&anon, &cookie, "The owner left the club"));

    // Messages: found by ID with the conversation around them, deleted with a reason.
    post_message(&owner, &channel, "before");
    let bad = post_message(&owner, &channel, "buy cheap kayaks here")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post_message(&owner, &channel, "after");
    let lookup = format!("/admin/messages?channel_id={channel}&message_id={bad}");
    let page = text(&get_with(&anon, &lookup, &cookie).expect(200));
    assert!(page.contains("buy cheap kayaks here"), "{page}");
    assert!(page.contains("before") && page.contains("after"), "{page}");
    assert!(
        page.contains("form class=\"stack\" id=\"delete\""),
        "{page}"
    );
    get_with(
        &anon,
        &format!("/admin/messages?channel_id=x&message_id={bad}"),
        &cookie,
    )
    .expect(400);
    get_with(&anon, "/admin/messages?channel_id=1&message_id=2", &cookie).expect(404);
    let delete = |reason: &str, message: &str| {
        act(
            &anon,
            &cookie,
            &csrf,
            "/admin/messages/delete",
            &[
                ("channel_id", &channel),
                ("message_id", message),
                ("reason", reason),
            ],
        )
    };
    delete("", &bad).expect(400);
    post_form(
        &anon,
        "/admin/messages/delete",
        &cookie,
        &[
            ("csrf", "forged"),
            ("channel_id", &channel),
            ("message_id", &bad),
            ("reason", "spam"),
        ],
    )
    .expect(403);
    owner
        .get(&format!("/api/v1/channels/{channel}/messages/{bad}"))
        .expect(200);
    // By one of its files: the file's ID and name find the message that carries it.
    let with_file = crate::media::upload(
        &owner,
        &channel,
        json!({ "content": "price list attached" }),
        &[("prices.txt", b"kayak: 10 coins")],
    );
    let file = &with_file["attachments"][0];
    let by_file = format!(
        "/admin/messages?channel_id={channel}&attachment_id={}&filename=prices.txt",
        file["id"].as_str().unwrap()
    );
    let page = text(&get_with(&anon, &by_file, &cookie).expect(200));
    assert!(page.contains("price list attached"), "{page}");
    assert!(
        page.contains(&format!("value=\"{}\"", with_file["id"].as_str().unwrap())),
        "the delete form names the message: {page}"
    );
    let page = text(
        &get_with(
            &anon,
            &format!(
                "/admin/messages?channel_id={channel}&attachment_id={}&filename=other.txt",
                file["id"].as_str().unwrap()
            ),
            &cookie,
        )
        .expect(200),
    );
    assert!(
        page.contains("No message in this channel carries that file."),
        "{page}"
    );
    delete("Advertising", &bad).expect(303);
    owner
        .get(&format!("/api/v1/channels/{channel}/messages/{bad}"))
        .expect_error(404, "UNKNOWN_MESSAGE");
    delete("again", &bad).expect(404);
    let page = text(&get_with(&anon, &format!("{lookup}&done=deleted"), &cookie).expect(200));
    assert!(page.contains("The message is deleted."), "{page}");
    assert!(page.contains("message-missing"), "{page}");
    assert!(audit_has(&anon, &cookie, "Advertising"));

    // A moderator who may look guilds up but change nothing is refused as the API refuses it.
    limited_staff(
        &server,
        &op,
        "viewer@example.com",
        "viewer",
        &["admin:authenticate", "guild:lookup", "metrics:view"],
    );
    let viewer_cookie = sign_in(&anon, "viewer@example.com");
    let viewer_csrf = csrf_of(&anon, &viewer_cookie);
    get_with(&anon, &format!("/admin/guilds/{guild}"), &viewer_cookie).expect(200);
    let r = act(
        &anon,
        &viewer_cookie,
        &viewer_csrf,
        &format!("/admin/guilds/{guild}/delete"),
        &[("confirm", "yes"), ("reason", "I should not")],
    )
    .expect(403);
    assert!(
        text(&r).contains("Missing required ACL: guild:delete"),
        "{}",
        text(&r)
    );
    get_with(&anon, &lookup, &viewer_cookie).expect(403);
    get_with(&anon, "/admin/discovery", &viewer_cookie).expect(403);
    get_with(&anon, "/admin/voice", &viewer_cookie).expect(403);

    // Deletion: confirmed and with a reason; then the guild is gone.
    let delete_guild = format!("/admin/guilds/{guild}/delete");
    act(
        &anon,
        &cookie,
        &csrf,
        &delete_guild,
        &[("reason", "Spam ring")],
    )
    .expect(400);
    assert!(lookup_guild(&op, &guild).is_object());
    act(
        &anon,
        &cookie,
        &csrf,
        &delete_guild,
        &[("confirm", "yes"), ("reason", "Spam ring")],
    )
    .expect(303);
    assert!(lookup_guild(&op, &guild).is_null());
    member
        .get(&format!("/api/v1/guilds/{guild}"))
        .expect_error(404, "UNKNOWN_GUILD");
    assert!(audit_has(&anon, &cookie, "Spam ring"));
}

#[test]
fn admin_pages_review_discovery() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        ("FLUXER_CONFIG__DISCOVERY__MIN_MEMBER_COUNT", "1"),
    ]);
    let anon = server.client();
    staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    let (owner, _) = register(&anon, "owner@example.com", "owner");
    let good = create_guild(&owner, "Kayak Club");
    let bad = create_guild(&owner, "Spam Central");
    for (guild, description) in [
        (&good, "Paddles up, every weekend"),
        (&bad, "Cheap kayaks, click here"),
    ] {
        owner
            .post(
                &format!("/api/v1/guilds/{guild}/discovery"),
                &json!({ "description": description, "category_type": 8 }),
            )
            .expect(200);
    }
    let status = |guild: &str| {
        owner
            .get(&format!("/api/v1/guilds/{guild}/discovery"))
            .expect(200)
            .json()["application"]
            .clone()
    };

    // Both wait, with their names and descriptions.
    let page = text(&get_with(&anon, "/admin/discovery", &cookie).expect(200));
    for needle in ["Kayak Club", "Spam Central", "Cheap kayaks, click here"] {
        assert!(page.contains(needle), "{needle}: {page}");
    }
    assert!(page.contains(&format!("id=\"approve-{good}\"")), "{page}");

    // Rejecting needs a reason, which the guild then reads.
    let reject = format!("/admin/discovery/{bad}/reject");
    act(&anon, &cookie, &csrf, &reject, &[("reason", "")]).expect(400);
    assert_eq!(status(&bad)["status"], "pending");
    act(
        &anon,
        &cookie,
        &csrf,
        &reject,
        &[("reason", "Advertising only")],
    )
    .expect(303);
    let app = status(&bad);
    assert_eq!(app["status"], "rejected", "{app}");
    assert_eq!(app["review_reason"], "Advertising only", "{app}");
    // Reviewed once: a second review is refused.
    act(&anon, &cookie, &csrf, &reject, &[("reason", "Again")]).expect(409);

    // Approving lists the guild; removing takes it out again, with the reason.
    act(
        &anon,
        &cookie,
        &csrf,
        &format!("/admin/discovery/{good}/approve"),
        &[("reason", "A real club")],
    )
    .expect(303);
    assert_eq!(status(&good)["status"], "approved");
    let listed = text(&get_with(&anon, "/admin/discovery?status=approved", &cookie).expect(200));
    assert!(
        listed.contains(&format!("id=\"remove-{good}\"")),
        "{listed}"
    );
    act(
        &anon,
        &cookie,
        &csrf,
        &format!("/admin/discovery/{good}/remove"),
        &[("reason", "Went inactive")],
    )
    .expect(303);
    assert_eq!(status(&good)["status"], "removed");
    let removed = text(&get_with(&anon, "/admin/discovery?status=removed", &cookie).expect(200));
    assert!(removed.contains("Went inactive"), "{removed}");
    assert!(audit_has(&anon, &cookie, "discovery.remove"));
}

#[test]
fn admin_pages_manage_voice_regions_and_servers() {
    // Voice on (LiveKit is never called by these pages: nothing listens there).
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        ("FLUXER_CONFIG__INTEGRATIONS__VOICE__ENABLED", "true"),
        ("FLUXER_CONFIG__INTEGRATIONS__VOICE__API_KEY", "lk-key"),
        (
            "FLUXER_CONFIG__INTEGRATIONS__VOICE__API_SECRET",
            "lk-secret-cfg",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__VOICE__URL",
            "ws://127.0.0.1:9",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__VOICE__DEFAULT_REGION__ID",
            "eu-test",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__VOICE__DEFAULT_REGION__NAME",
            "Europe (test)",
        ),
    ]);
    let anon = server.client();
    let (op, _) = staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    let regions = || {
        op.post(
            "/api/v1/admin/voice/regions/list",
            &json!({ "include_servers": true }),
        )
        .expect(200)
        .json()["regions"]
            .clone()
    };
    let page = text(&get_with(&anon, "/admin/voice", &cookie).expect(200));
    assert!(page.contains("eu-test"), "{page}");

    // A region: bad coordinates change nothing; then it is there, edited, and has a server.
    let create =
        |fields: &[(&str, &str)]| act(&anon, &cookie, &csrf, "/admin/voice/regions", fields);
    create(&[
        ("id", "us-east"),
        ("name", "US East"),
        ("emoji", "🇺🇸"),
        ("latitude", "north"),
        ("longitude", "-77"),
        ("reason", "New region"),
    ])
    .expect(400);
    create(&[
        ("id", "us-east"),
        ("name", "US East"),
        ("emoji", "🇺🇸"),
        ("latitude", "95"),
        ("longitude", "-77"),
        ("reason", "New region"),
    ])
    .expect(400);
    assert_eq!(regions().as_array().unwrap().len(), 1);
    create(&[
        ("id", "us-east"),
        ("name", "US East"),
        ("emoji", "🇺🇸"),
        ("latitude", "38.9"),
        ("longitude", "-77"),
        ("reason", "New region"),
    ])
    .expect(303);
    act(
        &anon,
        &cookie,
        &csrf,
        "/admin/voice/regions/us-east",
        &[
            ("name", "US East (Virginia)"),
            ("emoji", "🇺🇸"),
            ("latitude", "38.9"),
            ("longitude", "-77"),
            ("is_default", "on"),
            ("reason", "Closer to most users"),
        ],
    )
    .expect(303);
    let servers = "/admin/voice/regions/us-east/servers";
    act(
        &anon,
        &cookie,
        &csrf,
        servers,
        &[
            ("server_id", "lk-1"),
            ("endpoint", "wss://lk1.example.com"),
            ("api_key", "key-1"),
            ("api_secret", "very-secret-value-1"),
            ("is_active", "on"),
            ("reason", "First server"),
        ],
    )
    .expect(303);
    let list = regions();
    let east = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "us-east")
        .unwrap()
        .clone();
    assert_eq!(east["name"], "US East (Virginia)", "{east}");
    assert_eq!(east["is_default"], true, "{east}");
    assert_eq!(east["servers"][0]["endpoint"], "wss://lk1.example.com");
    // The page never shows a secret; an edit with the secret left blank keeps it.
    let page = text(&get_with(&anon, "/admin/voice", &cookie).expect(200));
    assert!(page.contains("wss://lk1.example.com"), "{page}");
    assert!(!page.contains("very-secret-value-1"), "{page}");
    act(
        &anon,
        &cookie,
        &csrf,
        "/admin/voice/regions/us-east/servers/lk-1",
        &[
            ("endpoint", "wss://lk1b.example.com"),
            ("api_key", "key-1"),
            ("api_secret", ""),
            ("reason", "Moved; paused"),
        ],
    )
    .expect(303);
    let server_now = op
        .post(
            "/api/v1/admin/voice/servers/get",
            &json!({ "region_id": "us-east", "server_id": "lk-1" }),
        )
        .expect(200)
        .json()["server"]
        .clone();
    assert_eq!(server_now["endpoint"], "wss://lk1b.example.com");
    assert_eq!(server_now["is_active"], false);
    assert!(!server.log().contains("very-secret-value-1"));

    // Deleting the server, then the region; each with a reason.
    act(
        &anon,
        &cookie,
        &csrf,
        "/admin/voice/regions/us-east/servers/lk-1/delete",
        &[("reason", "")],
    )
    .expect(400);
    act(
        &anon,
        &cookie,
        &csrf,
        "/admin/voice/regions/us-east/servers/lk-1/delete",
        &[("reason", "Retired")],
    )
    .expect(303);
    act(
        &anon,
        &cookie,
        &csrf,
        "/admin/voice/regions/us-east/delete",
        &[("reason", "Retired")],
    )
    .expect(303);
    let ids: Vec<Value> = regions()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!("eu-test")]);
    act(
        &anon,
        &cookie,
        &csrf,
        "/admin/voice/regions/us-east/delete",
        &[("reason", "Retired")],
    )
    .expect(404);
}

/// The dashboard's storage in bytes (its `data-bytes`).
fn storage_bytes(anon: &Client, cookie: &str) -> u64 {
    let page = text(&get_with(anon, "/admin", cookie).expect(200));
    page.split("id=\"stat-storage\" data-bytes=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no storage on the dashboard: {page}"))
}

#[test]
fn the_dashboard_counts_the_bytes_stored() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let (owner, _) = register(&anon, "owner@example.com", "owner");
    let guild = create_guild(&owner, "Files");
    let channel = general_channel(&owner, &guild);

    let before = storage_bytes(&anon, &cookie);
    let file = vec![7u8; 12_345];
    let sent = crate::media::upload(
        &owner,
        &channel,
        json!({ "content": "a file" }),
        &[("notes.bin", &file)],
    );
    let after = storage_bytes(&anon, &cookie);
    assert_eq!(after, before + file.len() as u64, "{sent}");
    let page = text(&get_with(&anon, "/admin", &cookie).expect(200));
    assert!(page.contains("<code>attachments</code>"), "{page}");

    // Deleting the message removes its file (in the background): the number goes back.
    let id = sent["id"].as_str().unwrap();
    owner
        .delete(&format!("/api/v1/channels/{channel}/messages/{id}"))
        .expect(204);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while storage_bytes(&anon, &cookie) != before {
        assert!(
            std::time::Instant::now() < deadline,
            "the file's bytes stayed counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn staff_change_single_sign_on_in_the_panel_without_seeing_the_secret() {
    let server = Server::start(&[]);
    let anon = server.client();
    staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    assert_eq!(
        anon.get("/api/v1/auth/sso/status").expect(200).json()["enabled"],
        false
    );

    let save = |fields: &[(&str, &str)]| act(&anon, &cookie, &csrf, "/admin/instance/sso", fields);
    // On without an issuer: refused, nothing changed.
    save(&[
        ("enabled", "on"),
        ("client_id", "fluxer"),
        ("reason", "SSO"),
    ])
    .expect(400);
    assert_eq!(
        anon.get("/api/v1/auth/sso/status").expect(200).json()["enabled"],
        false
    );
    save(&[
        ("enabled", "on"),
        ("display_name", "Company login"),
        ("issuer", "http://127.0.0.1:9/issuer"),
        ("client_id", "fluxer"),
        ("client_secret", "panel-secret-93ac"),
        ("scope", "email profile"),
        ("allowed_domains", "Example.com, @corp.example"),
        ("auto_provision", "on"),
        ("reason", "Company SSO"),
    ])
    .expect(303);
    let status = anon.get("/api/v1/auth/sso/status").expect(200).json();
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["display_name"], "Company login", "{status}");
    let page = text(&get_with(&anon, "/admin/instance", &cookie).expect(200));
    assert!(page.contains("A secret is set"), "{page}");
    assert!(
        page.contains("value=\"http://127.0.0.1:9/issuer\""),
        "{page}"
    );
    assert!(page.contains("example.com, corp.example"), "{page}");
    assert!(!page.contains("panel-secret-93ac"), "{page}");
    let log = text(&get_with(&anon, "/admin/audit-log?q=sso", &cookie).expect(200));
    assert!(log.contains("Company SSO"), "{log}");
    assert!(!log.contains("panel-secret-93ac"), "{log}");

    // Saved again with the secret blank: kept. Then removed with the box.
    save(&[
        ("enabled", "on"),
        ("issuer", "http://127.0.0.1:9/issuer"),
        ("client_id", "fluxer"),
        ("reason", "Rename"),
    ])
    .expect(303);
    let page = text(&get_with(&anon, "/admin/instance", &cookie).expect(200));
    assert!(page.contains("A secret is set"), "{page}");
    save(&[
        ("issuer", "http://127.0.0.1:9/issuer"),
        ("client_id", "fluxer"),
        ("clear_client_secret", "on"),
        ("reason", "Off for now"),
    ])
    .expect(303);
    let page = text(&get_with(&anon, "/admin/instance", &cookie).expect(200));
    assert!(page.contains("None is set."), "{page}");
    assert_eq!(
        anon.get("/api/v1/auth/sso/status").expect(200).json()["enabled"],
        false
    );
    assert!(!server.log().contains("panel-secret-93ac"));
}
