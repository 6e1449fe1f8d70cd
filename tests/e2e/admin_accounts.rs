//! The rest of staff's account care (`/admin/users/*`: clear-fields, set-traits, suspicious
//! activity flags, cancel-bulk-message-deletion, unlink-phone, resend-verification-email,
//! list-dm-channels), the user side of `/admin/bulk/*`, and snowflake reservations.

use serde_json::{Value, json};

use crate::admin::limited_staff;
use crate::harness::Server;
use crate::{error_paths, register, staff};

const PASSWORD: &str = "correct horse battery";

fn last_action(op: &crate::harness::Client, target: &str) -> Value {
    op.post("/api/v1/admin/audit-logs", &json!({ "target_id": target }))
        .expect(200)
        .json()["logs"][0]
        .clone()
}

#[test]
fn staff_clear_fields_set_traits_flags_and_cancel_purges() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, _) = staff(&server, "op@example.test", "operator");
    let (user, user_id) = register(&anon, "user@example.test", "plainuser");
    let (_friend, friend_id) = register(&anon, "friend@example.test", "friendly");
    user.patch(
        "/api/v1/users/@me",
        &json!({ "bio": "rude words", "global_name": "Rude Name", "pronouns": "they/them" }),
    )
    .expect(200);

    // Staff without the ACLs are refused, whatever the body; nothing changes.
    let lookup_only = limited_staff(
        &server,
        &op,
        "lookup@example.test",
        "lookuponly",
        &["admin:authenticate", "user:lookup"],
    );
    for path in [
        "clear-fields",
        "set-traits",
        "update-suspicious-activity-flags",
        "cancel-bulk-message-deletion",
        "unlink-phone",
        "resend-verification-email",
        "list-dm-channels",
    ] {
        lookup_only
            .post(
                &format!("/api/v1/admin/users/{path}"),
                &json!({ "user_id": user_id, "fields": ["bio"], "traits": [], "flags": 1 }),
            )
            .expect_error(403, "MISSING_ACL");
        lookup_only
            .post(&format!("/api/v1/admin/users/{path}"), &json!("nonsense"))
            .expect_error(403, "MISSING_ACL");
    }
    assert_eq!(
        user.get("/api/v1/users/@me").expect(200).json()["bio"],
        "rude words"
    );

    // clear-fields: bad field names are refused; the named fields go, the others stay.
    op.post(
        "/api/v1/admin/users/clear-fields",
        &json!({ "user_id": user_id, "fields": ["bio", "password"] }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let cleared = op
        .post(
            "/api/v1/admin/users/clear-fields",
            &json!({ "user_id": user_id, "fields": ["bio", "global_name"] }),
        )
        .expect(200)
        .json();
    assert_eq!(cleared["user"]["bio"], Value::Null);
    let me = user.get("/api/v1/users/@me").expect(200).json();
    assert_eq!(
        (me["bio"].clone(), me["global_name"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(me["pronouns"], "they/them");
    let entry = last_action(&op, &user_id);
    assert_eq!(entry["action"], "user.clear_fields");
    assert_eq!(entry["metadata"]["before.bio"], "rude words");

    // set-traits: trimmed, deduplicated, sorted; an empty or overlong one is refused.
    let e = op
        .post(
            "/api/v1/admin/users/set-traits",
            &json!({ "user_id": user_id, "traits": ["ok", "", "x".repeat(65)] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["traits.1", "traits.2"]);
    let traits = op
        .post(
            "/api/v1/admin/users/set-traits",
            &json!({ "user_id": user_id, "traits": ["vip", " beta ", "vip"] }),
        )
        .expect(200)
        .json();
    assert_eq!(traits["user"]["traits"], json!(["beta", "vip"]));

    // Suspicious-activity flags: kept and shown; unknown bits are refused.
    op.post(
        "/api/v1/admin/users/update-suspicious-activity-flags",
        &json!({ "user_id": user_id, "flags": 256 }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let flagged = op
        .post(
            "/api/v1/admin/users/update-suspicious-activity-flags",
            &json!({ "user_id": user_id, "flags": 3 }),
        )
        .expect(200)
        .json();
    assert_eq!(flagged["user"]["suspicious_activity_flags"], 3);
    let looked = op
        .post(
            "/api/v1/admin/users/lookup",
            &json!({ "user_ids": [user_id] }),
        )
        .expect(200)
        .json();
    assert_eq!(looked["users"][0]["suspicious_activity_flags"], 3);
    assert_eq!(looked["users"][0]["traits"], json!(["beta", "vip"]));

    // cancel-bulk-message-deletion: the user's pending deletion of all their messages goes.
    user.post(
        "/api/v1/users/@me/messages/delete",
        &json!({ "password": PASSWORD }),
    )
    .expect(204);
    assert!(
        user.get("/api/v1/users/@me").expect(200).json()["pending_bulk_message_deletion"]
            .is_object()
    );
    let cancelled = op
        .post(
            "/api/v1/admin/users/cancel-bulk-message-deletion",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    assert_eq!(
        cancelled["user"]["pending_bulk_message_deletion_at"],
        Value::Null
    );
    assert_eq!(
        user.get("/api/v1/users/@me").expect(200).json()["pending_bulk_message_deletion"],
        Value::Null
    );
    assert_eq!(
        last_action(&op, &user_id)["action"],
        "user.cancel_bulk_message_deletion"
    );

    // unlink-phone: no phone is ever stored here; answered with the account, and logged.
    let unlinked = op
        .post(
            "/api/v1/admin/users/unlink-phone",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    assert_eq!(unlinked["user"]["phone"], Value::Null);
    assert_eq!(last_action(&op, &user_id)["action"], "user.unlink_phone");

    // resend-verification-email: sent while unverified, refused once verified.
    op.post(
        "/api/v1/admin/users/resend-verification-email",
        &json!({ "user_id": user_id }),
    )
    .expect(204);
    assert_eq!(
        last_action(&op, &user_id)["action"],
        "user.resend_verification_email"
    );
    op.post(
        "/api/v1/admin/users/verify-email",
        &json!({ "user_id": user_id }),
    )
    .expect(200);
    op.post(
        "/api/v1/admin/users/resend-verification-email",
        &json!({ "user_id": user_id }),
    )
    .expect_error(400, "EMAIL_ALREADY_VERIFIED");
    op.post(
        "/api/v1/admin/users/resend-verification-email",
        &json!({ "user_id": "12" }),
    )
    .expect_error(404, "UNKNOWN_USER");

    // list-dm-channels: the user's DMs with their recipients; bad paging is refused.
    let dm = user
        .post(
            "/api/v1/users/@me/channels",
            &json!({ "recipient_id": friend_id }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let dms = op
        .post(
            "/api/v1/admin/users/list-dm-channels",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    assert_eq!(dms["channels"][0]["channel_id"], dm.as_str());
    assert_eq!(dms["channels"][0]["channel_type"], 1);
    let mut recipients: Vec<String> = dms["channels"][0]["recipient_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    recipients.sort();
    let mut expected = vec![user_id.clone(), friend_id.clone()];
    expected.sort();
    assert!(
        recipients == expected || recipients == [friend_id.clone()],
        "{recipients:?}"
    );
    let before_it = op
        .post(
            "/api/v1/admin/users/list-dm-channels",
            &json!({ "user_id": user_id, "before": dm }),
        )
        .expect(200)
        .json();
    assert_eq!(before_it["channels"], json!([]));
    op.post(
        "/api/v1/admin/users/list-dm-channels",
        &json!({ "user_id": user_id, "limit": 0 }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/users/list-dm-channels",
        &json!({ "user_id": user_id, "before": dm, "after": dm }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
}

#[test]
fn staff_change_many_accounts_at_once() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, _) = staff(&server, "op@example.test", "operator");
    let (a, a_id) = register(&anon, "a@example.test", "usera");
    let (_b, b_id) = register(&anon, "b@example.test", "userb");
    let limited = limited_staff(
        &server,
        &op,
        "flags@example.test",
        "flagsonly",
        &["admin:authenticate", "user:update:flags", "user:delete"],
    );

    // The bulk ACLs are their own: the single ones do not grant them.
    limited
        .post(
            "/api/v1/admin/bulk/update-user-flags",
            &json!({ "user_ids": [a_id], "add_flags": ["4"] }),
        )
        .expect_error(403, "MISSING_ACL");
    limited
        .post(
            "/api/v1/admin/bulk/schedule-user-deletion",
            &json!({ "user_ids": [a_id], "reason_code": 1 }),
        )
        .expect_error(403, "MISSING_ACL");

    // Bad bodies change nothing.
    op.post(
        "/api/v1/admin/bulk/update-user-flags",
        &json!({ "user_ids": "all", "add_flags": ["4"] }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/bulk/schedule-user-deletion",
        &json!({ "user_ids": [a_id], "reason_code": 1, "days_until_deletion": 0 }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    a.get("/api/v1/users/@me").expect(200);

    // Flags: each known account done, the unknown one reported.
    let outcome = op
        .post(
            "/api/v1/admin/bulk/update-user-flags",
            &json!({ "user_ids": [a_id, b_id, "12"], "add_flags": ["4", 8] }),
        )
        .expect(200)
        .json();
    assert_eq!(outcome["successful"], json!([a_id, b_id]));
    assert_eq!(outcome["failed"][0]["id"], "12");
    let looked = op
        .post(
            "/api/v1/admin/users/lookup",
            &json!({ "user_ids": [a_id, b_id] }),
        )
        .expect(200)
        .json();
    for u in looked["users"].as_array().unwrap() {
        let flags: u64 = u["flags"].as_str().unwrap().parse().unwrap();
        assert_eq!(flags & 12, 12, "{u}");
    }
    assert_eq!(last_action(&op, &a_id)["action"], "user.update_flags");

    // Disabling for suspicious activity keeps the flags, as upstream; unknown bits are refused.
    op.post(
        "/api/v1/admin/users/disable-suspicious",
        &json!({ "user_id": b_id, "flags": 256 }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let disabled = op
        .post(
            "/api/v1/admin/users/disable-suspicious",
            &json!({ "user_id": b_id, "flags": 5 }),
        )
        .expect(200)
        .json();
    assert_eq!(disabled["user"]["disabled"], true);
    assert_eq!(disabled["user"]["suspicious_activity_flags"], 5);

    // Deletion: scheduled and the account disabled at once (its session ends).
    let outcome = op
        .post(
            "/api/v1/admin/bulk/schedule-user-deletion",
            &json!({ "user_ids": [a_id], "reason_code": 2, "public_reason": "spam", "days_until_deletion": 30 }),
        )
        .expect(200)
        .json();
    assert_eq!(outcome["successful"], json!([a_id]));
    a.get("/api/v1/users/@me").expect_error(401, "UNAUTHORIZED");
    let looked = op
        .post("/api/v1/admin/users/lookup", &json!({ "user_ids": [a_id] }))
        .expect(200)
        .json();
    assert!(
        looked["users"][0]["pending_deletion_at"].is_string(),
        "{looked}"
    );
    assert_eq!(last_action(&op, &a_id)["action"], "user.schedule_deletion");
}

#[test]
fn a_reserved_snowflake_becomes_the_registering_users_id() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, _) = staff(&server, "op@example.test", "operator");
    let viewer = limited_staff(
        &server,
        &op,
        "viewer@example.test",
        "viewer",
        &["admin:authenticate", "instance:snowflake_reservation:view"],
    );
    let reserved = "140737488355328123";

    viewer
        .post("/api/v1/admin/snowflake-reservations/list", &json!({}))
        .expect(200);
    viewer
        .post(
            "/api/v1/admin/snowflake-reservations/add",
            &json!({ "email": "vip@example.test", "snowflake": reserved }),
        )
        .expect_error(403, "MISSING_ACL");
    op.post(
        "/api/v1/admin/snowflake-reservations/add",
        &json!({ "email": "not an email", "snowflake": reserved }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/snowflake-reservations/add",
        &json!({ "email": "vip@example.test", "snowflake": "abc" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");

    op.post(
        "/api/v1/admin/snowflake-reservations/add",
        &json!({ "email": "VIP@example.test", "snowflake": reserved }),
    )
    .expect(200);
    // Another address cannot hold the same ID.
    let e = op
        .post(
            "/api/v1/admin/snowflake-reservations/add",
            &json!({ "email": "other@example.test", "snowflake": reserved }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["snowflake"]);
    let listed = viewer
        .post("/api/v1/admin/snowflake-reservations/list", &json!({}))
        .expect(200)
        .json();
    assert_eq!(listed["reservations"].as_array().unwrap().len(), 1);
    assert_eq!(listed["reservations"][0]["email"], "vip@example.test");
    assert_eq!(listed["reservations"][0]["snowflake"], reserved);

    // Registering with the address gives that ID; an ID an account has cannot be reserved.
    let (_vip, vip_id) = register(&anon, "vip@example.test", "vipuser");
    assert_eq!(vip_id, reserved);
    let (_other, other_id) = register(&anon, "plain@example.test", "plainuser");
    assert_ne!(other_id, reserved);
    op.post(
        "/api/v1/admin/snowflake-reservations/add",
        &json!({ "email": "later@example.test", "snowflake": other_id }),
    )
    .expect_error(400, "INVALID_FORM_BODY");

    op.post(
        "/api/v1/admin/snowflake-reservations/delete",
        &json!({ "email": "vip@example.test" }),
    )
    .expect(200);
    let listed = op
        .post("/api/v1/admin/snowflake-reservations/list", &json!({}))
        .expect(200)
        .json();
    assert_eq!(listed["reservations"], json!([]));
    let logs = op
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_type": "snowflake_reservation" }),
        )
        .expect(200)
        .json();
    let actions: Vec<&str> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["snowflake_reservation.delete", "snowflake_reservation.add"]
    );
}

#[test]
fn the_change_log_traces_email_and_tag_changes() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (op, op_id) = staff(&server, "op@example.test", "operator");
    let (user, user_id) = register(&anon, "user@example.test", "plainuser");
    let before_tag = {
        let me = user.get("/api/v1/users/@me").expect(200).json();
        format!(
            "{}#{}",
            me["username"].as_str().unwrap(),
            me["discriminator"].as_str().unwrap()
        )
    };

    // The owner renames themselves; staff change the email.
    user.patch("/api/v1/users/@me", &json!({ "username": "renamed" }))
        .expect(200);
    op.post(
        "/api/v1/admin/users/change-email",
        &json!({ "user_id": user_id, "email": "new@example.test" }),
    )
    .expect(200);

    let no_lookup = limited_staff(
        &server,
        &op,
        "flags@example.test",
        "flagsonly",
        &["admin:authenticate", "user:update:flags"],
    );
    no_lookup
        .post(
            "/api/v1/admin/users/change-log",
            &json!({ "user_id": user_id }),
        )
        .expect_error(403, "MISSING_ACL");
    for bad in [
        json!({ "user_id": user_id, "limit": 0 }),
        json!({ "user_id": user_id, "page_token": "abc" }),
        json!({ "limit": 5 }),
    ] {
        op.post("/api/v1/admin/users/change-log", &bad)
            .expect_error(400, "INVALID_FORM_BODY");
    }

    let log = op
        .post(
            "/api/v1/admin/users/change-log",
            &json!({ "user_id": user_id }),
        )
        .expect(200)
        .json();
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{log}");
    assert_eq!(entries[0]["field"], "email");
    assert_eq!(entries[0]["old_value"], "user@example.test");
    assert_eq!(entries[0]["new_value"], "new@example.test");
    assert_eq!(entries[0]["reason"], "admin_action");
    assert_eq!(entries[0]["actor_user_id"], op_id.as_str());
    assert_eq!(entries[1]["field"], "fluxer_tag");
    assert_eq!(entries[1]["old_value"], before_tag.as_str());
    assert!(
        entries[1]["new_value"]
            .as_str()
            .unwrap()
            .starts_with("renamed#")
    );
    assert_eq!(entries[1]["reason"], "user_requested");
    assert_eq!(entries[1]["actor_user_id"], user_id.as_str());
    assert_eq!(log["next_page_token"], Value::Null);

    // Pages of one.
    let first = op
        .post(
            "/api/v1/admin/users/change-log",
            &json!({ "user_id": user_id, "limit": 1 }),
        )
        .expect(200)
        .json();
    assert_eq!(first["entries"][0]["field"], "email");
    let token = first["next_page_token"].as_str().unwrap();
    let second = op
        .post(
            "/api/v1/admin/users/change-log",
            &json!({ "user_id": user_id, "limit": 1, "page_token": token }),
        )
        .expect(200)
        .json();
    assert_eq!(second["entries"][0]["field"], "fluxer_tag");
    assert_eq!(second["next_page_token"], Value::Null);
}
