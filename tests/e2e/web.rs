//! What Fluxer's web app needs of the server, over HTTP against the real binary: the bundle served
//! at `/`, the home page and default avatars, user settings, notes, pinned DMs and profiles, and
//! the defects third-party clients hit before (each with its regression test).

use serde_json::{Value, json};

use crate::harness::Server;
use crate::media::{multipart, png};
use crate::{
    create_guild, error_paths, general_channel, ids, invite_and_join, post_message, register,
};

/// A small bundle laid out as the app's build lays it out.
pub(crate) fn fixture_bundle() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "fluxer-e2e-webapp-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><html><head><script nonce=\"{{CSP_NONCE_PLACEHOLDER}}\">boot()</script>\
         <script nonce=\"{{CSP_NONCE_PLACEHOLDER}}\" src=\"/assets/app.3f2a.js\"></script></head>\
         <body><div id=\"root\"></div></body></html>",
    )
    .unwrap();
    std::fs::write(dir.join("assets/app.3f2a.js"), "console.log('app')").unwrap();
    std::fs::write(dir.join("assets/style.77b1.css"), "body{}").unwrap();
    std::fs::write(dir.join("sw.js"), "self.addEventListener('push', () => {})").unwrap();
    std::fs::write(dir.join("manifest.json"), "{}").unwrap();
    dir
}

#[test]
fn the_web_app_is_served_at_the_root() {
    let bundle = fixture_bundle();
    let server = Server::start(&[("FLUXER_CONFIG__WEB__APP_DIR", bundle.to_str().unwrap())]);
    let anon = server.client();

    // The app's own routes load index.html, each time with a fresh nonce its policy names.
    let mut nonces = Vec::new();
    for path in [
        "/",
        "/channels/@me",
        "/invite/abc123",
        "/login?redirect_to=%2Fchannels",
    ] {
        let r = anon.get(path).expect(200);
        assert_eq!(
            r.header("content-type"),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(r.header("cache-control"), Some("no-cache"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(!body.contains("CSP_NONCE_PLACEHOLDER"), "{body}");
        let nonce = body
            .split("nonce=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned();
        assert_eq!(nonce.len(), 32);
        assert_eq!(body.matches(&nonce).count(), 2);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains(&format!("ws://{}", server.addr)), "{csp}");
        nonces.push(nonce);
    }
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "a nonce is never reused");

    // Files with their types; hashed assets cached for good, the service worker never.
    let js = anon.get("/assets/app.3f2a.js").expect(200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(js.body, b"console.log('app')");
    let css = anon.get("/assets/style.77b1.css").expect(200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    let sw = anon.get("/sw.js").expect(200);
    assert_eq!(sw.header("cache-control"), Some("no-cache"));
    assert_eq!(sw.header("service-worker-allowed"), Some("/"));
    assert_eq!(
        anon.get("/manifest.json")
            .expect(200)
            .header("content-type"),
        Some("application/json")
    );
    let head = anon
        .raw("HEAD", "/assets/app.3f2a.js", &[], b"")
        .expect(200);
    assert!(head.body.is_empty());

    // A missing asset is a 404, never the app as script; paths out of the bundle name nothing.
    anon.get("/assets/gone.1234.js").expect(404);
    anon.get("/favicon-missing.ico").expect(404);
    for escape in [
        "/../Cargo.toml",
        "/assets/..%2F..%2Findex.html",
        "/%2e%2e/etc/passwd",
    ] {
        let r = anon.get(escape);
        assert!(
            r.status == 404 || r.header("content-type") == Some("text/html; charset=utf-8"),
            "{escape}: {}",
            r.status
        );
        assert!(!String::from_utf8_lossy(&r.body).contains("[package]"));
    }

    // The API, the gateway, discovery and the other services keep their paths.
    anon.get("/api/v1/nothing-here")
        .expect_error(404, "NOT_FOUND");
    anon.get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    anon.get("/admin/anything").expect_error(404, "NOT_FOUND");
    anon.get("/media/nothing").expect(404);
    assert_eq!(
        anon.get("/.well-known/fluxer").expect(200).json()["api_code_version"],
        1
    );
    anon.post("/channels/@me", &json!({}))
        .expect_error(404, "NOT_FOUND");

    // The app finds the default avatars under its static CDN: ours, drawn here.
    let doc = anon.get("/.well-known/fluxer").json();
    let cdn = doc["endpoints"]["static_cdn"].as_str().unwrap();
    assert_eq!(cdn, format!("{}/static", server.base));
    for n in 0..6 {
        let avatar = anon.get(&format!("/static/avatars/{n}.png")).expect(200);
        assert_eq!(avatar.header("content-type"), Some("image/png"));
        let img = image::load_from_memory(&avatar.body).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
    }
    anon.get("/static/avatars/6.png").expect(404);
    // The rest of the static CDN (emoji sprites, fonts) is upstream's.
    let other = anon.get("/static/emoji/sprite.png").expect(302);
    assert_eq!(
        other.header("location"),
        Some("https://fluxerstatic.com/emoji/sprite.png")
    );
    std::fs::remove_dir_all(bundle).unwrap();
}

#[test]
fn without_an_app_the_root_is_the_instance_home_page() {
    let server = Server::start(&[]);
    let anon = server.client();
    let home = anon.get("/").expect(200);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let page = String::from_utf8(home.body).unwrap();
    assert!(page.contains(&format!("{}/api/v1", server.base)), "{page}");
    assert!(page.contains("web.app_dir"), "{page}");
    // The rest of the home page is tested in `home`.
    // Other paths stay the API's JSON 404.
    anon.get("/channels/@me").expect_error(404, "NOT_FOUND");
    anon.get("/static/avatars/2.png").expect(200);
}

#[test]
fn settings_notes_pinned_dms_and_profiles() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let (bob, bob_id) = register(&anon, "bob@example.com", "bob");
    let (carol, carol_id) = register(&anon, "carol@example.com", "carol");

    // A new account's settings: upstream's defaults, every key present.
    let s = alice.get("/api/v1/users/@me/settings").expect(200).json();
    assert_eq!(s.as_object().unwrap().len(), 28, "{s}");
    assert_eq!(s["theme"], "system");
    assert_eq!(s["status"], "online");
    assert_eq!(s["friend_source_flags"], 7);
    assert_eq!(s["guild_folders"], json!([]));
    assert_eq!(s["custom_status"], Value::Null);

    // Changes are kept (only what was sent), validated, and survive a restart.
    let changed = alice
        .patch(
            "/api/v1/users/@me/settings",
            &json!({ "theme": "dark", "message_display_compact": true,
                     "custom_status": { "text": "shipping", "emoji_name": "🚀" } }),
        )
        .expect(200)
        .json();
    assert_eq!(changed["theme"], "dark");
    assert_eq!(changed["message_display_compact"], true);
    assert_eq!(changed["custom_status"]["text"], "shipping");
    assert_eq!(changed["gif_auto_play"], true);
    let bad = alice
        .patch(
            "/api/v1/users/@me/settings",
            &json!({ "theme": "neon", "render_spoilers": 7, "guild_folders": [{ "id": -5, "guild_ids": [] }] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let paths = error_paths(&bad);
    for path in ["theme", "render_spoilers", "guild_folders.0.id"] {
        assert!(paths.iter().any(|p| p == path), "{path}: {bad}");
    }
    assert_eq!(
        alice.get("/api/v1/users/@me/settings").json()["theme"],
        "dark",
        "a refused change changes nothing"
    );

    // A guild joins the uncategorised folder; a folder of one's own is kept.
    let guild = create_guild(&alice, "Home");
    let folders = alice.get("/api/v1/users/@me/settings").json()["guild_folders"].clone();
    assert_eq!(folders[0]["id"], -1);
    assert_eq!(folders[0]["guild_ids"], json!([guild]));
    let s = alice
        .patch(
            "/api/v1/users/@me/settings",
            &json!({ "guild_folders": [{ "id": 12, "name": "Work", "color": 255, "guild_ids": [guild] }] }),
        )
        .expect(200)
        .json();
    assert_eq!(s["guild_folders"][0]["name"], "Work");
    assert_eq!(s["guild_folders"][0]["icon"], "folder");
    assert_eq!(s["guild_folders"].as_array().unwrap().len(), 1, "{s}");

    // Per-guild and DM notification settings.
    let gs = alice
        .patch(
            &format!("/api/v1/users/@me/guilds/{guild}/settings"),
            &json!({ "message_notifications": 1, "muted": true,
                     "channel_overrides": { "1": { "collapsed": true, "message_notifications": 2, "muted": false, "mute_config": null } } }),
        )
        .expect(200)
        .json();
    assert_eq!(gs["guild_id"], guild);
    assert_eq!(gs["message_notifications"], 1);
    assert_eq!(gs["channel_overrides"]["1"]["message_notifications"], 2);
    assert_eq!(gs["version"], 1);
    let dm_settings = alice
        .patch(
            "/api/v1/users/@me/guilds/@me/settings",
            &json!({ "suppress_everyone": true }),
        )
        .expect(200)
        .json();
    assert_eq!(dm_settings["guild_id"], Value::Null);
    assert_eq!(dm_settings["message_notifications"], 3);
    alice
        .patch(
            &format!("/api/v1/users/@me/guilds/{guild}/settings"),
            &json!({ "message_notifications": 9 }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Notes.
    alice
        .put(
            &format!("/api/v1/users/@me/notes/{bob_id}"),
            &json!({ "note": "owes me lunch" }),
        )
        .expect(204);
    assert_eq!(
        alice.get("/api/v1/users/@me/notes").expect(200).json(),
        json!({ bob_id.clone(): "owes me lunch" })
    );
    assert_eq!(
        alice
            .get(&format!("/api/v1/users/@me/notes/{bob_id}"))
            .json()["note"],
        "owes me lunch"
    );
    alice
        .put(
            &format!("/api/v1/users/@me/notes/{bob_id}"),
            &json!({ "note": null }),
        )
        .expect(204);
    alice
        .get(&format!("/api/v1/users/@me/notes/{bob_id}"))
        .expect_error(404, "UNKNOWN_USER");

    // Pinned DMs: only one's own DMs, in pin order.
    let dm = alice
        .post(
            "/api/v1/users/@me/channels",
            &json!({ "recipient_id": bob_id }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .put(&format!("/api/v1/users/@me/channels/{dm}/pin"), &json!({}))
        .expect(204);
    carol
        .put(&format!("/api/v1/users/@me/channels/{dm}/pin"), &json!({}))
        .expect_error(403, "MISSING_ACCESS");
    let general = general_channel(&alice, &guild);
    alice
        .put(
            &format!("/api/v1/users/@me/channels/{general}/pin"),
            &json!({}),
        )
        .expect_error(400, "CHANNEL_MUST_BE_DM_OR_GROUP_DM");

    // The latest message of each DM, for the DM list.
    post_message(&alice, &dm, "hi bob");
    let preload = alice
        .post(
            "/api/v1/users/@me/preload-messages",
            &json!({ "channels": [dm, general] }),
        )
        .expect(200)
        .json();
    assert_eq!(preload[&dm]["content"], "hi bob");
    assert!(preload.get(&general).is_none(), "{preload}");

    // Profiles: with a guild in common, mutual guilds; a stranger's is refused.
    invite_and_join(&alice, &general, &bob);
    bob.patch(
        &format!("/api/v1/guilds/{guild}/members/@me"),
        &json!({ "nick": "Bobby" }),
    )
    .expect(200);
    let profile = alice
        .get(&format!(
            "/api/v1/users/{bob_id}/profile?guild_id={guild}&with_mutual_friends=true&with_mutual_guilds=true"
        ))
        .expect(200)
        .json();
    assert_eq!(profile["user"]["id"], bob_id);
    assert!(profile["user_profile"].is_object());
    assert_eq!(
        profile["mutual_guilds"],
        json!([{ "id": guild, "nick": "Bobby" }])
    );
    assert_eq!(profile["mutual_friends"], json!([]));
    assert_eq!(profile["guild_member"]["nick"], "Bobby");
    alice
        .get(&format!("/api/v1/users/{carol_id}/profile"))
        .expect_error(403, "MISSING_ACCESS");
    let own = alice.get("/api/v1/users/@me/profile").expect(200).json();
    assert_eq!(own["user"]["id"], alice_id);
    assert!(own.get("mutual_guilds").is_none());

    // Whether a tag is taken.
    let me = alice.get("/api/v1/users/@me").json();
    let tag = me["discriminator"].as_str().unwrap();
    assert_eq!(
        bob.get(&format!(
            "/api/v1/users/check-tag?username=alice&discriminator={tag}"
        ))
        .expect(200)
        .json()["taken"],
        true
    );
    assert_eq!(
        alice
            .get(&format!(
                "/api/v1/users/check-tag?username=alice&discriminator={tag}"
            ))
            .json()["taken"],
        false,
        "one's own tag is not taken"
    );

    // Friend nicknames.
    alice
        .put(
            &format!("/api/v1/users/@me/relationships/{bob_id}"),
            &json!({}),
        )
        .expect(204);
    alice
        .patch(
            &format!("/api/v1/users/@me/relationships/{bob_id}"),
            &json!({ "nickname": "B" }),
        )
        .expect_error(404, "UNKNOWN_USER");
    bob.put(
        &format!("/api/v1/users/@me/relationships/{alice_id}"),
        &json!({}),
    )
    .expect(204);
    let rel = alice
        .patch(
            &format!("/api/v1/users/@me/relationships/{bob_id}"),
            &json!({ "nickname": "B" }),
        )
        .expect(200)
        .json();
    assert_eq!(rel["nickname"], "B");
    assert_eq!(rel["type"], 1);
}

#[test]
fn defects_third_party_clients_hit() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let (bob, bob_id) = register(&anon, "bob@example.com", "bob");
    let (carol, carol_id) = register(&anon, "carol@example.com", "carol");

    // `@discordjs/rest` encodes `@me` as `%40me`.
    assert_eq!(
        alice.get("/api/v1/users/%40me").expect(200).json()["id"],
        alice_id
    );
    let guild = create_guild(&alice, "G");
    let mine = alice.get("/api/v1/users/%40me/guilds").expect(200).json();
    assert_eq!(mine[0]["id"], guild);
    assert!(mine[0].get("approximate_member_count").is_none());

    // Counts on request.
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    let counted = alice
        .get("/api/v1/users/@me/guilds?with_counts=true")
        .expect(200)
        .json();
    assert_eq!(counted[0]["approximate_member_count"], 2);
    assert_eq!(counted[0]["approximate_presence_count"], 0);

    // Channel create answers 200, delete 204 with no body.
    let extra = alice
        .post(
            &format!("/api/v1/guilds/{guild}/channels"),
            &json!({ "name": "extra" }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let gone = alice
        .delete(&format!("/api/v1/channels/{extra}"))
        .expect(204);
    assert!(gone.body.is_empty());

    // Editing someone else's message is forbidden (403), as upstream.
    let m = post_message(&bob, &general, "bob's");
    alice
        .patch(
            &format!(
                "/api/v1/channels/{general}/messages/{}",
                m["id"].as_str().unwrap()
            ),
            &json!({ "content": "rewritten" }),
        )
        .expect_error(403, "CANNOT_EDIT_OTHER_USER_MESSAGE");

    // Pinning posts "pinned a message" pointing at it; acknowledging pins answers 204.
    let pinned = post_message(&alice, &general, "pin me");
    let pinned_id = pinned["id"].as_str().unwrap();
    alice
        .put(
            &format!("/api/v1/channels/{general}/pins/{pinned_id}"),
            &json!({}),
        )
        .expect(204);
    let latest = alice
        .get(&format!("/api/v1/channels/{general}/messages?limit=1"))
        .expect(200)
        .json();
    assert_eq!(latest[0]["type"], 6);
    assert_eq!(latest[0]["message_reference"]["message_id"], pinned_id);
    alice
        .post(&format!("/api/v1/channels/{general}/pins/ack"), &json!({}))
        .expect(204);

    // Forgetting a read state is not a message ID.
    alice
        .post(
            &format!("/api/v1/channels/{general}/messages/{pinned_id}/ack"),
            &json!({}),
        )
        .expect(200);
    alice
        .delete(&format!("/api/v1/channels/{general}/messages/ack"))
        .expect(204);
    let states = alice
        .get("/api/v1/users/@me/read-states")
        .expect(200)
        .json();
    assert!(
        !states
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == general || s["channel_id"] == general),
        "{states}"
    );

    // Removing one attachment keeps the message; removing the last of an empty one deletes it.
    let (content_type, body) = multipart(
        &json!({ "content": "two files" }),
        &[("a.png", &png(8, 8)), ("b.png", &png(4, 4))],
    );
    let with_files = alice
        .raw(
            "POST",
            &format!("/api/v1/channels/{general}/messages"),
            &[("Content-Type", &content_type)],
            &body,
        )
        .expect(200)
        .json();
    let mid = with_files["id"].as_str().unwrap();
    let first = with_files["attachments"][0]["id"].as_str().unwrap();
    bob.delete(&format!(
        "/api/v1/channels/{general}/messages/{mid}/attachments/{first}"
    ))
    .expect_error(403, "MISSING_PERMISSIONS");
    alice
        .delete(&format!(
            "/api/v1/channels/{general}/messages/{mid}/attachments/{first}"
        ))
        .expect(204);
    let after = alice
        .get(&format!("/api/v1/channels/{general}/messages/{mid}"))
        .expect(200)
        .json();
    assert_eq!(after["attachments"].as_array().unwrap().len(), 1);
    assert_eq!(after["content"], "two files");

    // The member directory moderators page through.
    let page = alice
        .post(
            &format!("/api/v1/guilds/{guild}/members-search"),
            &json!({ "limit": 1, "offset": 0, "sort_by": "joinedAt", "sort_order": "asc" }),
        )
        .expect(200)
        .json();
    assert_eq!(page["total_result_count"], 2);
    assert_eq!(page["page_result_count"], 1);
    assert_eq!(page["members"][0]["user_id"], alice_id);
    assert_eq!(page["members"][0]["id"], format!("{guild}:{alice_id}"));
    assert!(page["members"][0]["joined_at"].is_i64());
    assert_eq!(page["indexing"], false);
    let found = alice
        .post(
            &format!("/api/v1/guilds/{guild}/members-search"),
            &json!({ "query": "bo" }),
        )
        .expect(200)
        .json();
    assert_eq!(found["members"][0]["user_id"], bob_id);
    bob.post(
        &format!("/api/v1/guilds/{guild}/members-search"),
        &json!({}),
    )
    .expect_error(403, "MISSING_PERMISSIONS");

    // Group DM recipients: a member adds a friend; the owner removes them.
    for (a, b, b_id) in [(&alice, &carol, &carol_id), (&alice, &bob, &bob_id)] {
        let a_id = a.get("/api/v1/users/@me").json()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        a.put(
            &format!("/api/v1/users/@me/relationships/{b_id}"),
            &json!({}),
        )
        .expect(204);
        b.put(
            &format!("/api/v1/users/@me/relationships/{a_id}"),
            &json!({}),
        )
        .expect(204);
    }
    let group = alice
        .post(
            "/api/v1/users/@me/channels",
            &json!({ "recipients": [bob_id] }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .put(
            &format!("/api/v1/channels/{group}/recipients/{carol_id}"),
            &json!({}),
        )
        .expect(204);
    let recipients = carol
        .get(&format!("/api/v1/channels/{group}"))
        .expect(200)
        .json();
    assert_eq!(recipients["recipients"].as_array().unwrap().len(), 2);
    let history = carol
        .get(&format!("/api/v1/channels/{group}/messages"))
        .expect(200)
        .json();
    assert_eq!(history[0]["type"], 1);
    assert_eq!(history[0]["mentions"][0]["id"], carol_id);
    bob.delete(&format!("/api/v1/channels/{group}/recipients/{carol_id}"))
        .expect_error(403, "CANNOT_REMOVE_OTHER_RECIPIENTS");
    alice
        .delete(&format!("/api/v1/channels/{group}/recipients/{carol_id}"))
        .expect(204);
    carol
        .get(&format!("/api/v1/channels/{group}"))
        .expect_error(404, "UNKNOWN_CHANNEL");

    // Webhooks take files.
    let hook = alice
        .post(
            &format!("/api/v1/channels/{general}/webhooks"),
            &json!({ "name": "ci" }),
        )
        .expect(200)
        .json();
    let (content_type, body) = multipart(
        &json!({ "content": "build log" }),
        &[("log.png", &png(6, 6))],
    );
    let posted = anon
        .raw(
            "POST",
            &format!(
                "/api/v1/webhooks/{}/{}?wait=true",
                hook["id"].as_str().unwrap(),
                hook["token"].as_str().unwrap()
            ),
            &[("Content-Type", &content_type)],
            &body,
        )
        .expect(200)
        .json();
    assert_eq!(posted["content"], "build log");
    assert_eq!(posted["attachments"][0]["filename"], "log.png");
    assert_eq!(posted["webhook_id"], hook["id"]);
}

#[test]
fn mentions_inbox_and_saved_messages() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let (bob, _) = register(&anon, "bob@example.com", "bob");
    let guild = create_guild(&alice, "Inbox");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);

    // Bob mentions Alice twice (and himself, which lands nowhere), then says something else.
    let first = post_message(&bob, &general, &format!("hey <@{alice_id}>"));
    let second = post_message(&bob, &general, &format!("<@{alice_id}> again"));
    post_message(&bob, &general, "no mention");
    let inbox = alice.get("/api/v1/users/@me/mentions").expect(200).json();
    assert_eq!(
        ids(&inbox),
        vec![
            second["id"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        ]
    );
    assert_eq!(bob.get("/api/v1/users/@me/mentions").json(), json!([]));
    // Paging and filters.
    let older = alice
        .get(&format!(
            "/api/v1/users/@me/mentions?limit=1&before={}",
            second["id"].as_str().unwrap()
        ))
        .expect(200)
        .json();
    assert_eq!(ids(&older), vec![first["id"].as_str().unwrap()]);
    assert_eq!(
        alice.get("/api/v1/users/@me/mentions?guilds=false").json(),
        json!([]),
        "no DM mentions"
    );
    alice
        .get("/api/v1/users/@me/mentions?limit=500")
        .expect_error(400, "INVALID_FORM_BODY");
    // Dismissed from the inbox, the message stays.
    alice
        .delete(&format!(
            "/api/v1/users/@me/mentions/{}",
            first["id"].as_str().unwrap()
        ))
        .expect(204);
    assert_eq!(
        ids(&alice.get("/api/v1/users/@me/mentions").json()).len(),
        1
    );
    alice
        .get(&format!(
            "/api/v1/channels/{general}/messages/{}",
            first["id"].as_str().unwrap()
        ))
        .expect(200);

    // @everyone and role mentions reach the members they mention, filterable.
    let role = alice
        .post(
            &format!("/api/v1/guilds/{guild}/roles"),
            &json!({ "name": "Oncall", "mentionable": true }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_id = bob.get("/api/v1/users/@me").json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .put(
            &format!("/api/v1/guilds/{guild}/members/{bob_id}/roles/{role}"),
            &json!({}),
        )
        .expect(204);
    let everyone = post_message(&alice, &general, "@everyone standup in 5");
    let paged = post_message(&alice, &general, &format!("<@&{role}> the pager went off"));
    let inbox = bob.get("/api/v1/users/@me/mentions").expect(200).json();
    assert_eq!(
        ids(&inbox),
        vec![
            paged["id"].as_str().unwrap(),
            everyone["id"].as_str().unwrap()
        ]
    );
    assert_eq!(
        ids(&bob.get("/api/v1/users/@me/mentions?everyone=false").json()),
        vec![paged["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&bob.get("/api/v1/users/@me/mentions?roles=false").json()),
        vec![everyone["id"].as_str().unwrap()]
    );
    // The author's own @everyone is not in its inbox.
    assert!(
        !ids(&alice.get("/api/v1/users/@me/mentions").json())
            .contains(&everyone["id"].as_str().unwrap().to_owned())
    );

    // Saved messages: only readable ones, newest first, gone when the message is.
    let keep = post_message(&bob, &general, "worth keeping");
    for m in [&first, &keep] {
        alice
            .post(
                "/api/v1/users/@me/saved-messages",
                &json!({ "channel_id": general, "message_id": m["id"] }),
            )
            .expect(204);
    }
    let saved = alice
        .get("/api/v1/users/@me/saved-messages")
        .expect(200)
        .json();
    assert_eq!(saved[0]["message_id"], keep["id"]);
    assert_eq!(saved[0]["status"], "available");
    assert_eq!(saved[0]["message"]["content"], "worth keeping");
    assert_eq!(saved[1]["message_id"], first["id"]);
    alice
        .post(
            "/api/v1/users/@me/saved-messages",
            &json!({ "channel_id": general, "message_id": "1" }),
        )
        .expect_error(404, "UNKNOWN_MESSAGE");
    bob.delete(&format!(
        "/api/v1/channels/{general}/messages/{}",
        keep["id"].as_str().unwrap()
    ))
    .expect(204);
    let saved = alice.get("/api/v1/users/@me/saved-messages").json();
    assert_eq!(saved.as_array().unwrap().len(), 1, "{saved}");
    alice
        .delete(&format!(
            "/api/v1/users/@me/saved-messages/{}",
            first["id"].as_str().unwrap()
        ))
        .expect(204);
    assert_eq!(
        alice.get("/api/v1/users/@me/saved-messages").json(),
        json!([])
    );
}

#[test]
fn the_audit_log_records_moderation_and_configuration() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let (bob, bob_id) = register(&anon, "bob@example.com", "bob");
    let guild = create_guild(&alice, "Audited");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);

    // A few changes, one with a reason (percent-encoded, as clients send it).
    alice
        .raw(
            "PATCH",
            &format!("/api/v1/guilds/{guild}"),
            &[
                ("Content-Type", "application/json"),
                ("X-Audit-Log-Reason", "new%20name%20%E2%9C%A8"),
            ],
            br#"{"name":"Renamed"}"#,
        )
        .expect(200);
    let channel = alice
        .post(
            &format!("/api/v1/guilds/{guild}/channels"),
            &json!({ "name": "staff" }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = alice
        .post(
            &format!("/api/v1/guilds/{guild}/roles"),
            &json!({ "name": "Mods" }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .put(
            &format!("/api/v1/guilds/{guild}/members/{bob_id}/roles/{role}"),
            &json!({}),
        )
        .expect(204);
    alice
        .delete(&format!("/api/v1/guilds/{guild}/members/{bob_id}"))
        .expect(204);

    let log = alice
        .get(&format!("/api/v1/guilds/{guild}/audit-logs"))
        .expect(200)
        .json();
    let entries = log["audit_log_entries"].as_array().unwrap();
    let kinds: Vec<u64> = entries
        .iter()
        .map(|e| e["action_type"].as_u64().unwrap())
        .collect();
    // Newest first: kick, role given, role created, channel created, guild renamed (and the
    // invite created at the start).
    assert_eq!(&kinds[..5], &[20, 25, 30, 10, 1], "{log}");
    assert!(kinds.contains(&40), "{log}");
    let kick = &entries[0];
    assert_eq!(kick["user_id"], alice_id);
    assert_eq!(kick["target_id"], bob_id);
    assert_eq!(
        entries[1]["changes"][0],
        json!({ "key": "$add", "new_value": [role] })
    );
    assert_eq!(entries[3]["target_id"], channel);
    let renamed = &entries[4];
    assert_eq!(renamed["reason"], "new name ✨");
    assert_eq!(
        renamed["changes"],
        json!([{ "key": "name", "old_value": "Audited", "new_value": "Renamed" }])
    );
    let users: Vec<&str> = log["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert!(users.contains(&alice_id.as_str()) && users.contains(&bob_id.as_str()));

    // Filters and paging.
    let kicks = alice
        .get(&format!("/api/v1/guilds/{guild}/audit-logs?action_type=20"))
        .json();
    assert_eq!(kicks["audit_log_entries"].as_array().unwrap().len(), 1);
    let older = alice
        .get(&format!(
            "/api/v1/guilds/{guild}/audit-logs?limit=2&before={}",
            entries[1]["id"].as_str().unwrap()
        ))
        .json();
    let older: Vec<&Value> = older["audit_log_entries"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(older.len(), 2);
    assert_eq!(older[0]["id"], entries[2]["id"]);
    let by_bob = alice
        .get(&format!(
            "/api/v1/guilds/{guild}/audit-logs?user_id={bob_id}"
        ))
        .json();
    assert_eq!(by_bob["audit_log_entries"], json!([]));

    // Only with VIEW_AUDIT_LOG.
    invite_and_join(&alice, &general, &bob);
    bob.get(&format!("/api/v1/guilds/{guild}/audit-logs"))
        .expect_error(403, "MISSING_PERMISSIONS");
}

#[test]
fn github_slack_and_sentry_payloads_become_messages() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, _) = register(&anon, "alice@example.com", "alice");
    let guild = create_guild(&alice, "Integrations");
    let general = general_channel(&alice, &guild);
    let hook = alice
        .post(
            &format!("/api/v1/channels/{general}/webhooks"),
            &json!({ "name": "ci" }),
        )
        .expect(200)
        .json();
    let base = format!(
        "/api/v1/webhooks/{}/{}",
        hook["id"].as_str().unwrap(),
        hook["token"].as_str().unwrap()
    );
    let latest = || {
        alice
            .get(&format!("/api/v1/channels/{general}/messages?limit=1"))
            .expect(200)
            .json()[0]
            .clone()
    };

    // GitHub: a ping posts nothing; an opened issue becomes an embed.
    let send_github = |event: &str, body: &Value| {
        anon.raw(
            "POST",
            &format!("{base}/github"),
            &[
                ("Content-Type", "application/json"),
                ("X-GitHub-Event", event),
            ],
            body.to_string().as_bytes(),
        )
    };
    send_github("ping", &json!({ "zen": "Keep it logically awesome." })).expect(204);
    assert!(
        alice
            .get(&format!("/api/v1/channels/{general}/messages"))
            .json()
            .as_array()
            .unwrap()
            .is_empty()
    );
    send_github(
        "issues",
        &json!({
            "action": "opened",
            "issue": { "number": 42, "title": "Crash on start", "html_url": "https://github.com/o/r/issues/42", "body": "It crashes." },
            "repository": { "full_name": "o/r", "html_url": "https://github.com/o/r" },
            "sender": { "login": "octo", "avatar_url": "https://github.com/octo.png", "html_url": "https://github.com/octo" }
        }),
    )
    .expect(204);
    let m = latest();
    assert_eq!(m["author"]["username"], "GitHub");
    assert_eq!(
        m["embeds"][0]["title"],
        "[o/r] Issue opened: #42 Crash on start"
    );
    assert_eq!(m["embeds"][0]["url"], "https://github.com/o/r/issues/42");
    assert_eq!(m["embeds"][0]["description"], "It crashes.");
    assert_eq!(m["embeds"][0]["author"]["name"], "octo");

    // Slack: text with Slack links, attachments as embeds; answers "ok".
    let r = anon
        .raw(
            "POST",
            &format!("{base}/slack"),
            &[("Content-Type", "application/json")],
            json!({
                "text": "Deploy <https://ci.example/1|#1> done &amp; green",
                "username": "deploybot",
                "attachments": [{ "color": "good", "title": "prod", "text": "3 services",
                                   "fields": [{ "title": "region", "value": "eu", "short": true }] }]
            })
            .to_string()
            .as_bytes(),
        )
        .expect(200);
    assert_eq!(r.body, b"ok");
    let m = latest();
    assert_eq!(
        m["content"],
        "Deploy [#1](https://ci.example/1) done & green"
    );
    assert_eq!(m["author"]["username"], "deploybot");
    assert_eq!(m["embeds"][0]["color"], 0x2eb886);
    assert_eq!(m["embeds"][0]["fields"][0]["name"], "region");

    // Sentry: an issue alert.
    anon.raw(
        "POST",
        &format!("{base}/sentry"),
        &[
            ("Content-Type", "application/json"),
            ("Sentry-Hook-Resource", "issue"),
        ],
        json!({ "action": "created", "data": { "issue": {
            "title": "TypeError: x is undefined", "culprit": "app.js in render",
            "web_url": "https://sentry.example/issues/9/" } } })
        .to_string()
        .as_bytes(),
    )
    .expect(204);
    let m = latest();
    assert_eq!(
        m["embeds"][0]["title"],
        "Issue created: TypeError: x is undefined"
    );
    assert_eq!(m["embeds"][0]["description"], "app.js in render");

    // A wrong token is refused, whatever the payload.
    anon.raw(
        "POST",
        &format!(
            "/api/v1/webhooks/{}/wrong/github",
            hook["id"].as_str().unwrap()
        ),
        &[
            ("Content-Type", "application/json"),
            ("X-GitHub-Event", "ping"),
        ],
        b"{}",
    )
    .expect_error(404, "UNKNOWN_WEBHOOK");
}
