//! The OAuth2 provider end to end: a real client library (Python's authlib) through the
//! authorization code flow with PKCE, refresh rotation, introspection and revocation; then the
//! Rust-side cases: consent's checks, the token endpoint's errors, scopes on bearer routes, the
//! user's authorizations, client-secret rotation, the public application and the bot profile,
//! expiry, durability across a restart, and no credential in the server's log.

use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Client, Response, Server};
use crate::{create_guild, register};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const OTHER_REDIRECT: &str = "https://client.example/other";
/// RFC 7636 appendix B: a verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An application with both redirect URIs: (id, client secret).
fn application(owner: &Client, name: &str) -> (String, String) {
    let app = owner
        .post(
            "/api/v1/oauth2/applications",
            &json!({ "name": name, "redirect_uris": [REDIRECT, OTHER_REDIRECT] }),
        )
        .expect(200)
        .json();
    let secret = app["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    assert_eq!(secret.len(), 43, "{app}");
    (app["id"].as_str().unwrap().to_owned(), secret)
}

/// A form POST, with HTTP Basic client credentials when given.
fn form(c: &Client, path: &str, pairs: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
    let body: String = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let auth = basic.map(|(id, secret)| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    });
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a.as_str()));
    }
    c.raw("POST", path, &headers, body.as_bytes())
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An RFC 6749 error body with this status and `error`.
fn expect_oauth_error(r: Response, status: u16, error: &str) -> Value {
    let r = r.expect(status);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["error"], error, "{v}");
    assert!(v["error_description"].is_string(), "{v}");
    v
}

/// The user's consent; returns the code from the redirect.
fn consent(user: &Client, body: Value) -> String {
    let r = user
        .post("/api/v1/oauth2/authorize/consent", &body)
        .expect(200)
        .json();
    let to = r["redirect_to"].as_str().unwrap();
    let query = to.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("code="))
        .unwrap()
        .to_owned()
}

/// Exchanges `code` with body credentials; `extra` adds or replaces parameters.
fn exchange(anon: &Client, app: &(String, String), code: &str, extra: &[(&str, &str)]) -> Response {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", app.0.as_str()),
        ("client_secret", app.1.as_str()),
    ];
    for (key, value) in extra {
        pairs.retain(|(k, _)| k != key);
        pairs.push((key, value));
    }
    form(anon, "/api/v1/oauth2/token", &pairs, None)
}

/// A full grant of `scope`: consent, then the exchange; returns the token response.
fn grant(anon: &Client, user: &Client, app: &(String, String), scope: &str) -> Value {
    let code = consent(
        user,
        json!({ "client_id": app.0, "scope": scope, "redirect_uri": REDIRECT, "response_type": "code" }),
    );
    exchange(anon, app, &code, &[]).expect(200).json()
}

fn bearer(anon: &Client, token: &Value) -> Client {
    anon.with_token(&format!(
        "Bearer {}",
        token["access_token"].as_str().unwrap()
    ))
}

#[test]
fn a_standard_oauth2_client_logs_in_with_fluxer() {
    let server = Server::start(&[]);
    let anon = server.client();
    let (alice, _) = register(&anon, "olga@example.com", "olga");
    create_guild(&alice, "OAuth Guild");
    let (id, secret) = application(&alice, "Standard Client");
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/e2e/oauth2_client.py"
        ))
        .env("FLUXER_BASE", &server.base)
        .env("FLUXER_USER_TOKEN", alice.token.as_deref().unwrap())
        .env("FLUXER_USER_EMAIL", "olga@example.com")
        .env("FLUXER_CLIENT_ID", &id)
        .env("FLUXER_CLIENT_SECRET", &secret)
        .env("FLUXER_REDIRECT_URI", REDIRECT)
        .env("FLUXER_OTHER_REDIRECT_URI", OTHER_REDIRECT)
        .output()
        .expect("python3 must be installed to run the OAuth2 client (authlib)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the authlib client failed ({}):\n{stdout}\n{stderr}\ninstall it with `pip install -r tests/requirements.txt`",
        out.status
    );
    assert!(stdout.contains("11 passed, 0 failed"), "{stdout}");
    // The grants it left are the user's authorizations: the replayed code revoked the earlier
    // ones, the last check's is left.
    let listed = alice
        .get("/api/v1/oauth2/@me/authorizations")
        .expect(200)
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["application"]["id"], id.as_str());
    assert_eq!(listed[0]["application"]["name"], "Standard Client");
    assert_eq!(listed[0]["scopes"], json!(["identify"]), "{listed}");
}

#[test]
fn oauth2_consent_tokens_scopes_and_refusals() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__AUTH__OAUTH2_CODE_TTL_SECS", "3"),
        ("FLUXER_CONFIG__LOG__LEVEL", "debug"),
    ]);
    let anon = server.client();
    let (owner, _) = register(&anon, "pavel@example.com", "pavel");
    let (user, _) = register(&anon, "quinn@example.com", "quinn");
    create_guild(&user, "Quinn's");
    let app = application(&owner, "Scoped App");
    let mut secrets: Vec<String> = vec![app.1.clone()];
    // The secret is shown once: not when the application is read again.
    let read = owner
        .get(&format!("/api/v1/oauth2/applications/{}", app.0))
        .expect(200)
        .json();
    assert!(read.get("client_secret").is_none(), "{read}");

    // Consent's checks.
    let consent_body = |extra: Value| {
        let mut body = json!({ "client_id": app.0, "scope": "identify", "redirect_uri": REDIRECT });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let refuse = |body: Value, status: u16, error: &str| {
        expect_oauth_error(
            user.post("/api/v1/oauth2/authorize/consent", &body),
            status,
            error,
        )
    };
    refuse(
        consent_body(json!({ "scope": "identify nope" })),
        400,
        "invalid_scope",
    );
    refuse(
        consent_body(json!({ "scope": "identify admin" })),
        400,
        "invalid_scope",
    );
    refuse(
        consent_body(json!({ "redirect_uri": null })),
        400,
        "invalid_request",
    );
    refuse(
        consent_body(json!({ "redirect_uri": "https://evil.example/cb" })),
        400,
        "invalid_request",
    );
    refuse(
        consent_body(json!({ "response_type": "token" })),
        400,
        "invalid_request",
    );
    refuse(
        consent_body(json!({ "code_challenge": CHALLENGE, "code_challenge_method": "plain" })),
        400,
        "invalid_request",
    );
    refuse(
        consent_body(json!({ "client_id": "123456789012345678" })),
        400,
        "invalid_client",
    );
    anon.post("/api/v1/oauth2/authorize/consent", &consent_body(json!({})))
        .expect_error(401, "UNAUTHORIZED");
    // The state comes back with the code.
    let r = user
        .post(
            "/api/v1/oauth2/authorize/consent",
            &consent_body(json!({ "state": "xyz 1" })),
        )
        .expect(200)
        .json();
    let to = r["redirect_to"].as_str().unwrap();
    assert!(to.starts_with(&format!("{REDIRECT}?code=")), "{to}");
    assert!(to.ends_with("&state=xyz+1"), "{to}");

    // The exchange, by body credentials; the response is not to be cached.
    let code = consent(&user, consent_body(json!({ "scope": "identify email" })));
    let r = exchange(&anon, &app, &code, &[]).expect(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let tokens = r.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 604_800);
    assert_eq!(tokens["scope"], "identify email");
    assert_eq!(tokens["access_token"].as_str().unwrap().len(), 43);
    for key in ["access_token", "refresh_token"] {
        secrets.push(tokens[key].as_str().unwrap().to_owned());
    }
    secrets.push(code.clone());

    // Client authentication failures: 400 with body credentials, 401 and a challenge with Basic.
    let code = consent(&user, consent_body(json!({})));
    let wrong = (app.0.clone(), "wrong".to_owned());
    expect_oauth_error(exchange(&anon, &wrong, &code, &[]), 400, "invalid_client");
    let r = form(
        &anon,
        "/api/v1/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((&app.0, "wrong")),
    );
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"fluxer\""));
    expect_oauth_error(r, 401, "invalid_client");
    let r = form(
        &anon,
        "/api/v1/oauth2/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
        Some((&app.0, &app.1)),
    );
    r.expect(200);
    expect_oauth_error(
        form(
            &anon,
            "/api/v1/oauth2/token",
            &[("grant_type", "client_credentials")],
            Some((&app.0, &app.1)),
        ),
        400,
        "unsupported_grant_type",
    );
    // A parameter given twice is malformed.
    anon.raw(
        "POST",
        "/api/v1/oauth2/token",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"grant_type=refresh_token&grant_type=authorization_code",
    )
    .expect_error(400, "INVALID_FORM_BODY");

    // A wrong redirect URI is refused, and spends the code.
    let code = consent(&user, consent_body(json!({})));
    expect_oauth_error(
        exchange(&anon, &app, &code, &[("redirect_uri", OTHER_REDIRECT)]),
        400,
        "invalid_grant",
    );
    expect_oauth_error(exchange(&anon, &app, &code, &[]), 400, "invalid_grant");

    // PKCE: the code is bound to the challenge.
    let pkce = || {
        consent(
            &user,
            consent_body(json!({ "code_challenge": CHALLENGE, "code_challenge_method": "S256" })),
        )
    };
    expect_oauth_error(exchange(&anon, &app, &pkce(), &[]), 400, "invalid_grant");
    expect_oauth_error(
        exchange(&anon, &app, &pkce(), &[("code_verifier", &"x".repeat(43))]),
        400,
        "invalid_grant",
    );
    exchange(&anon, &app, &pkce(), &[("code_verifier", VERIFIER)]).expect(200);
    // A verifier for a code without a challenge is refused too.
    let code = consent(&user, consent_body(json!({})));
    expect_oauth_error(
        exchange(&anon, &app, &code, &[("code_verifier", VERIFIER)]),
        400,
        "invalid_grant",
    );

    // A code expires (3 s here).
    let code = consent(&user, consent_body(json!({})));
    std::thread::sleep(std::time::Duration::from_millis(3_500));
    expect_oauth_error(exchange(&anon, &app, &code, &[]), 400, "invalid_grant");

    // Scopes on bearer routes.
    let identify = bearer(&anon, &grant(&anon, &user, &app, "identify"));
    let me = identify.get("/api/v1/users/@me").expect(200).json();
    assert_eq!(me["username"], "quinn");
    assert!(
        me["email"].is_null(),
        "no email without the email scope: {me}"
    );
    let with_email = bearer(&anon, &tokens);
    assert_eq!(
        with_email.get("/api/v1/users/@me").expect(200).json()["email"],
        "quinn@example.com"
    );
    let v = identify
        .get("/api/v1/users/@me/guilds")
        .expect_error(403, "MISSING_OAUTH_SCOPE");
    assert_eq!(v["required_scope"], "guilds");
    identify
        .get("/api/v1/users/@me/channels")
        .expect_error(403, "ACCESS_DENIED");
    identify
        .get("/api/v1/oauth2/@me/authorizations")
        .expect_error(403, "ACCESS_DENIED");
    identify
        .post("/api/v1/guilds", &json!({ "name": "Not through a token" }))
        .expect_error(403, "ACCESS_DENIED");
    let guilds_only = grant(&anon, &user, &app, "guilds");
    let guilds = bearer(&anon, &guilds_only);
    assert_eq!(
        guilds.get("/api/v1/users/@me/guilds").expect(200).json()[0]["name"],
        "Quinn's"
    );
    guilds
        .get("/api/v1/users/@me")
        .expect_error(403, "MISSING_OAUTH_SCOPE");
    guilds
        .get("/api/v1/oauth2/userinfo")
        .expect_error(403, "MISSING_OAUTH_SCOPE");
    // /oauth2/@me: the application, scopes and expiry; the user only with identify.
    let about = guilds.get("/api/v1/oauth2/@me").expect(200).json();
    assert_eq!(about["application"]["id"], app.0.as_str());
    assert_eq!(about["application"]["flags"], 0);
    assert_eq!(about["scopes"], json!(["guilds"]));
    assert!(about["expires"].as_str().unwrap().ends_with('Z'));
    assert!(about.get("user").is_none(), "{about}");
    let about = with_email.get("/api/v1/oauth2/@me").expect(200).json();
    assert_eq!(about["user"]["username"], "quinn");
    assert_eq!(about["user"]["email"], "quinn@example.com");
    let info = identify.get("/api/v1/oauth2/userinfo").expect(200).json();
    assert_eq!(info["sub"], info["id"]);
    assert!(
        info["email"].is_null() && info.get("verified").is_none(),
        "{info}"
    );
    // userinfo and @me are for bearer tokens; a bad token is 401.
    user.get("/api/v1/oauth2/userinfo")
        .expect_error(401, "UNAUTHORIZED");
    user.get("/api/v1/oauth2/@me")
        .expect_error(401, "UNAUTHORIZED");
    anon.with_token("Bearer 0123456789012345678901234567890123456789abc")
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");

    // Refresh rotation: a new pair; the old refresh token is spent.
    let old = tokens["refresh_token"].as_str().unwrap();
    let refresh = |token: &str| {
        form(
            &anon,
            "/api/v1/oauth2/token",
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            Some((&app.0, &app.1)),
        )
    };
    let rotated = refresh(old).expect(200).json();
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);
    assert_eq!(rotated["scope"], "identify email");
    secrets.push(rotated["refresh_token"].as_str().unwrap().to_owned());
    // Another client cannot use it.
    let other = application(&owner, "Other App");
    expect_oauth_error(
        form(
            &anon,
            "/api/v1/oauth2/token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rotated["refresh_token"].as_str().unwrap()),
            ],
            Some((&other.0, &other.1)),
        ),
        400,
        "invalid_grant",
    );
    // Deleting an application ends its grants.
    let doomed = grant(&anon, &user, &other, "identify");
    bearer(&anon, &doomed).get("/api/v1/users/@me").expect(200);
    owner
        .send(
            "DELETE",
            &format!("/api/v1/oauth2/applications/{}", other.0),
            &json!({ "password": "correct horse battery" }),
        )
        .expect(204);
    bearer(&anon, &doomed)
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    let other = application(&owner, "Another App");
    let introspect = |client: &(String, String), token: &str| {
        form(
            &anon,
            "/api/v1/oauth2/introspect",
            &[("token", token)],
            Some((&client.0, &client.1)),
        )
        .expect(200)
        .json()
    };
    let live = rotated["access_token"].as_str().unwrap();
    let seen = introspect(&app, live);
    assert_eq!(seen["active"], true);
    assert_eq!(seen["username"], "quinn");
    assert_eq!(introspect(&other, live), json!({ "active": false }));
    form(
        &anon,
        "/api/v1/oauth2/introspect",
        &[("token", "")],
        Some((&app.0, &app.1)),
    )
    .expect_error(400, "INVALID_FORM_BODY");

    // The user's authorizations, and revoking one ends every token of it.
    let listed = user
        .get("/api/v1/oauth2/@me/authorizations")
        .expect(200)
        .json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed[0]["scopes"],
        json!(["identify", "email", "guilds"]),
        "{listed}"
    );
    user.delete("/api/v1/oauth2/@me/authorizations/123456789012345678")
        .expect_error(404, "UNKNOWN_APPLICATION");
    user.delete(&format!("/api/v1/oauth2/@me/authorizations/{}", app.0))
        .expect(204);
    bearer(&anon, &rotated)
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    guilds
        .get("/api/v1/users/@me/guilds")
        .expect_error(401, "UNAUTHORIZED");
    expect_oauth_error(
        refresh(rotated["refresh_token"].as_str().unwrap()),
        400,
        "invalid_grant",
    );
    assert_eq!(
        user.get("/api/v1/oauth2/@me/authorizations")
            .expect(200)
            .json(),
        json!([])
    );

    // A code is good once, and presenting it again revokes what it gave (RFC 6749 §4.1.2).
    let code = consent(&user, consent_body(json!({})));
    let first = exchange(&anon, &app, &code, &[]).expect(200).json();
    bearer(&anon, &first).get("/api/v1/users/@me").expect(200);
    expect_oauth_error(exchange(&anon, &app, &code, &[]), 400, "invalid_grant");
    bearer(&anon, &first)
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    expect_oauth_error(
        refresh(first["refresh_token"].as_str().unwrap()),
        400,
        "invalid_grant",
    );
    // So does a rotated refresh token presented again: the new pair dies with the grant.
    let before = grant(&anon, &user, &app, "identify");
    let after = refresh(before["refresh_token"].as_str().unwrap())
        .expect(200)
        .json();
    bearer(&anon, &after).get("/api/v1/users/@me").expect(200);
    expect_oauth_error(
        refresh(before["refresh_token"].as_str().unwrap()),
        400,
        "invalid_grant",
    );
    bearer(&anon, &after)
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    expect_oauth_error(
        refresh(after["refresh_token"].as_str().unwrap()),
        400,
        "invalid_grant",
    );
    // Another client presenting a spent token revokes nothing of this one's.
    let safe = grant(&anon, &user, &app, "identify");
    let spent = safe["refresh_token"].as_str().unwrap().to_owned();
    let safe = refresh(&spent).expect(200).json();
    expect_oauth_error(
        form(
            &anon,
            "/api/v1/oauth2/token",
            &[("grant_type", "refresh_token"), ("refresh_token", &spent)],
            Some((&other.0, &other.1)),
        ),
        400,
        "invalid_grant",
    );
    bearer(&anon, &safe).get("/api/v1/users/@me").expect(200);
    user.delete(&format!("/api/v1/oauth2/@me/authorizations/{}", app.0))
        .expect(204);

    // Rotating the client secret: sudo mode; the old secret stops working, tokens stay.
    let kept = grant(&anon, &user, &app, "identify");
    let reset_path = format!("/api/v1/oauth2/applications/{}/client-secret/reset", app.0);
    owner
        .post(&reset_path, &json!({}))
        .expect_error(403, "SUDO_MODE_REQUIRED");
    user.post(&reset_path, &json!({ "password": "correct horse battery" }))
        .expect_error(404, "UNKNOWN_APPLICATION");
    let reset = owner
        .post(&reset_path, &json!({ "password": "correct horse battery" }))
        .expect(200)
        .json();
    let new_secret = reset["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, app.1);
    secrets.push(new_secret.clone());
    expect_oauth_error(
        form(
            &anon,
            "/api/v1/oauth2/token/revoke",
            &[("token", kept["access_token"].as_str().unwrap())],
            Some((&app.0, &app.1)),
        ),
        401,
        "invalid_client",
    );
    let app = (app.0.clone(), new_secret);
    bearer(&anon, &kept).get("/api/v1/users/@me").expect(200);
    exchange(&anon, &app, &consent(&user, consent_body(json!({}))), &[]).expect(200);

    // Revoking a refresh token revokes its grant (RFC 7009), answered 200 either way.
    form(
        &anon,
        "/api/v1/oauth2/token/revoke",
        &[
            ("token", kept["refresh_token"].as_str().unwrap()),
            ("token_type_hint", "refresh_token"),
        ],
        Some((&app.0, &app.1)),
    )
    .expect(200);
    bearer(&anon, &kept)
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");
    form(
        &anon,
        "/api/v1/oauth2/token/revoke",
        &[("token", "never-issued")],
        Some((&app.0, &app.1)),
    )
    .expect(200);

    // The public application, for consent screens.
    let public = anon
        .get(&format!("/api/v1/oauth2/applications/{}/public", app.0))
        .expect(200)
        .json();
    assert_eq!(public["name"], "Scoped App");
    assert_eq!(public["scopes"], json!(["bot"]));
    assert_eq!(public["redirect_uris"], json!([REDIRECT, OTHER_REDIRECT]));
    assert_eq!(public["bot"]["id"], app.0.as_str());
    assert!(public.get("client_secret").is_none());
    anon.get("/api/v1/oauth2/applications/123456789012345678/public")
        .expect_error(404, "UNKNOWN_APPLICATION");

    // The bot's profile.
    let bot_path = format!("/api/v1/oauth2/applications/{}/bot", app.0);
    let profile = owner
        .patch(
            &bot_path,
            &json!({ "username": "scoped_bot", "bio": "I read scopes.", "bot_flags": 16 }),
        )
        .expect(200)
        .json();
    assert_eq!(profile["username"], "scoped_bot");
    assert_eq!(profile["bio"], "I read scopes.");
    assert_eq!(profile["id"], app.0.as_str());
    let bot_user = owner
        .get(&format!("/api/v1/users/{}", app.0))
        .expect(200)
        .json();
    assert_eq!(bot_user["username"], "scoped_bot");
    assert_eq!(bot_user["flags"].as_u64().unwrap() & 16, 16, "{bot_user}");
    let current: u16 = bot_user["discriminator"].as_str().unwrap().parse().unwrap();
    owner
        .patch(
            &bot_path,
            &json!({ "discriminator": format!("{:04}", current % 9999 + 1) }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    owner
        .patch(&bot_path, &json!({ "discriminator": current }))
        .expect(200);
    owner
        .patch(&bot_path, &json!({ "bot_flags": 1 }))
        .expect_error(400, "INVALID_FORM_BODY");
    user.patch(&bot_path, &json!({ "bio": "mine now" }))
        .expect_error(404, "UNKNOWN_APPLICATION");

    // An application's redirect URIs must be HTTPS (HTTP on loopback only).
    owner
        .post(
            "/api/v1/oauth2/applications",
            &json!({ "name": "Sloppy", "redirect_uris": ["http://client.example/cb"] }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // A user who asks for the account's deletion is logged out of applications too.
    let (leaver, _) = register(&anon, "sam@example.com", "sam");
    let leaving = grant(&anon, &leaver, &app, "identify");
    bearer(&anon, &leaving).get("/api/v1/users/@me").expect(200);
    leaver
        .post(
            "/api/v1/users/@me/delete",
            &json!({ "password": "correct horse battery" }),
        )
        .expect(204);
    bearer(&anon, &leaving)
        .get("/api/v1/users/@me")
        .expect_error(401, "UNAUTHORIZED");

    // No code, token or secret ever reaches the log (which has a line for every request).
    let log = server.log();
    assert!(log.contains("/oauth2/token"), "the log records requests");
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a credential is in the log");
    }
}

/// Tokens live in the database: they work after a restart.
#[test]
fn oauth2_tokens_survive_a_restart() {
    let mut server = Server::start(&[]);
    let anon = server.client();
    let (owner, _) = register(&anon, "rosa@example.com", "rosa");
    let app = application(&owner, "Durable App");
    let tokens = grant(&anon, &owner, &app, "identify");
    assert!(server.terminate().success());
    let server = Server::start_in(server.keep_data(), &[]);
    let anon = server.client();
    let me = bearer(&anon, &tokens)
        .get("/api/v1/users/@me")
        .expect(200)
        .json();
    assert_eq!(me["username"], "rosa");
    let rotated = form(
        &anon,
        "/api/v1/oauth2/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &app.0),
            ("client_secret", &app.1),
        ],
        None,
    )
    .expect(200)
    .json();
    bearer(&anon, &rotated)
        .get("/api/v1/oauth2/userinfo")
        .expect(200);
}
