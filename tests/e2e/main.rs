//! End-to-end tests: the real `fluxer-server` binary, driven over HTTP on loopback.

mod admin;
mod admin_accounts;
mod admin_browser;
mod admin_content;
mod admin_limits;
mod admin_ops;
mod admin_pages;
mod admin_web;
mod background;
mod backup;
mod community;
mod connections;
mod discovery;
mod gateway;
mod gifs;
mod harness;
mod home;
pub(crate) mod media;
mod oauth2;
mod packs;
mod postgres;
mod push;
mod quickstart;
mod sign_in;
mod sso;
mod telemetry;
mod voice;
mod voice_moderation;
mod web;
mod webauthn;

use std::process::Stdio;

use harness::{Client, Server, fluxer_server};
use serde_json::{Value, json};

/// The password of the staff accounts the tests make with `create-admin`.
const STAFF_PASSWORD: &str = "correct horse battery";

/// Makes a staff account (every admin ACL) with `create-admin` on the running server's database;
/// its password is [`STAFF_PASSWORD`].
fn make_staff(server: &Server, email: &str, username: &str) {
    let made = fluxer_server(&server.data_dir)
        .args(["create-admin", "--email", email, "--username", username])
        .env("FLUXER_ADMIN_PASSWORD", STAFF_PASSWORD)
        .stdout(Stdio::null())
        .status()
        .expect("run create-admin");
    assert!(made.success(), "create-admin failed");
}

/// A staff account made with `create-admin`, logged in; with its ID.
fn staff(server: &Server, email: &str, username: &str) -> (Client, String) {
    make_staff(server, email, username);
    let login = server
        .client()
        .post(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": STAFF_PASSWORD }),
        )
        .expect(200)
        .json();
    (
        server.client().with_token(login["token"].as_str().unwrap()),
        login["user_id"].as_str().unwrap().to_owned(),
    )
}

/// Registers a user and returns a client holding its token, and its ID.
fn register(c: &Client, email: &str, username: &str) -> (Client, String) {
    let r = c
        .post("/api/v1/auth/register", &json!({
            "email": email, "username": username, "password": "correct horse battery", "date_of_birth": "1990-01-01", "consent": true
        }))
        .expect(200)
        .json();
    let token = r["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("flx_"), "{token}");
    (
        c.with_token(&token),
        r["user_id"].as_str().unwrap().to_owned(),
    )
}

fn general_channel(c: &Client, guild: &str) -> String {
    let channels = c
        .get(&format!("/api/v1/guilds/{guild}/channels"))
        .expect(200)
        .json();
    channels
        .as_array()
        .unwrap()
        .iter()
        .find(|ch| ch["type"] == 0)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn post_message(c: &Client, channel: &str, content: &str) -> Value {
    c.post(
        &format!("/api/v1/channels/{channel}/messages"),
        &json!({ "content": content }),
    )
    .expect(200)
    .json()
}

/// Creates a guild; returns its ID.
fn create_guild(c: &Client, name: &str) -> String {
    c.post("/api/v1/guilds", &json!({ "name": name }))
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `owner` invites into `channel` and `joiner` accepts; returns the invite code.
fn invite_and_join(owner: &Client, channel: &str, joiner: &Client) -> String {
    let code = owner
        .post(&format!("/api/v1/channels/{channel}/invites"), &json!({}))
        .expect(200)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    joiner
        .post(&format!("/api/v1/invites/{code}"), &json!({}))
        .expect(200);
    code
}

/// The field paths of an `INVALID_FORM_BODY` error.
fn error_paths(v: &Value) -> Vec<String> {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn two_users_chat_in_a_guild() {
    let server = Server::start(&[]);
    let anon = server.client();
    anon.get("/_health").expect(200);
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let (_, _) = register(&anon, "bob@example.com", "bob");
    // Login works and gives a new session.
    let login = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "BOB@example.com", "password": "correct horse battery" }),
        )
        .expect(200)
        .json();
    let bob = anon.with_token(login["token"].as_str().unwrap());
    let me = bob.get("/api/v1/users/@me").expect(200);
    assert_eq!(me.header("content-type"), Some("application/json"));
    let me = me.json();
    assert_eq!(me["username"], "bob");
    assert_eq!(me["email"], "bob@example.com");
    assert!(me.get("password_hash").is_none(), "no secret leaks: {me}");

    // Alice creates a guild; it has a general channel she can post in.
    let guild = alice
        .post("/api/v1/guilds", &json!({ "name": "Rustaceans" }))
        .expect(200)
        .json();
    let guild_id = guild["id"].as_str().unwrap().to_owned();
    assert_eq!(guild["owner_id"], alice_id.as_str());
    let general = general_channel(&alice, &guild_id);
    let extra = alice
        .post(
            &format!("/api/v1/guilds/{guild_id}/channels"),
            &json!({ "name": "Off Topic", "type": 0 }),
        )
        .expect(200)
        .json();
    assert_eq!(extra["name"], "off-topic");

    // Bob cannot see the guild before joining.
    bob.get(&format!("/api/v1/guilds/{guild_id}"))
        .expect_error(404, "UNKNOWN_GUILD");
    bob.get(&format!("/api/v1/channels/{general}/messages"))
        .expect_error(404, "UNKNOWN_CHANNEL");

    // Invite and join.
    let invite = alice
        .post(
            &format!("/api/v1/channels/{general}/invites"),
            &json!({ "max_age": 3600 }),
        )
        .expect(200)
        .json();
    let code = invite["code"].as_str().unwrap();
    let public = anon
        .get(&format!("/api/v1/invites/{code}"))
        .expect(200)
        .json();
    assert_eq!(public["guild"]["name"], "Rustaceans");
    assert_eq!(public["member_count"], 1);
    bob.post(&format!("/api/invites/{code}"), &json!({}))
        .expect(200);
    let members = alice
        .get(&format!("/api/v1/guilds/{guild_id}/members?limit=10"))
        .expect(200)
        .json();
    assert_eq!(members.as_array().unwrap().len(), 2);
    let my_guilds = bob.get("/v1/users/@me/guilds").expect(200).json();
    assert_eq!(my_guilds[0]["id"], guild_id.as_str());

    // Both post; history is newest first and paginates.
    let mut posted = Vec::new();
    for i in 0..24 {
        let who = if i % 2 == 0 { &alice } else { &bob };
        let m = post_message(who, &general, &format!("message {i}"));
        assert_eq!(m["content"], format!("message {i}"));
        assert_eq!(m["mentions"], json!([]));
        assert_eq!(m["attachments"], json!([]));
        assert_eq!(m["embeds"], json!([]));
        assert_eq!(m["reactions"], json!([]));
        posted.push(m["id"].as_str().unwrap().to_owned());
    }
    let latest = ids(&bob
        .get(&format!("/api/v1/channels/{general}/messages?limit=10"))
        .expect(200)
        .json());
    let expected: Vec<String> = posted.iter().rev().take(10).cloned().collect();
    assert_eq!(latest, expected);
    let before = ids(&bob
        .get(&format!(
            "/api/v1/channels/{general}/messages?limit=5&before={}",
            posted[10]
        ))
        .expect(200)
        .json());
    assert_eq!(
        before,
        posted[5..10].iter().rev().cloned().collect::<Vec<_>>()
    );
    let after = ids(&bob
        .get(&format!(
            "/api/v1/channels/{general}/messages?limit=5&after={}",
            posted[10]
        ))
        .expect(200)
        .json());
    assert_eq!(
        after,
        posted[11..16].iter().rev().cloned().collect::<Vec<_>>()
    );
    let around = ids(&bob
        .get(&format!(
            "/api/v1/channels/{general}/messages?limit=5&around={}",
            posted[10]
        ))
        .expect(200)
        .json());
    assert_eq!(around.len(), 5);
    assert!(around.contains(&posted[10]));
    assert!(
        around
            .windows(2)
            .all(|w| w[0].parse::<u64>().unwrap() > w[1].parse::<u64>().unwrap())
    );
    bob.get(&format!("/api/v1/channels/{general}/messages?limit=101"))
        .expect_error(400, "INVALID_FORM_BODY");
    bob.get(&format!("/api/v1/channels/{general}/messages?limit=0"))
        .expect_error(400, "INVALID_FORM_BODY");

    // Edit (author only), with the full message returned.
    let target = &posted[0];
    let edited = alice
        .patch(
            &format!("/api/v1/channels/{general}/messages/{target}"),
            &json!({ "content": "edited!" }),
        )
        .expect(200)
        .json();
    assert_eq!(edited["content"], "edited!");
    assert!(edited["edited_timestamp"].is_string());
    assert_eq!(edited["author"]["id"], alice_id.as_str());
    bob.patch(
        &format!("/api/v1/channels/{general}/messages/{target}"),
        &json!({ "content": "hijack" }),
    )
    .expect_error(403, "CANNOT_EDIT_OTHER_USER_MESSAGE");

    // Reactions: percent-encoded emoji, counts and `me`.
    let thumbs = "%F0%9F%91%8D";
    bob.raw(
        "PUT",
        &format!("/api/v1/channels/{general}/messages/{target}/reactions/{thumbs}/@me"),
        &[],
        b"",
    )
    .expect(204);
    alice
        .raw(
            "PUT",
            &format!("/api/v1/channels/{general}/messages/{target}/reactions/{thumbs}/@me"),
            &[],
            b"",
        )
        .expect(204);
    let m = bob
        .get(&format!("/api/v1/channels/{general}/messages/{target}"))
        .expect(200)
        .json();
    assert_eq!(m["reactions"][0]["count"], 2);
    assert_eq!(m["reactions"][0]["me"], true);
    assert_eq!(m["reactions"][0]["emoji"]["name"], "👍");
    let users = bob
        .get(&format!(
            "/api/v1/channels/{general}/messages/{target}/reactions/{thumbs}"
        ))
        .expect(200)
        .json();
    assert_eq!(users.as_array().unwrap().len(), 2);
    bob.delete(&format!(
        "/api/v1/channels/{general}/messages/{target}/reactions/{thumbs}/@me"
    ))
    .expect(204);
    let m = alice
        .get(&format!("/api/v1/channels/{general}/messages/{target}"))
        .expect(200)
        .json();
    assert_eq!(m["reactions"][0]["count"], 1);
    // An edit answers with the reactions the message already has.
    let edited = alice
        .patch(
            &format!("/api/v1/channels/{general}/messages/{target}"),
            &json!({ "content": "edited again" }),
        )
        .expect(200)
        .json();
    assert_eq!(edited["reactions"][0]["count"], 1);
    assert_eq!(edited["reactions"][0]["me"], true);

    // Pins.
    alice
        .raw(
            "PUT",
            &format!("/api/v1/channels/{general}/pins/{target}"),
            &[],
            b"",
        )
        .expect(204);
    let pins = bob
        .get(&format!("/api/v1/channels/{general}/messages/pins"))
        .expect(200)
        .json();
    assert_eq!(pins["items"][0]["message"]["id"], target.as_str());
    assert_eq!(pins["items"][0]["message"]["pinned"], true);
    alice
        .delete(&format!(
            "/api/v1/channels/{general}/messages/pins/{target}"
        ))
        .expect(204);
    assert_eq!(
        bob.get(&format!("/api/v1/channels/{general}/pins"))
            .expect(200)
            .json(),
        json!([])
    );

    // Delete: own message yes, someone else's no (without MANAGE_MESSAGES); the owner can.
    let bobs = &posted[1];
    let alices = &posted[2];
    bob.delete(&format!("/api/v1/channels/{general}/messages/{alices}"))
        .expect_error(403, "MISSING_PERMISSIONS");
    bob.delete(&format!("/api/v1/channels/{general}/messages/{bobs}"))
        .expect(204);
    alice
        .delete(&format!(
            "/api/v1/channels/{general}/messages/{}",
            posted[3]
        ))
        .expect(204);
    bob.get(&format!("/api/v1/channels/{general}/messages/{bobs}"))
        .expect_error(404, "UNKNOWN_MESSAGE");
    alice
        .post(
            &format!("/api/v1/channels/{general}/messages/bulk-delete"),
            &json!({ "messages": [posted[4], posted[5]] }),
        )
        .expect(204);
    let remaining = ids(&alice
        .get(&format!("/api/v1/channels/{general}/messages?limit=100"))
        .expect(200)
        .json());
    // 24 posted, 4 deleted, and the notice of the pin above.
    assert_eq!(remaining.len(), 24 - 4 + 1);
    for gone in [&posted[1], &posted[3], &posted[4], &posted[5]] {
        assert!(!remaining.contains(gone));
    }

    // Permissions: deny SEND_MESSAGES to @everyone, then grant it back through a role overwrite.
    alice
        .put(
            &format!("/api/v1/channels/{general}/permissions/{guild_id}"),
            &json!({ "type": 0, "allow": "0", "deny": "2048" }),
        )
        .expect(204);
    bob.post(
        &format!("/api/v1/channels/{general}/messages"),
        &json!({ "content": "can I?" }),
    )
    .expect_error(403, "MISSING_PERMISSIONS");
    // Bob can still read.
    bob.get(&format!("/api/v1/channels/{general}/messages?limit=1"))
        .expect(200);
    let role = alice
        .post(
            &format!("/api/v1/guilds/{guild_id}/roles"),
            &json!({ "name": "speakers" }),
        )
        .expect(200)
        .json();
    let role_id = role["id"].as_str().unwrap();
    let bob_id = bob.get("/api/v1/users/@me").expect(200).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .raw(
            "PUT",
            &format!("/api/v1/guilds/{guild_id}/members/{bob_id}/roles/{role_id}"),
            &[],
            b"",
        )
        .expect(204);
    alice
        .put(
            &format!("/api/v1/channels/{general}/permissions/{role_id}"),
            &json!({ "type": 0, "allow": "2048", "deny": "0" }),
        )
        .expect(204);
    post_message(&bob, &general, "yes I can");
    // A member overwrite beats the role.
    alice
        .put(
            &format!("/api/v1/channels/{general}/permissions/{bob_id}"),
            &json!({ "type": 1, "allow": "0", "deny": 2048 }),
        )
        .expect(204);
    bob.post(
        &format!("/api/v1/channels/{general}/messages"),
        &json!({ "content": "again?" }),
    )
    .expect_error(403, "MISSING_PERMISSIONS");
    // Bob cannot manage roles.
    bob.post(
        &format!("/api/v1/guilds/{guild_id}/roles"),
        &json!({ "name": "mine" }),
    )
    .expect_error(403, "MISSING_PERMISSIONS");

    // Replies mention the replied-to author.
    let reply = alice
        .post(
            &format!("/api/v1/channels/{general}/messages"),
            &json!({ "content": "replying", "message_reference": { "message_id": posted[6] } }),
        )
        .expect(200)
        .json();
    assert_eq!(reply["type"], 19);
    assert_eq!(reply["referenced_message"]["id"], posted[6].as_str());
    // In history, a reply shows the message it answers as that message shows on the same page:
    // its author and its reactions as the viewer sees them.
    alice
        .raw(
            "PUT",
            &format!(
                "/api/v1/channels/{general}/messages/{}/reactions/{thumbs}/@me",
                posted[6]
            ),
            &[],
            b"",
        )
        .expect(204);
    let page = alice
        .get(&format!("/api/v1/channels/{general}/messages?limit=100"))
        .expect(200)
        .json();
    let on_page = |id: &str| {
        page.as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not on the page"))
    };
    let (listed_reply, answered) = (
        on_page(reply["id"].as_str().unwrap()),
        on_page(posted[6].as_str()),
    );
    assert_eq!(answered["reactions"][0]["count"], 1);
    assert_eq!(answered["reactions"][0]["me"], true);
    let shown = &listed_reply["referenced_message"];
    assert_eq!(shown["id"], posted[6].as_str());
    assert_eq!(shown["author"], answered["author"]);
    assert_eq!(shown["reactions"], answered["reactions"]);
    assert_eq!(shown["content"], answered["content"]);

    // Kick: bob leaves the guild's view.
    alice
        .delete(&format!("/api/v1/guilds/{guild_id}/members/{bob_id}"))
        .expect(204);
    bob.get(&format!("/api/v1/channels/{general}/messages"))
        .expect_error(404, "UNKNOWN_CHANNEL");
}

#[test]
fn bad_input_gets_clear_errors() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, _) = register(&anon, "carol@example.com", "carol");
    let guild = alice
        .post("/api/v1/guilds", &json!({ "name": "Errors" }))
        .expect(200)
        .json();
    let channel = general_channel(&alice, guild["id"].as_str().unwrap());
    let path = format!("/api/v1/channels/{channel}/messages");

    // Malformed JSON.
    let v = alice
        .raw(
            "POST",
            &path,
            &[("Content-Type", "application/json")],
            b"{\"content\": ",
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(v["errors"][0]["code"], "INVALID_JSON");
    // Wrong types name the field.
    alice
        .post(&path, &json!({ "content": 5 }))
        .expect_error(400, "INVALID_FORM_BODY");
    // Too long content names the field.
    let v = alice
        .post(&path, &json!({ "content": "x".repeat(4001) }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(v["errors"][0]["path"], "content");
    // Empty message.
    alice
        .post(&path, &json!({ "content": "  " }))
        .expect_error(400, "CANNOT_SEND_EMPTY_MESSAGE");
    // Oversized body.
    let big = vec![b'x'; 2 * 1024 * 1024];
    alice
        .raw("POST", &path, &[("Content-Type", "application/json")], &big)
        .expect_error(413, "PAYLOAD_TOO_LARGE");
    // Unknown IDs.
    alice
        .get("/api/v1/channels/123456789012345678/messages")
        .expect_error(404, "UNKNOWN_CHANNEL");
    alice
        .get("/api/v1/guilds/123456789012345678")
        .expect_error(404, "UNKNOWN_GUILD");
    alice
        .get(&format!(
            "/api/v1/channels/{channel}/messages/123456789012345678"
        ))
        .expect_error(404, "UNKNOWN_MESSAGE");
    alice
        .get("/api/v1/invites/doesnotexist")
        .expect_error(404, "UNKNOWN_INVITE");
    alice
        .get("/api/v1/channels/not-a-number")
        .expect_error(400, "INVALID_FORM_BODY");
    // Unknown route and wrong method.
    alice
        .get("/api/v1/nothing/here")
        .expect_error(404, "NOT_FOUND");
    alice
        .raw("PUT", "/api/v1/users/@me", &[], b"")
        .expect_error(405, "METHOD_NOT_ALLOWED");
    // Wrong or missing token.
    anon.get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    anon.with_token("flx_000000000000000000000000000000000000")
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    anon.with_token("Bot 123.abc")
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    // Wrong password; duplicate email; invalid registration.
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "carol@example.com", "password": "nope nope nope" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    anon.post(
        "/api/v1/auth/register",
        &json!({ "email": "carol@example.com", "password": "another password" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let v = anon
        .post(
            "/api/v1/auth/register",
            &json!({ "email": "not-an-email", "password": "short" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let paths = error_paths(&v);
    assert!(
        paths.iter().any(|p| p == "email") && paths.iter().any(|p| p == "password"),
        "{v}"
    );
    // Nothing was lost: the channel still works.
    post_message(&alice, &channel, "still fine");
}

#[test]
fn rate_limits_have_headers_and_429() {
    let server = Server::start(&[]);
    let mut anon = server.client();
    let (alice, _) = register(&anon, "dave@example.com", "dave");
    let guild = alice
        .post("/api/v1/guilds", &json!({ "name": "Busy" }))
        .expect(200)
        .json();
    let channel = general_channel(&alice, guild["id"].as_str().unwrap());
    let mut strict = alice.clone();
    strict.retry_on_429 = false;
    let path = format!("/api/v1/channels/{channel}/messages");
    let first = strict.post(&path, &json!({ "content": "0" })).expect(200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("20"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("19"));
    assert!(first.header("x-ratelimit-reset").is_some());
    assert!(first.header("x-ratelimit-reset-after").is_some());
    assert!(first.header("x-ratelimit-bucket").is_some());
    let mut limited = None;
    for i in 1..25 {
        let r = strict.post(&path, &json!({ "content": i.to_string() }));
        if r.status == 429 {
            limited = Some((i, r));
            break;
        }
        r.expect(200);
    }
    let (at, r) = limited.expect("the bucket ran out");
    assert_eq!(at, 20, "exactly 20 messages per window");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    let v = r.expect_error(429, "RATE_LIMITED");
    assert!(v["retry_after"].as_f64().unwrap() > 0.0);
    assert_eq!(v["global"], false);
    // Other buckets are unaffected.
    strict.get(&path).expect(200);
    anon.retry_on_429 = false;
}

#[test]
fn bots_and_webhooks() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (owner, _) = register(&anon, "erin@example.com", "erin");
    let guild = owner
        .post("/api/v1/guilds", &json!({ "name": "Automation" }))
        .expect(200)
        .json();
    let guild_id = guild["id"].as_str().unwrap().to_owned();
    let channel = general_channel(&owner, &guild_id);

    // An application with a bot; the token is shown once and works with `Bot `.
    let app = owner
        .post("/api/v1/oauth2/applications", &json!({ "name": "Pinger" }))
        .expect(200)
        .json();
    let app_id = app["id"].as_str().unwrap().to_owned();
    let token = app["bot"]["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&format!("{app_id}.")));
    let bot = anon.with_token(&format!("Bot {token}"));
    let me = bot.get("/api/v1/users/@me").expect(200).json();
    assert_eq!(me["bot"], true);
    assert_eq!(me["id"], app_id.as_str());
    let gw = bot.get("/api/v1/gateway/bot").expect(200).json();
    assert!(gw["url"].as_str().unwrap().starts_with("ws://"));
    assert!(!gw["url"].as_str().unwrap().contains('?'));
    assert_eq!(gw["shards"], 1);
    // Not yet in the guild.
    bot.post(
        &format!("/api/v1/channels/{channel}/messages"),
        &json!({ "content": "hi" }),
    )
    .expect_error(404, "UNKNOWN_CHANNEL");
    // Authorize into the guild with permissions; the bot posts.
    owner
        .post(
            &format!("/api/v1/oauth2/authorize?client_id={app_id}&scope=bot"),
            &json!({ "guild_id": guild_id, "permissions": "3072", "authorize": true }),
        )
        .expect(200);
    let m = bot
        .post(
            &format!("/api/v1/channels/{channel}/messages"),
            &json!({ "content": "beep" }),
        )
        .expect(200)
        .json();
    assert_eq!(m["author"]["bot"], true);
    // A reset token invalidates the old one.
    let reset = owner
        .post(
            &format!("/api/v1/oauth2/applications/{app_id}/bot/reset-token"),
            &json!({ "password": "correct horse battery" }),
        )
        .expect(200)
        .json();
    bot.get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    anon.with_token(&format!("Bot {}", reset["token"].as_str().unwrap()))
        .get("/api/v1/users/@me")
        .expect(200);

    // Webhooks: create, execute with and without wait, the message is in history.
    let hook = owner
        .post(
            &format!("/api/v1/channels/{channel}/webhooks"),
            &json!({ "name": "CI" }),
        )
        .expect(200)
        .json();
    let (hook_id, hook_token) = (
        hook["id"].as_str().unwrap(),
        hook["token"].as_str().unwrap(),
    );
    anon.post(
        &format!("/api/v1/webhooks/{hook_id}/{hook_token}"),
        &json!({ "content": "build passed" }),
    )
    .expect(204);
    let waited = anon
        .post(
            &format!("/api/v1/webhooks/{hook_id}/{hook_token}?wait=true"),
            &json!({ "content": "deploy done", "username": "Deployer" }),
        )
        .expect(200)
        .json();
    assert_eq!(waited["author"]["username"], "Deployer");
    assert_eq!(waited["webhook_id"], hook_id);
    let history = owner
        .get(&format!("/api/v1/channels/{channel}/messages"))
        .expect(200)
        .json();
    let contents: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert!(
        contents.contains(&"build passed") && contents.contains(&"deploy done"),
        "{contents:?}"
    );
    // A wrong token is refused; the webhook can be listed and deleted.
    anon.post(
        &format!("/api/v1/webhooks/{hook_id}/wrong"),
        &json!({ "content": "x" }),
    )
    .expect_error(404, "UNKNOWN_WEBHOOK");
    assert_eq!(
        owner
            .get(&format!("/api/v1/guilds/{guild_id}/webhooks"))
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    owner
        .delete(&format!("/api/v1/webhooks/{hook_id}"))
        .expect(204);
    anon.post(
        &format!("/api/v1/webhooks/{hook_id}/{hook_token}"),
        &json!({ "content": "x" }),
    )
    .expect_error(404, "UNKNOWN_WEBHOOK");
}

#[test]
fn totp_login_sessions_and_restart_persistence() {
    let mut server = Server::start(&[]);
    let anon = server.client();
    // Before registering, the app asks what username a display name suggests.
    let suggested = anon
        .post(
            "/api/v1/auth/username-suggestions",
            &json!({ "global_name": "Frank Ölberg" }),
        )
        .expect(200)
        .json();
    assert_eq!(suggested, json!({ "suggestions": ["Frank_Olberg"] }));
    anon.post(
        "/api/v1/auth/username-suggestions",
        &json!({ "global_name": "" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let (frank, _) = register(&anon, "frank@example.com", "frank");
    let setup = frank
        .post("/api/v1/users/@me/mfa/totp/setup", &json!({}))
        .expect(200)
        .json();
    let secret = setup["secret"].as_str().unwrap().to_owned();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let code = fluxer::core::service::totp_code(&secret, now()).unwrap();
    frank
        .post(
            "/api/v1/users/@me/mfa/totp/enable",
            &json!({ "secret": secret, "code": "000000", "password": "correct horse battery" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let enabled = frank
        .post(
            "/api/v1/users/@me/mfa/totp/enable",
            &json!({ "secret": secret, "code": code, "password": "correct horse battery" }),
        )
        .expect(200)
        .json();
    assert_eq!(enabled["user"]["mfa_enabled"], true);
    let step = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "frank@example.com", "password": "correct horse battery" }),
        )
        .expect(200)
        .json();
    assert_eq!(step["mfa"], true);
    let ticket = step["ticket"].as_str().unwrap();
    anon.post(
        "/api/v1/auth/login/mfa/totp",
        &json!({ "ticket": ticket, "code": "123456" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    // The ticket survived the wrong code? No: tickets are single-use, so log in again.
    let step = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "frank@example.com", "password": "correct horse battery" }),
        )
        .expect(200)
        .json();
    let code = fluxer::core::service::totp_code(&secret, now()).unwrap();
    let done = anon
        .post(
            "/api/v1/auth/login/mfa/totp",
            &json!({ "ticket": step["ticket"], "code": code }),
        )
        .expect(200)
        .json();
    let second = anon.with_token(done["token"].as_str().unwrap());
    let sessions = second.get("/api/v1/auth/sessions").expect(200).json();
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    assert_eq!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["current"] == true)
            .count(),
        1
    );
    // Backup codes: ten with the enabling, each good for one login.
    let codes: Vec<String> = enabled["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let login_with = |code: &str| {
        let step = anon
            .post(
                "/api/v1/auth/login",
                &json!({ "email": "frank@example.com", "password": "correct horse battery" }),
            )
            .expect(200)
            .json();
        anon.post(
            "/api/v1/auth/login/mfa/totp",
            &json!({ "ticket": step["ticket"], "code": code }),
        )
    };
    login_with(&codes[0]).expect(200);
    login_with(&codes[0]).expect_error(400, "INVALID_FORM_BODY");
    // Listing them is sudo mode: with two-factor on, a code is asked for.
    let e = frank
        .post("/api/v1/users/@me/mfa/backup-codes", &json!({}))
        .expect_error(403, "SUDO_MODE_REQUIRED");
    assert_eq!(e["has_mfa"], true);
    let listed = frank
        .post(
            "/api/v1/users/@me/mfa/backup-codes",
            &json!({ "mfa_code": codes[1] }),
        )
        .expect(200)
        .json();
    let consumed: Vec<bool> = listed["backup_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["consumed"].as_bool().unwrap())
        .collect();
    assert_eq!(consumed.iter().filter(|c| **c).count(), 2, "{listed}");
    let code = fluxer::core::service::totp_code(&secret, now()).unwrap();
    let fresh = frank
        .post(
            "/api/v1/users/@me/mfa/backup-codes",
            &json!({ "mfa_code": code, "regenerate": true }),
        )
        .expect(200)
        .json();
    assert!(fresh["backup_codes"].as_array().unwrap().iter().all(
        |c| c["consumed"] == false && !codes.contains(&c["code"].as_str().unwrap().to_owned())
    ));
    login_with(&codes[5]).expect_error(400, "INVALID_FORM_BODY");

    // Logging out ends only that session.
    second.post("/api/v1/auth/logout", &json!({})).expect(204);
    second
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    frank.get("/api/v1/users/@me").expect(200);

    // Data survives a graceful restart.
    let guild = frank
        .post("/api/v1/guilds", &json!({ "name": "Durable" }))
        .expect(200)
        .json();
    let channel = general_channel(&frank, guild["id"].as_str().unwrap());
    let msg = post_message(&frank, &channel, "remember me");
    let status = server.terminate();
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let server2 = Server::start_in(server.keep_data(), &[]);
    let frank2 = server2.client().with_token(frank.token.as_deref().unwrap());
    let history = frank2
        .get(&format!("/api/v1/channels/{channel}/messages"))
        .expect(200)
        .json();
    assert_eq!(history[0]["id"], msg["id"]);
    assert_eq!(history[0]["content"], "remember me");
}

#[test]
fn slowmode_limits_members_but_not_moderators() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (owner, _) = register(&anon, "gina@example.com", "gina");
    let (member, _) = register(&anon, "hank@example.com", "hank");
    let guild = owner
        .post("/api/v1/guilds", &json!({ "name": "Calm" }))
        .expect(200)
        .json();
    let channel = general_channel(&owner, guild["id"].as_str().unwrap());
    let updated = owner
        .patch(
            &format!("/api/v1/channels/{channel}"),
            &json!({ "rate_limit_per_user": 30 }),
        )
        .expect(200)
        .json();
    assert_eq!(updated["rate_limit_per_user"], 30);
    owner
        .patch(
            &format!("/api/v1/channels/{channel}"),
            &json!({ "rate_limit_per_user": 21601 }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let invite = owner
        .post(&format!("/api/v1/channels/{channel}/invites"), &json!({}))
        .expect(200)
        .json();
    member
        .post(
            &format!("/api/v1/invites/{}", invite["code"].as_str().unwrap()),
            &json!({}),
        )
        .expect(200);
    post_message(&member, &channel, "first");
    let mut strict = member.clone();
    strict.retry_on_429 = false;
    let v = strict
        .post(
            &format!("/api/v1/channels/{channel}/messages"),
            &json!({ "content": "second" }),
        )
        .expect_error(400, "SLOWMODE_RATE_LIMITED");
    let retry = v["retry_after"].as_f64().unwrap();
    assert!(retry > 25.0 && retry <= 30.0, "retry_after {retry}");
    // Moderators (here the owner) are not slowed down.
    post_message(&owner, &channel, "one");
    post_message(&owner, &channel, "two");
    // The refused message was not stored.
    let history = owner
        .get(&format!("/api/v1/channels/{channel}/messages"))
        .expect(200)
        .json();
    let contents: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, vec!["two", "one", "first"]);
}

/// Issue #16: Fluxer's clients start from `/.well-known/fluxer` (at the root and under `/api`) and
/// use what it names: the API base they append `/v1` to, the gateway, the media proxy. The
/// feature flags say what this instance has, and nothing it has not.
#[test]
fn instance_discovery_tells_clients_where_everything_is() {
    let server = Server::start(&[]);
    let anon = server.client();
    for path in ["/.well-known/fluxer", "/api/.well-known/fluxer"] {
        let response = anon.get(path).expect(200);
        assert_eq!(response.header("access-control-allow-origin"), Some("*"));
        let doc = response.json();
        assert_eq!(doc["api_code_version"], 1, "{doc}");
        let endpoints = &doc["endpoints"];
        assert_eq!(endpoints["api"], format!("{}/api", server.base));
        assert_eq!(endpoints["api_client"], endpoints["api"]);
        assert_eq!(endpoints["media"], format!("{}/media", server.base));
        assert_eq!(endpoints["webapp"], server.base);
        assert_eq!(
            endpoints["gateway"],
            format!("ws://{}/gateway", server.addr)
        );
        // What a client does with it: the REST base works, and names the same gateway.
        let api = endpoints["api"]
            .as_str()
            .unwrap()
            .trim_start_matches(&server.base);
        let gateway = anon.get(&format!("{api}/v1/gateway")).expect(200).json();
        assert_eq!(gateway["url"], endpoints["gateway"]);
        // Nothing claimed that is not built.
        let features = &doc["features"];
        assert_eq!(features["self_hosted"], true);
        for off in [
            "voice_enabled",
            "sms_mfa_enabled",
            "stripe_enabled",
            "manual_review_enabled",
        ] {
            assert_eq!(features[off], false, "{off}");
        }
        assert_eq!(doc["sso"]["enabled"], false);
        assert_eq!(doc["captcha"]["provider"], "none");
        // Web Push is on by default: the key clients subscribe with (see `push`).
        assert!(doc["push"]["public_vapid_key"].is_string(), "{doc}");
        assert_eq!(doc["limits"]["version"], 1);
        assert_eq!(doc["limits"]["rules"], json!([]));
    }
}
