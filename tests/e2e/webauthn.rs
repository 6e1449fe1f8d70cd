//! Passkeys and security keys against the real server, with `webauthn-authenticator-rs`'s software
//! token as the authenticator and this file as the browser: registration, listing, renaming and
//! deleting credentials, passwordless login, WebAuthn as the login's second factor and for sudo
//! mode, and what is refused (replayed and foreign challenges, a cloned key whose counter went
//! back, malformed answers, too many tries).
//!
//! The software token keeps no resident keys, so the "browser" here does what a platform's
//! credential picker does: it registers without asking the token for residency, and for a
//! passwordless login it names the token's credential itself. The server sees the same requests
//! either way.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softtoken::SoftToken;

use crate::harness::{Client, Server};
use crate::register;

const PASSWORD: &str = "correct horse battery";
/// The web app's origin the server is configured with; the RP ID is its host.
const ORIGIN: &str = "http://localhost:8088";

fn server() -> Server {
    Server::start(&[("FLUXER_CONFIG__INSTANCE__WEB_URL", ORIGIN)])
}

/// A software authenticator that verifies its user (as a platform passkey does).
struct Device {
    token: SoftToken,
    credential: Option<String>,
}

impl Device {
    fn new() -> Device {
        let (token, _ca) = SoftToken::new(true).expect("soft token");
        Device {
            token,
            credential: None,
        }
    }

    /// A copy of the key as it is now (a cloned authenticator).
    fn clone_key(&self) -> Device {
        let cbor = self.token.to_cbor().unwrap();
        Device {
            token: SoftToken::from_cbor(&cbor).unwrap(),
            credential: self.credential.clone(),
        }
    }

    /// `navigator.credentials.create()` on the server's options.
    fn create(&mut self, options: &Value) -> Value {
        let mut options = options.clone();
        // The token keeps no resident keys; the picker's residency is the platform's business.
        options["authenticatorSelection"]["requireResidentKey"] = json!(false);
        options["authenticatorSelection"]["residentKey"] = json!("discouraged");
        let created = AuthenticatorBackend::perform_register(
            &mut self.token,
            Url::parse(ORIGIN).unwrap(),
            serde_json::from_value(options).expect("creation options"),
            60_000,
        )
        .expect("the token creates a credential");
        let created = serde_json::to_value(&created).unwrap();
        self.credential = Some(created["id"].as_str().unwrap().to_owned());
        created
    }

    /// `navigator.credentials.get()` on the server's options.
    fn get(&mut self, options: &Value) -> Value {
        let mut options = options.clone();
        if options["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
        {
            // A passwordless login: the picker offers the passkey this device holds.
            options["allowCredentials"] =
                json!([{ "type": "public-key", "id": self.credential.clone().unwrap() }]);
        }
        let asserted = AuthenticatorBackend::perform_auth(
            &mut self.token,
            Url::parse(ORIGIN).unwrap(),
            serde_json::from_value(options).expect("request options"),
            60_000,
        )
        .expect("the token signs");
        serde_json::to_value(&asserted).unwrap()
    }
}

/// Registers a passkey for `user` (in sudo mode by `sudo`), named `name`.
fn register_passkey(user: &Client, device: &mut Device, name: &str, sudo: Value) -> Value {
    let options = user
        .post(
            "/api/v1/users/@me/mfa/webauthn/credentials/registration-options",
            &sudo,
        )
        .expect(200)
        .json();
    let response = device.create(&options);
    let mut body = sudo;
    body["response"] = response.clone();
    body["challenge"] = options["challenge"].clone();
    body["name"] = json!(name);
    user.post("/api/v1/users/@me/mfa/webauthn/credentials", &body)
        .expect(204);
    response
}

/// A sudo-mode proof made with `device`.
fn webauthn_sudo(user: &Client, device: &mut Device) -> Value {
    let options = user
        .post(
            "/api/v1/users/@me/sudo/webauthn/authentication-options",
            &Value::Null,
        )
        .expect(200)
        .json();
    json!({
        "mfa_method": "webauthn",
        "webauthn_response": device.get(&options),
        "webauthn_challenge": options["challenge"],
    })
}

fn passwordless_options(c: &Client) -> Value {
    c.post("/api/v1/auth/webauthn/authentication-options", &Value::Null)
        .expect(200)
        .json()
}

#[test]
fn passkeys_are_registered_listed_renamed_and_deleted_in_sudo_mode() {
    let server = server();
    let c = server.client();
    let (alice, alice_id) = register(&c, "passkey-owner@example.com", "passkeyowner");
    let mut device = Device::new();

    // Registration needs sudo mode: the password, while the account has no second factor.
    alice
        .post(
            "/api/v1/users/@me/mfa/webauthn/credentials/registration-options",
            &json!({}),
        )
        .expect_error(403, "SUDO_MODE_REQUIRED");
    let options = alice
        .post(
            "/api/v1/users/@me/mfa/webauthn/credentials/registration-options",
            &json!({ "password": PASSWORD }),
        )
        .expect(200)
        .json();
    // Upstream's user handle: the user ID's digits.
    let handle = URL_SAFE_NO_PAD
        .decode(options["user"]["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(handle).unwrap(), alice_id);
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");

    let created = device.create(&options);
    let body = json!({
        "response": created,
        "challenge": options["challenge"],
        "name": "Laptop",
        "password": PASSWORD,
    });
    alice
        .post("/api/v1/users/@me/mfa/webauthn/credentials", &body)
        .expect(204);
    // A registration answer is good once (sudo mode now wants the new passkey, not the password).
    alice
        .post("/api/v1/users/@me/mfa/webauthn/credentials", &body)
        .expect_error(403, "SUDO_MODE_REQUIRED");
    let mut replay = webauthn_sudo(&alice, &mut device);
    replay["response"] = body["response"].clone();
    replay["challenge"] = body["challenge"].clone();
    replay["name"] = json!("Laptop again");
    alice
        .post("/api/v1/users/@me/mfa/webauthn/credentials", &replay)
        .expect_error(400, "INVALID_WEBAUTHN_CREDENTIAL");

    let list = alice
        .get("/api/v1/users/@me/mfa/webauthn/credentials")
        .expect(200)
        .json();
    let id = created["id"].as_str().unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["name"], "Laptop");
    assert!(list[0]["created_at"].is_string());
    // Its first use was the sudo proof above.
    assert!(list[0]["last_used_at"].is_string(), "{list}");

    // WebAuthn is now the account's second factor: sudo mode no longer takes the password.
    let me = alice.get("/api/v1/users/@me").expect(200).json();
    assert_eq!(me["mfa_enabled"], true);
    assert_eq!(me["authenticator_types"], json!([2]));
    let methods = alice
        .get("/api/v1/users/@me/sudo/mfa-methods")
        .expect(200)
        .json();
    assert_eq!(
        methods,
        json!({ "totp": false, "sms": false, "webauthn": true, "has_mfa": true })
    );
    let refused = alice
        .patch(
            &format!("/api/v1/users/@me/mfa/webauthn/credentials/{id}"),
            &json!({ "name": "Work laptop", "password": PASSWORD }),
        )
        .expect_error(403, "SUDO_MODE_REQUIRED");
    assert_eq!(refused["has_mfa"], true);

    let mut rename = webauthn_sudo(&alice, &mut device);
    rename["name"] = json!("Work laptop");
    alice
        .patch(
            &format!("/api/v1/users/@me/mfa/webauthn/credentials/{id}"),
            &rename,
        )
        .expect(204);
    // The sudo proof was used up with its challenge.
    alice
        .patch(
            &format!("/api/v1/users/@me/mfa/webauthn/credentials/{id}"),
            &rename,
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let list = alice
        .get("/api/v1/users/@me/mfa/webauthn/credentials")
        .expect(200)
        .json();
    assert_eq!(list[0]["name"], "Work laptop");
    assert!(list[0]["last_used_at"].is_string(), "{list}");

    let mut unknown = webauthn_sudo(&alice, &mut device);
    unknown["name"] = json!("Nothing");
    alice
        .patch("/api/v1/users/@me/mfa/webauthn/credentials/AAAA", &unknown)
        .expect_error(404, "UNKNOWN_WEBAUTHN_CREDENTIAL");

    // Deleting the last credential turns the second factor off again.
    let sudo = webauthn_sudo(&alice, &mut device);
    alice
        .send(
            "DELETE",
            &format!("/api/v1/users/@me/mfa/webauthn/credentials/{id}"),
            &sudo,
        )
        .expect(204);
    assert_eq!(
        alice
            .get("/api/v1/users/@me/mfa/webauthn/credentials")
            .expect(200)
            .json(),
        json!([])
    );
    let me = alice.get("/api/v1/users/@me").expect(200).json();
    assert_eq!(me["mfa_enabled"], false);
    assert_eq!(me["authenticator_types"], json!([]));
    // And the deleted passkey logs nobody in.
    let options = passwordless_options(&c);
    c.post(
        "/api/v1/auth/webauthn/authenticate",
        &json!({ "response": device.get(&options), "challenge": options["challenge"] }),
    )
    .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
}

#[test]
fn a_passkey_logs_in_without_a_password_once_per_challenge() {
    let server = server();
    let c = server.client();
    let (alice, alice_id) = register(&c, "passwordless@example.com", "passwordless");
    let mut device = Device::new();
    register_passkey(
        &alice,
        &mut device,
        "Phone",
        json!({ "password": PASSWORD }),
    );
    // A copy of the key before it is ever used: a cloned authenticator.
    let mut clone = device.clone_key();

    let options = passwordless_options(&c);
    assert_eq!(options["userVerification"], "required");
    assert_eq!(options["rpId"], "localhost");
    assert!(
        options["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{options}"
    );
    let login = json!({ "response": device.get(&options), "challenge": options["challenge"] });
    let session = c
        .post("/api/v1/auth/webauthn/authenticate", &login)
        .expect(200)
        .json();
    assert_eq!(session["user_id"], alice_id);
    let token = session["token"].as_str().unwrap();
    let me = c
        .with_token(token)
        .get("/api/v1/users/@me")
        .expect(200)
        .json();
    assert_eq!(me["id"], alice_id);

    // Replayed: the challenge was used up.
    c.post("/api/v1/auth/webauthn/authenticate", &login)
        .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
    // Signed for one challenge, sent with another.
    let signed_for = passwordless_options(&c);
    let other = passwordless_options(&c);
    c.post(
        "/api/v1/auth/webauthn/authenticate",
        &json!({ "response": device.get(&signed_for), "challenge": other["challenge"] }),
    )
    .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
    // A challenge of another ceremony (sudo mode) does not log in either.
    let sudo = alice
        .post(
            "/api/v1/users/@me/sudo/webauthn/authentication-options",
            &Value::Null,
        )
        .expect(200)
        .json();
    c.post(
        "/api/v1/auth/webauthn/authenticate",
        &json!({ "response": device.get(&sudo), "challenge": sudo["challenge"] }),
    )
    .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
    // The device still logs in (its counter keeps rising).
    let options = passwordless_options(&c);
    c.post(
        "/api/v1/auth/webauthn/authenticate",
        &json!({ "response": device.get(&options), "challenge": options["challenge"] }),
    )
    .expect(200);

    // The clone signs with the right key but a counter behind the device's: refused.
    let options = passwordless_options(&c);
    c.post(
        "/api/v1/auth/webauthn/authenticate",
        &json!({ "response": clone.get(&options), "challenge": options["challenge"] }),
    )
    .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");

    // Malformed answers get upstream's error shapes.
    let options = passwordless_options(&c);
    for response in [
        json!({}),
        json!({ "id": "!!not base64!!", "rawId": "!!", "type": "public-key" }),
        json!({ "id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {} }),
    ] {
        c.post(
            "/api/v1/auth/webauthn/authenticate",
            &json!({ "response": response, "challenge": options["challenge"] }),
        )
        .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
    }
    c.raw(
        "POST",
        "/api/v1/auth/webauthn/authenticate",
        &[("Content-Type", "application/json")],
        b"{\"response\": {",
    )
    .expect_error(400, "INVALID_FORM_BODY");
    c.post(
        "/api/v1/auth/webauthn/authenticate",
        &json!({ "response": {} }),
    )
    .expect_error(400, "INVALID_FORM_BODY");

    // Neither the session token nor an assertion's signature reaches the log.
    let log = server.log();
    assert!(!log.contains(token));
    let signature = login["response"]["response"]["signature"].as_str().unwrap();
    assert!(!log.contains(signature));
}

#[test]
fn webauthn_is_the_second_factor_of_a_password_login_and_of_sudo_mode() {
    let server = server();
    let c = server.client();
    let (alice, alice_id) = register(&c, "second-factor@example.com", "secondfactor");
    let mut device = Device::new();
    let created = register_passkey(&alice, &mut device, "Key", json!({ "password": PASSWORD }));

    let password_login = || {
        c.post(
            "/api/v1/auth/login",
            &json!({ "email": "second-factor@example.com", "password": PASSWORD }),
        )
        .expect(200)
        .json()
    };
    let login = password_login();
    assert_eq!(login["mfa"], true);
    assert_eq!(login["webauthn"], true);
    assert_eq!(login["totp"], false);
    assert_eq!(login["allowed_methods"], json!(["webauthn"]));
    let ticket = login["ticket"].as_str().unwrap();

    let options = c
        .post(
            "/api/v1/auth/login/mfa/webauthn/authentication-options",
            &json!({ "ticket": ticket }),
        )
        .expect(200)
        .json();
    assert_eq!(options["allowCredentials"][0]["id"], created["id"]);
    // Asking for options leaves the ticket good.
    let options = c
        .post(
            "/api/v1/auth/login/mfa/webauthn/authentication-options",
            &json!({ "ticket": ticket }),
        )
        .expect(200)
        .json();
    let finish = json!({
        "response": device.get(&options),
        "challenge": options["challenge"],
        "ticket": ticket,
    });
    let session = c
        .post("/api/v1/auth/login/mfa/webauthn", &finish)
        .expect(200)
        .json();
    assert_eq!(session["user_id"], alice_id);
    // The ticket and the challenge are used up.
    c.post("/api/v1/auth/login/mfa/webauthn", &finish)
        .expect_error(400, "INVALID_FORM_BODY");

    // An assertion for one login's challenge does not finish another login.
    let first = password_login();
    let options = c
        .post(
            "/api/v1/auth/login/mfa/webauthn/authentication-options",
            &json!({ "ticket": first["ticket"] }),
        )
        .expect(200)
        .json();
    let second = password_login();
    c.post(
        "/api/v1/auth/login/mfa/webauthn",
        &json!({
            "response": device.get(&options),
            "challenge": options["challenge"],
            "ticket": second["ticket"],
        }),
    )
    .expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
    c.post(
        "/api/v1/auth/login/mfa/webauthn/authentication-options",
        &json!({ "ticket": "not-a-ticket" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");

    // Sudo mode: the password is not enough, a passkey is; a bad assertion is a wrong code.
    alice
        .send(
            "DELETE",
            "/api/v1/users/@me/authorized-ips",
            &json!({ "password": PASSWORD }),
        )
        .expect_error(403, "SUDO_MODE_REQUIRED");
    let mut forged = webauthn_sudo(&alice, &mut device);
    forged["webauthn_challenge"] = json!("not-the-challenge");
    let wrong = alice
        .send("DELETE", "/api/v1/users/@me/authorized-ips", &forged)
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(wrong["errors"][0]["code"], "INVALID_MFA_CODE", "{wrong}");
    let sudo = webauthn_sudo(&alice, &mut device);
    alice
        .send("DELETE", "/api/v1/users/@me/authorized-ips", &sudo)
        .expect(204);
    // Every sudo-mode route takes a passkey: an account whose only second factor is a passkey can
    // still reset an application's client secret.
    let app = alice
        .post(
            "/api/v1/oauth2/applications",
            &json!({ "name": "Passkey App", "redirect_uris": ["https://app.example/cb"] }),
        )
        .expect(200)
        .json();
    let reset = format!(
        "/api/v1/oauth2/applications/{}/client-secret/reset",
        app["id"].as_str().unwrap()
    );
    alice
        .post(&reset, &json!({ "password": PASSWORD }))
        .expect_error(403, "SUDO_MODE_REQUIRED");
    let sudo = webauthn_sudo(&alice, &mut device);
    let reset = alice.post(&reset, &sudo).expect(200).json();
    assert!(
        reset["client_secret"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{reset}"
    );

    // Someone else's sudo options are not the caller's to answer.
    let (bob, _) = register(&c, "other-user@example.com", "otheruser");
    bob.post(
        "/api/v1/users/@me/sudo/webauthn/authentication-options",
        &Value::Null,
    )
    .expect_error(400, "NO_PASSKEYS_REGISTERED");
    let stolen = webauthn_sudo(&alice, &mut device);
    bob.send("DELETE", "/api/v1/users/@me/authorized-ips", &stolen)
        .expect_error(403, "SUDO_MODE_REQUIRED");
}

#[test]
fn passkey_login_attempts_are_rate_limited() {
    let server = server();
    let mut c = server.client();
    c.retry_on_429 = false;
    let options = passwordless_options(&c);
    let attempt = json!({
        "response": { "id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {} },
        "challenge": options["challenge"],
    });
    let mut limited = false;
    for _ in 0..30 {
        let r = c.post("/api/v1/auth/webauthn/authenticate", &attempt);
        if r.status == 429 {
            let body = r.expect_error(429, "RATE_LIMITED");
            assert!(body["retry_after"].as_f64().unwrap() > 0.0);
            limited = true;
            break;
        }
        r.expect_error(401, "PASSKEY_AUTHENTICATION_FAILED");
    }
    assert!(limited, "30 guesses in a row were all answered");
}

#[test]
fn staff_list_and_delete_a_users_passkeys() {
    let server = server();
    let c = server.client();
    let (alice, alice_id) = register(&c, "passkey-admin@example.com", "passkeyadmin");
    let (op, _) = crate::staff(&server, "op@example.com", "operator");
    let mut device = Device::new();
    register_passkey(
        &alice,
        &mut device,
        "Laptop",
        json!({ "password": PASSWORD }),
    );
    let credential = device.credential.clone().unwrap();

    // Staff without `user:update:mfa` are refused, whatever the body.
    let limited = crate::admin::limited_staff(
        &server,
        &op,
        "lookup@example.com",
        "lookuponly",
        &["admin:authenticate", "user:lookup"],
    );
    limited
        .post(
            "/api/v1/admin/users/list-webauthn-credentials",
            &json!({ "user_id": alice_id }),
        )
        .expect_error(403, "MISSING_ACL");
    limited
        .post(
            "/api/v1/admin/users/delete-webauthn-credential",
            &json!({ "nonsense": true }),
        )
        .expect_error(403, "MISSING_ACL");

    let listed = op
        .post(
            "/api/v1/admin/users/list-webauthn-credentials",
            &json!({ "user_id": alice_id }),
        )
        .expect(200)
        .json();
    assert_eq!(listed[0]["id"], credential.as_str());
    assert_eq!(listed[0]["name"], "Laptop");

    // Bad bodies and an unknown credential change nothing.
    op.post(
        "/api/v1/admin/users/delete-webauthn-credential",
        &json!({ "user_id": alice_id }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    op.post(
        "/api/v1/admin/users/delete-webauthn-credential",
        &json!({ "user_id": alice_id, "credential_id": "not-hers" }),
    )
    .expect_error(404, "UNKNOWN_WEBAUTHN_CREDENTIAL");
    let me = alice.get("/api/v1/users/@me").expect(200).json();
    assert!(
        me["authenticator_types"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{me}"
    );

    // Deleting the last passkey turns WebAuthn off for the account; it is logged.
    op.post(
        "/api/v1/admin/users/delete-webauthn-credential",
        &json!({ "user_id": alice_id, "credential_id": credential }),
    )
    .expect(204);
    let listed = op
        .post(
            "/api/v1/admin/users/list-webauthn-credentials",
            &json!({ "user_id": alice_id }),
        )
        .expect(200)
        .json();
    assert_eq!(listed, json!([]));
    let me = alice.get("/api/v1/users/@me").expect(200).json();
    assert_eq!(me["authenticator_types"], json!([]), "{me}");
    let logs = op
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_id": alice_id }),
        )
        .expect(200)
        .json();
    assert_eq!(logs["logs"][0]["action"], "user.delete_webauthn_credential");
}
