//! The admin API (`/admin/*`): who may use it (staff ACLs, admin API keys), instance-wide bans
//! enforced on every request and at sign-in, the instance config enforced at registration, staff
//! actions on accounts, and the admin audit log that records every one of them.

use serde_json::{Value, json};

use crate::harness::{Client, Response, Server};
use crate::{create_guild, general_channel, register, staff as operator};

const PASSWORD: &str = "correct horse battery";

fn login(anon: &Client, email: &str) -> (Client, String) {
    let r = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": PASSWORD }),
        )
        .expect(200)
        .json();
    (
        anon.with_token(r["token"].as_str().unwrap()),
        r["user_id"].as_str().unwrap().to_owned(),
    )
}

/// A request with a `X-Forwarded-For` (believed when the server trusts loopback as a proxy).
fn from_ip(c: &Client, method: &str, path: &str, ip: &str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap();
    c.raw(
        method,
        path,
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", ip),
        ],
        &bytes,
    )
}

/// The audit log entries matching `filter` (a `/admin/audit-logs` body), newest first.
fn audit(staff: &Client, filter: Value) -> Value {
    staff
        .post("/api/v1/admin/audit-logs", &filter)
        .expect(200)
        .json()
}

fn actions(logs: &Value) -> Vec<String> {
    logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Staff with only some ACLs: made by the operator through `/admin/users/set-acls`.
pub(crate) fn limited_staff(
    server: &Server,
    op: &Client,
    email: &str,
    name: &str,
    acls: &[&str],
) -> Client {
    let (c, id) = register(&server.client(), email, name);
    op.post(
        "/api/v1/admin/users/set-acls",
        &json!({ "user_id": id, "acls": acls }),
    )
    .expect(200);
    c
}

#[test]
fn admin_routes_refuse_outsiders_and_missing_acls() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, op_id) = operator(&server, "op@example.test", "operator");
    let (user, user_id) = register(&anon, "user@example.test", "plainuser");

    // No credentials, a bot-less ordinary account, a bad admin key.
    anon.post("/api/v1/admin/users/lookup", &json!({ "query": user_id }))
        .expect_error(401, "UNAUTHORIZED");
    user.post("/api/v1/admin/users/lookup", &json!({ "query": user_id }))
        .expect_error(403, "MISSING_PERMISSIONS");
    user.get("/api/v1/admin/users/me")
        .expect_error(403, "MISSING_PERMISSIONS");
    anon.with_token("Admin fa_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .post("/api/v1/admin/users/lookup", &json!({ "query": user_id }))
        .expect_error(401, "UNAUTHORIZED");

    // The operator holds `*`.
    let me = op.get("/api/v1/admin/users/me").expect(200).json();
    assert_eq!(me["user"]["id"], op_id.as_str());
    assert_eq!(me["user"]["acls"], json!(["*"]));

    // A moderator who may look users up, and nothing else.
    let moderator = limited_staff(
        &server,
        &op,
        "mod@example.test",
        "moderator",
        &["admin:authenticate", "user:lookup"],
    );
    let found = moderator
        .post(
            "/api/v1/admin/users/lookup",
            &json!({ "query": "user@example.test" }),
        )
        .expect(200)
        .json();
    assert_eq!(found["users"][0]["id"], user_id.as_str());
    let denied = moderator
        .post("/api/v1/admin/bans/ip/add", &json!({ "ip": "192.0.2.1" }))
        .expect_error(403, "MISSING_ACL");
    assert!(denied["message"].as_str().unwrap().contains("ban:ip:add"));
    moderator
        .post(
            "/api/v1/admin/users/temp-ban",
            &json!({ "user_id": user_id, "duration_hours": 1 }),
        )
        .expect_error(403, "MISSING_ACL");
    // It cannot grant itself more either.
    moderator
        .post(
            "/api/v1/admin/users/set-acls",
            &json!({ "user_id": user_id, "acls": ["*"] }),
        )
        .expect_error(403, "MISSING_ACL");
    // Nothing of that happened.
    let bans = op
        .post("/api/v1/admin/bans/ip/list", &json!({}))
        .expect(200)
        .json();
    assert_eq!(bans["bans"], json!([]));
    user.get("/api/v1/users/@me").expect(200);
    let logs = audit(&op, json!({ "target_type": "ip" }));
    assert_eq!(logs["total"], 0, "{logs}");

    // Without `admin:authenticate`, other ACLs do not open the admin API.
    op.post(
        "/api/v1/admin/users/set-acls",
        &json!({ "user_id": user_id, "acls": ["user:lookup"] }),
    )
    .expect(200);
    user.post("/api/v1/admin/users/lookup", &json!({ "query": user_id }))
        .expect_error(403, "MISSING_PERMISSIONS");
}

#[test]
fn admin_api_keys_are_created_used_and_revoked() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, op_id) = operator(&server, "op@example.test", "operator");
    let (_user, user_id) = register(&anon, "user@example.test", "plainuser");

    let created = op
        .post(
            "/api/v1/admin/api-keys",
            &json!({ "name": "lookup bot", "expires_in_days": 30, "acls": ["user:lookup"] }),
        )
        .expect(200)
        .json();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("fa_{key_id}_")), "{key}");
    assert_eq!(created["acls"], json!(["user:lookup"]));
    assert!(created["expires_at"].is_string());

    let bot = anon.with_token(&format!("Admin {key}"));
    let found = bot
        .post(
            "/api/v1/admin/users/lookup",
            &json!({ "user_ids": [user_id] }),
        )
        .expect(200)
        .json();
    assert_eq!(found["users"][0]["id"], user_id.as_str());
    // The key holds `user:lookup` alone, whatever its creator holds.
    bot.post("/api/v1/admin/bans/ip/add", &json!({ "ip": "192.0.2.1" }))
        .expect_error(403, "MISSING_ACL");
    bot.get("/api/v1/admin/api-keys")
        .expect_error(403, "MISSING_ACL");
    // A tampered key is refused.
    let mut tampered = key.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'a' { 'b' } else { 'a' });
    anon.with_token(&format!("Admin {tampered}"))
        .post(
            "/api/v1/admin/users/lookup",
            &json!({ "user_ids": [user_id] }),
        )
        .expect_error(401, "UNAUTHORIZED");

    let listed = op.get("/api/v1/admin/api-keys").expect(200).json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["key_id"], key_id.as_str());
    assert_eq!(listed[0]["created_by_user_id"], op_id.as_str());
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert!(listed[0].get("key").is_none());

    // A key cannot hold more than its creator: staff without `ban:ip:add` cannot mint one.
    let keymaker = limited_staff(
        &server,
        &op,
        "keys@example.test",
        "keymaker",
        &["admin:authenticate", "admin_api_key:manage"],
    );
    keymaker
        .post(
            "/api/v1/admin/api-keys",
            &json!({ "name": "too much", "acls": ["ban:ip:add"] }),
        )
        .expect_error(403, "MISSING_ACL");
    // Nor revoke someone else's key.
    keymaker
        .delete(&format!("/api/v1/admin/api-keys/{key_id}"))
        .expect_error(404, "ADMIN_API_KEY_NOT_FOUND");

    op.delete(&format!("/api/v1/admin/api-keys/{key_id}"))
        .expect(200);
    bot.post(
        "/api/v1/admin/users/lookup",
        &json!({ "user_ids": [user_id] }),
    )
    .expect_error(401, "UNAUTHORIZED");
    assert_eq!(
        op.get("/api/v1/admin/api-keys").expect(200).json(),
        json!([])
    );
    op.delete(&format!("/api/v1/admin/api-keys/{key_id}"))
        .expect_error(404, "ADMIN_API_KEY_NOT_FOUND");

    let logs = audit(
        &op,
        json!({ "target_type": "api_key", "target_id": key_id }),
    );
    assert_eq!(actions(&logs), ["api_key.revoke", "api_key.create"]);
    assert_eq!(logs["logs"][1]["admin_user_id"], op_id.as_str());
    assert_eq!(logs["logs"][1]["metadata"]["acls"], "user:lookup");
}

#[test]
fn instance_bans_are_enforced() {
    // Loopback is a trusted proxy here, so `X-Forwarded-For` names the client.
    let server = Server::start(&[(
        "FLUXER_CONFIG__PROXY__TRUSTED_PROXIES",
        r#"["127.0.0.1/32"]"#,
    )]);
    let anon = server.client();
    let (op, _) = operator(&server, "op@example.test", "operator");
    let (user, _) = register(&anon, "user@example.test", "plainuser");
    let (_, _) = register(&anon, "doomed@example.test", "doomed");

    // One address, then a range.
    op.post("/api/v1/admin/bans/ip/add", &json!({ "ip": "203.0.113.9" }))
        .expect(204);
    from_ip(&user, "GET", "/api/v1/users/@me", "203.0.113.9", &json!({}))
        .expect_error(403, "IP_BANNED");
    from_ip(
        &anon,
        "POST",
        "/api/v1/auth/login",
        "203.0.113.9",
        &json!({
            "email": "user@example.test", "password": PASSWORD
        }),
    )
    .expect_error(403, "IP_BANNED");
    from_ip(
        &user,
        "GET",
        "/api/v1/users/@me",
        "203.0.113.10",
        &json!({}),
    )
    .expect(200);
    // The gateway refuses the address before any upgrade; others reach it (and get the
    // gateway's own answer to a request that is not a WebSocket upgrade).
    from_ip(&anon, "GET", "/gateway?v=1", "203.0.113.9", &json!({})).expect_error(403, "IP_BANNED");
    let open = from_ip(&anon, "GET", "/gateway?v=1", "203.0.113.10", &json!({}));
    assert_ne!(open.status, 403);
    op.post(
        "/api/v1/admin/bans/ip/add",
        &json!({ "ip": "198.51.100.77/24" }),
    )
    .expect(204);
    from_ip(&anon, "POST", "/api/v1/auth/register", "198.51.100.200", &json!({
        "email": "new@example.test", "username": "newcomer", "password": PASSWORD, "consent": true
    }))
    .expect_error(403, "IP_BANNED");
    let check = op
        .post(
            "/api/v1/admin/bans/ip/check",
            &json!({ "ip": "198.51.100.5" }),
        )
        .expect(200)
        .json();
    assert_eq!(check["banned"], true);
    let list = op
        .post("/api/v1/admin/bans/ip/list", &json!({}))
        .expect(200)
        .json();
    let mut listed: Vec<&str> = list["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["ip"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ["198.51.100.0/24", "203.0.113.9"]);
    op.post(
        "/api/v1/admin/bans/ip/remove",
        &json!({ "ip": "203.0.113.9" }),
    )
    .expect(204);
    from_ip(&user, "GET", "/api/v1/users/@me", "203.0.113.9", &json!({})).expect(200);

    // Email bans: no registration, no login.
    op.post(
        "/api/v1/admin/bans/email/add",
        &json!({ "email": "Spammer@Example.test" }),
    )
    .expect(204);
    let refused = anon
        .post("/api/v1/auth/register", &json!({
            "email": "spammer@example.test", "username": "spammer", "password": PASSWORD, "consent": true
        }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(refused["errors"][0]["code"], "EMAIL_BANNED", "{refused}");
    op.post(
        "/api/v1/admin/bans/email/add",
        &json!({ "email": "doomed@example.test" }),
    )
    .expect(204);
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "doomed@example.test", "password": PASSWORD }),
    )
    .expect_error(403, "ACCOUNT_DISABLED");
    let check = op
        .post(
            "/api/v1/admin/bans/email/check",
            &json!({ "email": "SPAMMER@example.test" }),
        )
        .expect(200)
        .json();
    assert_eq!(check["banned"], true);

    // Phone bans are kept and checked (this server does not verify phones).
    op.post(
        "/api/v1/admin/bans/phone/add",
        &json!({ "phone": "+1 555 010 9999" }),
    )
    .expect(204);
    let phones = op
        .post("/api/v1/admin/bans/phone/list", &json!({ "limit": 10 }))
        .expect(200)
        .json();
    assert_eq!(phones["bans"], json!(["+15550109999"]));

    // Every one of those is in the audit log, with the reason given.
    op.raw(
        "POST",
        "/api/v1/admin/bans/email/remove",
        &[
            ("Content-Type", "application/json"),
            ("X-Audit-Log-Reason", "appeal%20granted"),
        ],
        br#"{"email":"doomed@example.test"}"#,
    )
    .expect(204);
    login(&anon, "doomed@example.test");
    let logs = audit(&op, json!({ "target_type": "email" }));
    assert_eq!(
        actions(&logs),
        ["ban.email.remove", "ban.email.add", "ban.email.add"]
    );
    assert_eq!(logs["logs"][0]["audit_log_reason"], "appeal granted");
    let found = op
        .post(
            "/api/v1/admin/audit-logs/search",
            &json!({ "query": "203.0.113", "sort_order": "asc" }),
        )
        .expect(200)
        .json();
    assert_eq!(actions(&found), ["ban.ip.add", "ban.ip.remove"]);
    assert_eq!(found["total"], 2);
}

#[test]
fn registration_mode_is_enforced_and_survives_a_restart() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, _) = operator(&server, "op@example.test", "operator");
    let config = op
        .post("/api/v1/admin/instance-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(config["registration_mode"], "open");
    assert_eq!(config["manual_review_enabled"], false);

    let updated = op
        .post(
            "/api/v1/admin/instance-config/update",
            &json!({ "registration_mode": "closed", "name": "Test Island", "terms_of_service": "Be kind." }),
        )
        .expect(200)
        .json();
    assert_eq!(updated["registration_mode"], "closed");
    assert_eq!(updated["name"], "Test Island");
    anon.post(
        "/api/v1/auth/register",
        &json!({
            "email": "late@example.test", "username": "late", "password": PASSWORD, "consent": true
        }),
    )
    .expect_error(403, "REGISTRATION_DISABLED");

    // Invite-only: an invite to any guild lets people in.
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "invite_only" }),
    )
    .expect(200);
    let refused = anon
        .post("/api/v1/auth/register", &json!({
            "email": "late@example.test", "username": "late", "password": PASSWORD, "consent": true
        }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(refused["errors"][0]["path"], "invite_code");
    anon.post(
        "/api/v1/auth/register",
        &json!({
            "email": "late@example.test", "username": "late", "password": PASSWORD, "consent": true,
            "invite_code": "nosuchcode"
        }),
    )
    .expect_error(404, "UNKNOWN_INVITE");
    let guild = create_guild(&op, "Welcome");
    let channel = general_channel(&op, &guild);
    let code = op
        .post(&format!("/api/v1/channels/{channel}/invites"), &json!({}))
        .expect(200)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    anon.post(
        "/api/v1/auth/register",
        &json!({
            "email": "late@example.test", "username": "late", "password": PASSWORD, "consent": true,
            "invite_code": code
        }),
    )
    .expect(200);

    // Manual review: the account is made, but waits for staff before anyone signs in to it.
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "open", "manual_review_enabled": true }),
    )
    .expect(200);
    anon.post("/api/v1/auth/register", &json!({
        "email": "queued@example.test", "username": "queued", "password": PASSWORD, "consent": true
    }))
    .expect_error(403, "ACCOUNT_PENDING_REVIEW");
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "queued@example.test", "password": PASSWORD }),
    )
    .expect_error(403, "ACCOUNT_PENDING_REVIEW");
    let queued = op
        .post(
            "/api/v1/admin/users/lookup",
            &json!({ "query": "queued@example.test" }),
        )
        .expect(200)
        .json();
    assert_eq!(queued["users"][0]["pending_review"], true);
    let queued_id = queued["users"][0]["id"].as_str().unwrap().to_owned();
    op.post(
        "/api/v1/admin/users/unban",
        &json!({ "user_id": queued_id }),
    )
    .expect(200);
    login(&anon, "queued@example.test");
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "invite_only", "manual_review_enabled": false }),
    )
    .expect(200);

    // Bad updates change nothing.
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "closed", "manual_review_schedule_start_hour_utc": 24 }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "sometimes" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "name": "x".repeat(101) }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let logs = audit(&op, json!({ "target_type": "instance_config" }));
    assert_eq!(logs["total"], 4, "{logs}");
    assert_eq!(logs["logs"][3]["metadata"]["after.name"], "Test Island");
    assert_eq!(
        logs["logs"][1]["metadata"]["after.manual_review_enabled"],
        "true"
    );

    // The stored config outlives the process.
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "closed" }),
    )
    .expect(200);
    let data = server.keep_data();
    let server = Server::start_in(data, &[]);
    let anon = server.client();
    anon.post("/api/v1/auth/register", &json!({
        "email": "later@example.test", "username": "later", "password": PASSWORD, "consent": true
    }))
    .expect_error(403, "REGISTRATION_DISABLED");
    let (op, _) = login(&anon, "op@example.test");
    let config = op
        .post("/api/v1/admin/instance-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(config["registration_mode"], "closed");
    assert_eq!(config["terms_of_service"], "Be kind.");
}

#[test]
fn staff_act_on_accounts() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, op_id) = operator(&server, "op@example.test", "operator");
    let (user, user_id) = register(&anon, "user@example.test", "plainuser");
    let guild = create_guild(&user, "Users Guild");

    // Lookup by tag, search by part of the email.
    let me = user.get("/api/v1/users/@me").expect(200).json();
    let tag = format!(
        "{}#{}",
        me["username"].as_str().unwrap(),
        me["discriminator"].as_str().unwrap()
    );
    let found = op
        .post("/api/v1/admin/users/lookup", &json!({ "query": tag }))
        .expect(200)
        .json();
    assert_eq!(found["users"][0]["email"], "user@example.test");
    let found = op
        .post(
            "/api/v1/admin/users/search",
            &json!({ "query": "USER@example", "limit": 10 }),
        )
        .expect(200)
        .json();
    assert_eq!(found["total"], 1, "{found}");
    assert_eq!(found["users"][0]["id"], user_id.as_str());

    // Profile fixes.
    let changed = op
        .post(
            "/api/v1/admin/users/change-username",
            &json!({ "user_id": user_id, "username": "renamed", "discriminator": 4242 }),
        )
        .expect(200)
        .json();
    assert_eq!(changed["user"]["username"], "renamed");
    assert_eq!(changed["user"]["discriminator"], 4242);
    let flagged = op
        .post(
            "/api/v1/admin/users/update-flags",
            &json!({ "user_id": user_id, "add_flags": ["4"] }),
        )
        .expect(200)
        .json();
    assert_eq!(flagged["user"]["flags"], "4");
    op.post(
        "/api/v1/admin/users/verify-email",
        &json!({ "user_id": user_id }),
    )
    .expect(200);
    assert_eq!(
        user.get("/api/v1/users/@me").expect(200).json()["verified"],
        true
    );
    op.post(
        "/api/v1/admin/users/change-dob",
        &json!({ "user_id": user_id, "date_of_birth": "1991-02-03" }),
    )
    .expect(200);
    op.post(
        "/api/v1/admin/users/set-bot-status",
        &json!({ "user_id": user_id, "bot": false }),
    )
    .expect(200);

    let guilds = op
        .post(
            "/api/v1/admin/users/list-guilds",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    assert_eq!(guilds["guilds"][0]["id"], guild.as_str());
    assert_eq!(guilds["guilds"][0]["member_count"], 1);
    let sessions = op
        .post(
            "/api/v1/admin/users/list-sessions",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);

    // A temp-ban ends the sessions and refuses logins until lifted.
    op.post(
        "/api/v1/admin/users/temp-ban",
        &json!({ "user_id": user_id, "duration_hours": 24, "reason": "spam" }),
    )
    .expect(200);
    user.get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "user@example.test", "password": PASSWORD }),
    )
    .expect_error(403, "ACCOUNT_SUSPENDED_TEMPORARILY");
    op.post("/api/v1/admin/users/unban", &json!({ "user_id": user_id }))
        .expect(200);
    let (user, _) = login(&anon, "user@example.test");

    // Sessions ended on demand, with their count.
    let ended = op
        .post(
            "/api/v1/admin/users/terminate-sessions",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    assert_eq!(ended["terminated_count"], 1);
    user.get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");

    // A scheduled deletion also keeps the account out; cancelling it lets it back in.
    op.post(
        "/api/v1/admin/users/schedule-deletion",
        &json!({ "user_id": user_id, "reason_code": 1, "days_until_deletion": 7 }),
    )
    .expect(200);
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "user@example.test", "password": PASSWORD }),
    )
    .expect_error(403, "ACCOUNT_DISABLED");
    op.post(
        "/api/v1/admin/users/cancel-deletion",
        &json!({ "user_id": user_id }),
    )
    .expect(200);
    login(&anon, "user@example.test");

    // Staff cannot ban themselves; unknown users are 404.
    op.post(
        "/api/v1/admin/users/temp-ban",
        &json!({ "user_id": op_id, "duration_hours": 1 }),
    )
    .expect_error(400, "CANNOT_BAN_SELF");
    op.post(
        "/api/v1/admin/users/verify-email",
        &json!({ "user_id": "12345" }),
    )
    .expect_error(404, "UNKNOWN_USER");

    let logs = audit(&op, json!({ "target_id": user_id, "limit": 100 }));
    let got = actions(&logs);
    for expected in [
        "user.change_username",
        "user.update_flags",
        "user.verify_email",
        "user.change_dob",
        "user.set_bot_status",
        "user.temp_ban",
        "user.unban",
        "user.terminate_sessions",
        "user.schedule_deletion",
        "user.cancel_deletion",
    ] {
        assert!(
            got.iter().any(|a| a == expected),
            "{expected} missing: {got:?}"
        );
    }
    let renamed = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.change_username")
        .unwrap();
    assert_eq!(renamed["metadata"]["after.tag"], "renamed#4242");
}

#[test]
fn malformed_and_oversize_admin_bodies_change_nothing() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, _) = operator(&server, "op@example.test", "operator");
    let (_user, user_id) = register(&anon, "user@example.test", "plainuser");

    let raw = |path: &str, body: &[u8]| {
        op.raw("POST", path, &[("Content-Type", "application/json")], body)
    };
    raw("/api/v1/admin/bans/ip/add", b"{\"ip\": ").expect_error(400, "INVALID_FORM_BODY");
    raw("/api/v1/admin/bans/ip/add", b"{\"ip\": 42}").expect_error(400, "INVALID_FORM_BODY");
    op.post("/api/v1/admin/bans/ip/add", &json!({ "ip": "300.1.2.3" }))
        .expect_error(400, "INVALID_FORM_BODY");
    op.post("/api/v1/admin/bans/ip/add", &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/bans/email/add",
        &json!({ "email": "not-an-email" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post("/api/v1/admin/bans/ip/list", &json!({ "limit": 501 }))
        .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/api-keys",
        &json!({ "name": "k".repeat(101), "acls": [] }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/api-keys",
        &json!({ "name": "k", "acls": ["NOT AN ACL"] }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let too_many: Vec<String> = (0..101).map(|i| format!("acl:{i}")).collect();
    op.post(
        "/api/v1/admin/api-keys",
        &json!({ "name": "k", "acls": too_many }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/users/temp-ban",
        &json!({ "user_id": user_id, "duration_hours": 9000 }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post("/api/v1/admin/audit-logs", &json!({ "limit": 201 }))
        .expect_error(400, "INVALID_FORM_BODY");
    // A body over the server's limit is refused before it is read.
    let huge = format!("{{\"ip\": \"{}\"}}", "1".repeat(2 << 20));
    let r = raw("/api/v1/admin/bans/ip/add", huge.as_bytes());
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));

    // Nothing changed: no bans, no keys, the user can sign in, and the log holds nothing.
    for kind in ["ip", "email"] {
        let list = op
            .post(&format!("/api/v1/admin/bans/{kind}/list"), &json!({}))
            .expect(200)
            .json();
        assert_eq!(list["bans"], json!([]), "{kind}");
    }
    assert_eq!(
        op.get("/api/v1/admin/api-keys").expect(200).json(),
        json!([])
    );
    login(&anon, "user@example.test");
    assert_eq!(audit(&op, json!({}))["total"], 0);
}

#[test]
fn the_config_file_sets_defaults_that_staff_override() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__INSTANCE__REGISTRATION_MODE", "closed"),
        ("FLUXER_CONFIG__INSTANCE__NAME", "Config Island"),
    ]);
    let anon = server.client();
    let (op, _) = operator(&server, "op@example.test", "operator");
    anon.post("/api/v1/auth/register", &json!({
        "email": "early@example.test", "username": "early", "password": PASSWORD, "consent": true
    }))
    .expect_error(403, "REGISTRATION_DISABLED");
    let config = op
        .post("/api/v1/admin/instance-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(config["registration_mode"], "closed");
    assert_eq!(config["name"], "Config Island");
    op.post(
        "/api/v1/admin/instance-config/update",
        &json!({ "registration_mode": "open" }),
    )
    .expect(200);
    register(&anon, "early@example.test", "early");
    let config = op
        .post("/api/v1/admin/instance-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(
        config["name"], "Config Island",
        "kept from the file until changed"
    );
}
