//! Web Push end to end (issue #21): a push service on loopback (tests/e2e/push_service.py) makes
//! subscribers the way a browser does, and checks every notification as a real push service and
//! browser would: the VAPID token's ES256 signature by the key `/.well-known/fluxer` publishes,
//! its audience and expiry, then the `aes128gcm` body decrypted with the subscriber's private key
//! (Python's `cryptography` and `http_ece`, not our code). Who is notified: an offline recipient
//! of a DM, a mentioned member in a guild, someone idle; not someone online, not a muted channel. A push the
//! service turns away for now (429, 503) is tried again; a subscription it says is gone (410) is
//! dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::gateway::{identify, next_dispatch, runtime};
use crate::harness::{Client, Server};
use crate::{create_guild, general_channel, invite_and_join, post_message, register};

/// The Python push service; killed on drop.
struct PushService {
    child: Child,
    client: Client,
    port_file: PathBuf,
}

impl PushService {
    fn start() -> PushService {
        let port_file = std::env::temp_dir().join(format!(
            "fluxer-push-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&port_file);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/e2e/push_service.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&port_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed to run the push service (http_ece, cryptography)");
        let deadline = Instant::now() + Duration::from_secs(20);
        let port = loop {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                break port;
            }
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                panic!(
                    "the push service exited ({status}): {err}\ninstall its modules with \
                     `pip install -r tests/requirements.txt`"
                );
            }
            assert!(Instant::now() < deadline, "the push service did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let addr = format!("127.0.0.1:{}", port.trim());
        PushService {
            child,
            client: Client {
                addr: addr.clone(),
                token: None,
                retry_on_429: false,
            },
            port_file,
        }
    }

    /// A new browser subscription: `{endpoint, keys: {p256dh, auth}}`.
    fn subscriber(&self, name: &str) -> Value {
        self.client
            .post(&format!("/subscribers/{name}"), &json!({}))
            .expect(200)
            .json()
    }

    /// From now on the push service answers 410 Gone for this subscriber.
    fn gone(&self, name: &str) {
        self.client
            .post(&format!("/gone/{name}"), &json!({}))
            .expect(204);
    }

    fn received(&self) -> Vec<Value> {
        self.client
            .get("/received")
            .expect(200)
            .json()
            .as_array()
            .unwrap()
            .clone()
    }

    /// The next two pushes to this subscriber are answered 429, then 503.
    fn flaky(&self, name: &str) {
        self.client
            .post(&format!("/flaky/{name}"), &json!({}))
            .expect(204);
    }

    /// The statuses the push service answered to pushes to `name` about `message_id`, in order.
    fn statuses(&self, name: &str, message_id: &str) -> Vec<u64> {
        self.received()
            .iter()
            .filter(|r| r["name"] == name && r["payload"]["data"]["message_id"] == message_id)
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    }

    /// Waits for the push to `name` about `message_id` that the service took (201) or answered
    /// 410 Gone to.
    fn wait_for(&self, name: &str, message_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self.received().into_iter().find(|r| {
                r["name"] == name
                    && r["payload"]["data"]["message_id"] == message_id
                    && (r["status"] == 201 || r["status"] == 410)
            });
            if let Some(r) = found {
                return r;
            }
            if let Some(bad) = self.received().into_iter().find(|r| r["ok"] == false) {
                panic!("the push service refused a push: {bad}");
            }
            assert!(
                Instant::now() < deadline,
                "no push to {name} about {message_id}: {:?}",
                self.received()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PushService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.port_file);
    }
}

fn subscribe(c: &Client, subscription: &Value, user_agent: &str) -> String {
    let mut body = subscription.clone();
    body["user_agent"] = json!(user_agent);
    let id = c
        .post("/api/v1/users/@me/push/subscribe", &body)
        .expect(200)
        .json()["subscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 32, "{id}");
    id
}

fn subscriptions(c: &Client) -> Vec<Value> {
    c.get("/api/v1/users/@me/push/subscriptions")
        .expect(200)
        .json()["subscriptions"]
        .as_array()
        .unwrap()
        .clone()
}

fn open_dm(c: &Client, with: &str) -> String {
    c.post(
        "/api/v1/users/@me/channels",
        &json!({ "recipient_id": with }),
    )
    .expect(200)
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn away_users_get_encrypted_signed_notifications() {
    let push = PushService::start();
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        (
            "FLUXER_CONFIG__SERVICES__MEDIA_PROXY__ALLOW_ADDRESSES",
            "[\"127.0.0.1\"]",
        ),
    ]);
    let anon = server.client();
    let vapid_key = anon.get("/.well-known/fluxer").expect(200).json()["push"]["public_vapid_key"]
        .as_str()
        .expect("a VAPID key in /.well-known/fluxer")
        .to_owned();
    // An uncompressed P-256 point in base64url, no padding.
    assert_eq!(vapid_key.len(), 87, "{vapid_key}");
    assert!(vapid_key.starts_with('B'), "{vapid_key}");

    let (alice, _) = register(&anon, "alice@example.com", "alice");
    let (bob, bob_id) = register(&anon, "bob@example.com", "bob");
    let (carol, carol_id) = register(&anon, "carol@example.com", "carol");
    let guild = create_guild(&alice, "Pushers");
    let general = general_channel(&alice, &guild);
    invite_and_join(&alice, &general, &bob);
    invite_and_join(&alice, &general, &carol);

    // Subscribing: validated, listed with its user agent, the same endpoint twice is one.
    let bob_sub = push.subscriber("bob");
    let bob_sub_id = subscribe(&bob, &bob_sub, "Firefox");
    assert_eq!(subscribe(&bob, &bob_sub, "Firefox"), bob_sub_id);
    assert_eq!(
        subscriptions(&bob),
        vec![json!({ "subscription_id": bob_sub_id, "user_agent": "Firefox" })]
    );
    let mut bad = bob_sub.clone();
    bad["keys"]["p256dh"] = json!("not-a-key");
    bad["endpoint"] = json!("javascript:alert(1)");
    let e = bob
        .post("/api/v1/users/@me/push/subscribe", &bad)
        .expect_error(400, "INVALID_FORM_BODY");
    let paths = crate::error_paths(&e);
    assert!(
        paths.contains(&"endpoint".to_owned()) && paths.contains(&"keys.p256dh".to_owned()),
        "{e}"
    );
    assert!(subscriptions(&alice).is_empty());

    // Bob has no gateway session: a DM reaches his browser, signed and encrypted.
    let dm = open_dm(&alice, &bob_id);
    let m = post_message(&alice, &dm, "hello bob, are you there?");
    let got = push.wait_for("bob", m["id"].as_str().unwrap());
    assert_eq!(got["ok"], true, "{got}");
    assert_eq!(got["vapid_key"], vapid_key.as_str());
    assert_eq!(got["headers"]["ttl"], "86400");
    assert_eq!(got["headers"]["urgency"], "high");
    let payload = &got["payload"];
    assert_eq!(payload["title"], "alice");
    assert_eq!(payload["body"], "hello bob, are you there?");
    let data = &payload["data"];
    assert_eq!(data["channel_id"], dm.as_str());
    assert_eq!(data["guild_id"], Value::Null);
    assert_eq!(data["target_user_id"], bob_id.as_str());
    assert_eq!(
        data["url"],
        format!("/channels/@me/{dm}/{}", m["id"].as_str().unwrap())
    );
    assert!(data["badge_count"].is_number(), "{payload}");

    // In a guild: Bob mutes #general but keeps push on; a mention in another channel reaches
    // him (mentions shown by name), the muted channel does not.
    let other = alice
        .post(
            &format!("/api/v1/guilds/{guild}/channels"),
            &json!({ "name": "other", "type": 0 }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    bob.patch(
        &format!("/api/v1/users/@me/guilds/{guild}/settings"),
        &json!({ "mobile_push": true, "channel_overrides": {
            general.as_str(): { "muted": true, "message_notifications": 3 } } }),
    )
    .expect(200);
    let muted = post_message(&alice, &general, &format!("<@{bob_id}> in a muted channel"));
    let mention = post_message(&alice, &other, &format!("look <@{bob_id}>"));
    let got = push.wait_for("bob", mention["id"].as_str().unwrap());
    assert_eq!(got["payload"]["title"], "alice (#other, Pushers)");
    assert_eq!(got["payload"]["body"], "look @bob");
    assert_eq!(got["payload"]["data"]["guild_id"], guild.as_str());

    // Carol is online: she gets no push, though subscribed.
    let rt = runtime();
    let carol_online = rt.block_on(identify(&server.addr, carol.token.as_deref().unwrap()));
    let carol_sub_id = subscribe(&carol, &push.subscriber("carol"), "Chrome");
    let carol_dm = open_dm(&alice, &carol_id);
    let to_carol = post_message(&alice, &carol_dm, "you are online");
    // A later push to Bob has gone through the same queue; the push service is busy (429, then
    // 503) and the worker tries again, with backoff, until it takes it.
    push.flaky("bob");
    let later = post_message(&alice, &dm, "one more");
    let later_id = later["id"].as_str().unwrap();
    push.wait_for("bob", later_id);
    assert_eq!(push.statuses("bob", later_id), vec![429, 503, 201]);
    std::thread::sleep(Duration::from_millis(500));
    let received = push.received();
    for skipped in [&muted, &to_carol] {
        assert!(
            !received
                .iter()
                .any(|r| r["payload"]["data"]["message_id"] == skipped["id"]),
            "no push for {}: {received:?}",
            skipped["content"]
        );
    }
    assert!(
        received.iter().all(|r| r["name"] != "carol"),
        "{received:?}"
    );
    // Once she is away from the keyboard (idle, not on a phone), the next DM reaches her.
    let mut carol_online = carol_online;
    rt.block_on(
        carol_online.send(Message::Text(
            json!({ "op": 3, "d": { "status": "idle", "afk": true } })
                .to_string()
                .into(),
        )),
    )
    .unwrap();
    // The gateway stores the presence before it broadcasts it, and her own session is in the
    // guild it goes to: once she hears herself go afk, the push worker sees her away.
    rt.block_on(async {
        loop {
            let update = next_dispatch(&mut carol_online, "PRESENCE_UPDATE").await;
            if update["d"]["user"]["id"] == carol_id.as_str() && update["d"]["afk"] == true {
                break;
            }
        }
    });
    let away = post_message(&alice, &carol_dm, "now you are away");
    let got = push.wait_for("carol", away["id"].as_str().unwrap());
    assert_eq!(got["payload"]["body"], "now you are away");

    // Unsubscribing: an unknown ID is fine, Carol's own goes.
    carol
        .delete("/api/v1/users/@me/push/subscriptions/ffffffffffffffffffffffffffffffff")
        .expect(200);
    let done = carol
        .delete(&format!(
            "/api/v1/users/@me/push/subscriptions/{carol_sub_id}"
        ))
        .expect(200)
        .json();
    assert_eq!(done, json!({ "success": true }));
    assert!(subscriptions(&carol).is_empty());

    // The push service forgets Bob's browser (410): the next push drops the subscription.
    push.gone("bob");
    let last = post_message(&alice, &dm, "are you gone?");
    push.wait_for("bob", last["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !subscriptions(&bob).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the gone subscription is still listed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !server.log().contains("vapid t="),
        "no VAPID token in the log"
    );
}

#[test]
fn push_can_be_turned_off() {
    let server = Server::start(&[("FLUXER_CONFIG__SERVICES__GATEWAY__PUSH_ENABLED", "false")]);
    let doc = server
        .client()
        .get("/.well-known/fluxer")
        .expect(200)
        .json();
    assert!(doc["push"]["public_vapid_key"].is_null(), "{doc}");
}
