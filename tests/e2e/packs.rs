//! Users' emoji and sticker packs: made and filled by their creator, shared by invite or installed
//! directly, and used in messages, reactions and stickers by those who have them. As upstream, the
//! pack routes are for STAFF accounts (made here with `create-admin`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::community::data_uri;
use crate::harness::{Client, Server};
use crate::staff;
use crate::{
    create_guild, error_paths, general_channel, ids, invite_and_join, post_message, register,
};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn create_pack(c: &Client, kind: &str, name: &str) -> Value {
    c.post(&format!("/api/v1/packs/{kind}"), &json!({ "name": name }))
        .expect(200)
        .json()
}

#[test]
fn packs_are_made_filled_shared_and_used() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (ann, ann_id) = staff(&server, "pack-ann@example.com", "pack_ann");
    let (ben, _) = staff(&server, "pack-ben@example.com", "pack_ben");
    let (carol, _) = register(&anon, "pack-carol@example.com", "pack_carol");
    let png = crate::media::png(64, 64);

    // Packs are for staff accounts, as upstream; a malformed body is refused first all the same.
    carol
        .get("/api/v1/packs")
        .expect_error(403, "FEATURE_TEMPORARILY_DISABLED");
    carol
        .post("/api/v1/packs/emoji", &json!({ "name": "mine" }))
        .expect_error(403, "FEATURE_TEMPORARILY_DISABLED");
    carol
        .post("/api/v1/packs/emoji", &json!({ "name": "" }))
        .expect_error(400, "INVALID_FORM_BODY");
    anon.get("/api/v1/packs").expect_error(401, "UNAUTHORIZED");

    // An empty dashboard, with upstream's limits.
    let empty =
        json!({ "installed_limit": 50, "created_limit": 50, "installed": [], "created": [] });
    assert_eq!(
        ann.get("/api/v1/packs").expect(200).json(),
        json!({ "emoji": empty, "sticker": empty })
    );

    // Made, with their fields checked.
    let e = ann
        .post("/api/v1/packs/gif", &json!({ "name": "x" }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["pack_type"]);
    let e = ann
        .post(
            "/api/v1/packs/emoji",
            &json!({ "name": "n".repeat(65), "description": "d".repeat(257) }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["name", "description"]);
    let emoji_pack = ann
        .post(
            "/api/v1/packs/emoji",
            &json!({ "name": " Waves ", "description": "hands" }),
        )
        .expect(200)
        .json();
    assert_eq!(emoji_pack["name"], "Waves");
    assert_eq!(emoji_pack["description"], "hands");
    assert_eq!(emoji_pack["type"], "emoji");
    assert_eq!(emoji_pack["creator_id"], ann_id.as_str());
    assert!(emoji_pack["created_at"].is_string() && emoji_pack.get("installed_at").is_none());
    let emoji_pack_id = id(&emoji_pack);
    let sticker_pack = create_pack(&ann, "sticker", "Stamps");
    assert_eq!(sticker_pack["description"], Value::Null);
    let sticker_pack_id = id(&sticker_pack);

    // Changed by their creator only: absent fields stay, a null description goes.
    let renamed = ann
        .patch(
            &format!("/api/v1/packs/{emoji_pack_id}"),
            &json!({ "name": "Hands" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        (renamed["name"].as_str(), renamed["description"].as_str()),
        (Some("Hands"), Some("hands"))
    );
    let cleared = ann
        .patch(
            &format!("/api/v1/packs/{emoji_pack_id}"),
            &json!({ "description": null }),
        )
        .expect(200)
        .json();
    assert_eq!(cleared["description"], Value::Null);
    ben.patch(
        &format!("/api/v1/packs/{emoji_pack_id}"),
        &json!({ "name": "Mine now" }),
    )
    .expect_error(403, "PACK_ACCESS_DENIED");
    ben.delete(&format!("/api/v1/packs/{emoji_pack_id}"))
        .expect_error(403, "PACK_ACCESS_DENIED");
    ann.patch("/api/v1/packs/42", &json!({ "name": "Nothing" }))
        .expect_error(404, "UNKNOWN_PACK");
    ann.patch("/api/v1/packs/nope", &json!({ "name": "Nothing" }))
        .expect_error(400, "INVALID_FORM_BODY");

    // Filled by their creator, one kind per pack, and served like a guild's.
    let emojis = format!("/api/v1/packs/emojis/{emoji_pack_id}");
    let wave = ann
        .post(
            &emojis,
            &json!({ "name": "wave", "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    assert_eq!(wave["name"], "wave");
    assert_eq!(wave["animated"], false);
    let wave_id = id(&wave);
    anon.get(&format!("/media/emojis/{wave_id}.png"))
        .expect(200);
    ann.post(
        &format!("/api/v1/packs/stickers/{emoji_pack_id}"),
        &json!({ "name": "nope", "image": data_uri("image/png", &png) }),
    )
    .expect_error(400, "INVALID_PACK_TYPE");
    ann.post(
        &format!("/api/v1/packs/emojis/{sticker_pack_id}"),
        &json!({ "name": "nope", "image": data_uri("image/png", &png) }),
    )
    .expect_error(400, "INVALID_PACK_TYPE");
    ben.post(
        &emojis,
        &json!({ "name": "intruder", "image": data_uri("image/png", &png) }),
    )
    .expect_error(403, "PACK_ACCESS_DENIED");
    ben.get(&emojis).expect_error(403, "PACK_ACCESS_DENIED");
    let e = ann
        .post(
            &emojis,
            &json!({ "name": "bad name", "image": data_uri("image/png", b"not an image") }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["name"]);
    let e = ann
        .post(
            &emojis,
            &json!({ "name": "broken", "image": data_uri("image/png", b"not an image") }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "INVALID_IMAGE_FORMAT");
    let bulk = ann
        .post(
            &format!("{emojis}/bulk"),
            &json!({ "emojis": [
                { "name": "clap", "image": data_uri("image/png", &png) },
                { "name": "oops", "image": data_uri("image/png", b"nope") },
            ] }),
        )
        .expect(200)
        .json();
    assert_eq!(bulk["success"][0]["name"], "clap");
    assert_eq!(
        bulk["failed"],
        json!([{ "name": "oops", "error": "INVALID_FORM_BODY" }])
    );
    let e = ann
        .post(&format!("{emojis}/bulk"), &json!({ "emojis": [] }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["emojis"]);
    let clap_id = id(&bulk["success"][0]);
    let listed = ann.get(&emojis).expect(200).json();
    assert_eq!(ids(&listed), [wave_id.as_str(), clap_id.as_str()]);
    assert_eq!(listed[0]["user"]["username"], "pack_ann");
    let renamed = ann
        .patch(
            &format!("{emojis}/{clap_id}"),
            &json!({ "name": "applause" }),
        )
        .expect(200)
        .json();
    assert_eq!(renamed["name"], "applause");
    ann.patch(&format!("{emojis}/{clap_id}"), &json!({ "name": "x" }))
        .expect_error(400, "INVALID_FORM_BODY");
    ann.delete(&format!("{emojis}/{clap_id}")).expect(204);
    ann.delete(&format!("{emojis}/{clap_id}"))
        .expect_error(404, "UNKNOWN_EMOJI");
    // Purged, its image goes too (a new one for the rest of the test).
    ann.delete(&format!("{emojis}/{wave_id}?purge=true"))
        .expect(204);
    eventually("the purged image to go", || {
        anon.get(&format!("/media/emojis/{wave_id}.png")).status == 404
    });
    let wave = ann
        .post(
            &emojis,
            &json!({ "name": "wave", "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    let wave_id = id(&wave);

    let stickers = format!("/api/v1/packs/stickers/{sticker_pack_id}");
    let stamp = ann
        .post(
            &stickers,
            &json!({ "name": "stamp", "description": "approved", "tags": ["ok"], "image": data_uri("image/png", &png) }),
        )
        .expect(200)
        .json();
    assert_eq!(
        (stamp["description"].as_str(), &stamp["tags"]),
        (Some("approved"), &json!(["ok"]))
    );
    let stamp_id = id(&stamp);
    let edited = ann
        .patch(
            &format!("{stickers}/{stamp_id}"),
            &json!({ "name": "seal" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        edited,
        json!({ "id": stamp_id, "name": "seal", "description": "", "tags": [], "animated": false })
    );
    let bulk = ann
        .post(
            &format!("{stickers}/bulk"),
            &json!({ "stickers": [{ "name": "second", "image": data_uri("image/png", &png) }] }),
        )
        .expect(200)
        .json();
    assert_eq!(bulk["failed"], json!([]));
    assert_eq!(
        ann.get(&stickers)
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    anon.get(&format!("/media/stickers/{stamp_id}.png"))
        .expect(200);

    let dashboard = ann.get("/api/v1/packs").expect(200).json();
    assert_eq!(
        ids(&dashboard["emoji"]["created"]),
        [emoji_pack_id.as_str()]
    );
    assert_eq!(
        ids(&dashboard["sticker"]["created"]),
        [sticker_pack_id.as_str()]
    );

    // Invites: made and listed by the creator only, reused unless asked for a unique one.
    let invites = format!("/api/v1/packs/{emoji_pack_id}/invites");
    let invite = ann.post(&invites, &json!({})).expect(200).json();
    let code = invite["code"].as_str().unwrap().to_owned();
    assert_eq!(invite["type"], 2);
    assert_eq!(invite["pack"]["id"], emoji_pack_id.as_str());
    assert_eq!(invite["pack"]["creator"]["username"], "pack_ann");
    assert_eq!(invite["inviter"]["id"], ann_id.as_str());
    assert_eq!(
        (invite["uses"].as_u64(), invite["max_uses"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(invite["expires_at"], Value::Null);
    assert_eq!(
        ann.post(&invites, &json!({})).expect(200).json()["code"],
        code.as_str()
    );
    let once = ann
        .post(&invites, &json!({ "max_uses": 1, "unique": true }))
        .expect(200)
        .json();
    let once_code = once["code"].as_str().unwrap().to_owned();
    assert_ne!(once_code, code);
    let listed = ann.get(&invites).expect(200).json();
    let mut codes: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["code"].as_str().unwrap())
        .collect();
    assert!(
        listed[0]["created_at"].as_str() >= listed[1]["created_at"].as_str(),
        "newest first"
    );
    codes.sort_unstable();
    let mut expected = [once_code.as_str(), code.as_str()];
    expected.sort_unstable();
    assert_eq!(codes, expected);
    ben.get(&invites).expect_error(403, "PACK_ACCESS_DENIED");
    ben.post(&invites, &json!({}))
        .expect_error(403, "PACK_ACCESS_DENIED");
    let e = ann
        .post(&invites, &json!({ "max_uses": 101, "max_age": 604_801 }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(error_paths(&e), ["max_age", "max_uses"]);
    ann.get("/api/v1/packs/42/invites")
        .expect_error(404, "UNKNOWN_PACK");
    let public = anon
        .get(&format!("/api/v1/invites/{code}"))
        .expect(200)
        .json();
    assert_eq!(public["pack"]["name"], "Hands");
    assert_eq!(public["type"], 2);
    assert!(
        public.get("guild").is_none() && public.get("channel").is_none(),
        "{public}"
    );

    // Before Ben has the pack, its expressions are not his to use.
    let guild = create_guild(&ann, "Pack club");
    let general = general_channel(&ann, &guild);
    invite_and_join(&ann, &general, &ben);
    let text = format!("hi <:wave:{wave_id}>");
    assert_eq!(post_message(&ben, &general, &text)["content"], "hi :wave:");
    let anns = post_message(&ann, &general, &text);
    assert_eq!(
        anns["content"],
        text.as_str(),
        "the creator may use her pack"
    );
    let anns_id = id(&anns);
    let react =
        format!("/api/v1/channels/{general}/messages/{anns_id}/reactions/wave:{wave_id}/@me");
    let e = ben
        .put(&react, &json!({}))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        e["errors"][0]["code"],
        "EMOJI_REQUIRES_GUILD_OR_PACK_ACCESS"
    );
    let sticker_message = json!({ "sticker_ids": [stamp_id] });
    let messages = format!("/api/v1/channels/{general}/messages");
    let e = ben
        .post(&messages, &sticker_message)
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "CUSTOM_STICKER_NOT_FOUND");

    // Accepting the invite installs the pack and counts the use; then they are.
    let accepted = ben
        .post(&format!("/api/v1/invites/{code}"), &json!({}))
        .expect(200)
        .json();
    assert_eq!(accepted["pack"]["id"], emoji_pack_id.as_str());
    assert_eq!(accepted["uses"], 1);
    let installed = &ben.get("/api/v1/packs").expect(200).json()["emoji"]["installed"];
    assert_eq!(ids(installed), [emoji_pack_id.as_str()]);
    assert!(installed[0]["installed_at"].is_string());
    assert_eq!(
        post_message(&ben, &general, &text)["content"],
        text.as_str()
    );
    ben.put(&react, &json!({})).expect(204);
    let reacted = ben.get(&format!("{messages}/{anns_id}")).expect(200).json();
    assert_eq!(
        reacted["reactions"][0]["emoji"],
        json!({ "id": wave_id, "name": "wave", "animated": false })
    );
    ben.post(
        &format!("/api/v1/packs/{sticker_pack_id}/install"),
        &json!({}),
    )
    .expect(204);
    ben.post(
        &format!("/api/v1/packs/{sticker_pack_id}/install"),
        &json!({}),
    )
    .expect(204);
    let with_sticker = ben.post(&messages, &sticker_message).expect(200).json();
    assert_eq!(
        with_sticker["stickers"],
        json!([{ "id": stamp_id, "name": "seal", "animated": false }])
    );
    let dashboard = ben.get("/api/v1/packs").expect(200).json();
    assert_eq!(
        ids(&dashboard["sticker"]["installed"]),
        [sticker_pack_id.as_str()]
    );
    assert_eq!(dashboard["emoji"]["created"], json!([]));

    // A one-use invite is gone once used; a non-staff account cannot install.
    carol
        .post(&format!("/api/v1/invites/{once_code}"), &json!({}))
        .expect_error(403, "FEATURE_TEMPORARILY_DISABLED");
    ben.post(&format!("/api/v1/invites/{once_code}"), &json!({}))
        .expect(200);
    anon.get(&format!("/api/v1/invites/{once_code}"))
        .expect_error(404, "UNKNOWN_INVITE");

    // Uninstalled, its emojis are text again.
    ben.delete(&format!("/api/v1/packs/{emoji_pack_id}/install"))
        .expect(204);
    ben.delete(&format!("/api/v1/packs/{emoji_pack_id}/install"))
        .expect(204);
    assert_eq!(post_message(&ben, &general, &text)["content"], "hi :wave:");
    assert_eq!(
        ben.get("/api/v1/packs").expect(200).json()["emoji"]["installed"],
        json!([])
    );

    // Invites are deleted by the pack's creator.
    ben.delete(&format!("/api/v1/invites/{code}"))
        .expect_error(403, "PACK_ACCESS_DENIED");
    ann.delete(&format!("/api/v1/invites/{code}")).expect(200);
    anon.get(&format!("/api/v1/invites/{code}"))
        .expect_error(404, "UNKNOWN_INVITE");

    // Deleting a pack takes its expressions, images, invites and installations with it.
    let last = ann
        .post(
            &format!("/api/v1/packs/{sticker_pack_id}/invites"),
            &json!({}),
        )
        .expect(200)
        .json();
    let last_code = last["code"].as_str().unwrap().to_owned();
    assert_eq!(last["type"], 3);
    ann.delete(&format!("/api/v1/packs/{sticker_pack_id}"))
        .expect(204);
    ann.patch(
        &format!("/api/v1/packs/{sticker_pack_id}"),
        &json!({ "name": "Back" }),
    )
    .expect_error(404, "UNKNOWN_PACK");
    anon.get(&format!("/api/v1/invites/{last_code}"))
        .expect_error(404, "UNKNOWN_INVITE");
    assert_eq!(
        ben.get("/api/v1/packs").expect(200).json()["sticker"]["installed"],
        json!([])
    );
    eventually("the deleted pack's sticker image to go", || {
        anon.get(&format!("/media/stickers/{stamp_id}.png")).status == 404
    });
    let e = ben
        .post(&messages, &sticker_message)
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "CUSTOM_STICKER_NOT_FOUND");
    ben.post(
        &format!("/api/v1/packs/{sticker_pack_id}/install"),
        &json!({}),
    )
    .expect_error(404, "UNKNOWN_PACK");
}

#[test]
fn pack_limits_are_upstreams() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let (ann, _) = staff(&server, "limits-ann@example.com", "limits_ann");
    let (ben, _) = staff(&server, "limits-ben@example.com", "limits_ben");
    let png = crate::media::png(16, 16);

    // 50 packs of each kind per creator.
    let made: Vec<String> = (0..50)
        .map(|i| id(&create_pack(&ann, "emoji", &format!("pack {i}"))))
        .collect();
    let e = ann
        .post("/api/v1/packs/emoji", &json!({ "name": "one too many" }))
        .expect_error(400, "MAX_PACKS");
    assert_eq!(
        (&e["pack_type"], &e["limit"], &e["action"]),
        (&json!("emoji"), &json!(50), &json!("create"))
    );
    create_pack(&ann, "sticker", "other kind");

    // 50 installed packs of each kind.
    for pack in &made {
        ben.post(&format!("/api/v1/packs/{pack}/install"), &json!({}))
            .expect(204);
    }
    let own = id(&create_pack(&ben, "emoji", "his own"));
    let e = ben
        .post(&format!("/api/v1/packs/{own}/install"), &json!({}))
        .expect_error(400, "MAX_PACKS");
    assert_eq!(
        (&e["pack_type"], &e["limit"], &e["action"]),
        (&json!("emoji"), &json!(50), &json!("install"))
    );
    // Installing one already installed is no new installation.
    ben.post(&format!("/api/v1/packs/{}/install", made[0]), &json!({}))
        .expect(204);
    // Deleted packs no longer count.
    ann.delete(&format!("/api/v1/packs/{}", made[0]))
        .expect(204);
    ben.post(&format!("/api/v1/packs/{own}/install"), &json!({}))
        .expect(204);
    let installed = &ben.get("/api/v1/packs").expect(200).json()["emoji"]["installed"];
    assert_eq!(installed.as_array().unwrap().len(), 50);

    // 200 expressions in a pack; a bulk upload past it fails item by item.
    let emojis = format!("/api/v1/packs/emojis/{own}");
    for round in 0..4 {
        let batch: Vec<Value> = (0..50)
            .map(|i| json!({ "name": format!("e{round}_{i}"), "image": data_uri("image/png", &png) }))
            .collect();
        let bulk = ben
            .post(&format!("{emojis}/bulk"), &json!({ "emojis": batch }))
            .expect(200)
            .json();
        assert_eq!(
            bulk["success"].as_array().unwrap().len(),
            50,
            "{}",
            bulk["failed"]
        );
    }
    let e = ben
        .post(
            &emojis,
            &json!({ "name": "overflow", "image": data_uri("image/png", &png) }),
        )
        .expect_error(400, "MAX_PACK_EXPRESSIONS");
    assert_eq!(e["max_expressions"], 200);
    let bulk = ben
        .post(
            &format!("{emojis}/bulk"),
            &json!({ "emojis": [{ "name": "late", "image": data_uri("image/png", &png) }] }),
        )
        .expect(200)
        .json();
    assert_eq!(bulk["success"], json!([]));
    assert_eq!(bulk["failed"][0]["name"], "late");
    let too_many: Vec<Value> = (0..51)
        .map(|i| json!({ "name": format!("x{i}"), "image": "" }))
        .collect();
    ben.post(&format!("{emojis}/bulk"), &json!({ "emojis": too_many }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        ben.get(&emojis)
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .len(),
        200
    );
}
