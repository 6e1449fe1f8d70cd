//! Single sign-on end to end: the server as an OpenID Connect relying party of a real provider
//! (`oidc-provider` from npm, a certified implementation, run by `tests/sso/provider.mjs` on
//! loopback), driven without a browser: `/auth/sso/start`, the provider's authorization endpoint
//! and login (finished by the script for the `login_hint` account), the callback's code and state,
//! `/auth/sso/complete`, and the session on `/users/@me`. Then what must be refused: replayed
//! states and codes, unknown states, ID tokens with a wrong nonce, audience or issuer, expired or
//! badly signed (from the script's lying issuer), unverified emails, disallowed domains, unknown
//! people without auto-provisioning, and password sign-in when SSO is enforced. No code, token or
//! secret reaches the server's log.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Client, Server};
use crate::register;

const CLIENT_ID: &str = "fluxer";
const CLIENT_SECRET: &str = "sso-client-secret-7f3a";
const REDIRECT: &str = "http://127.0.0.1:9/auth/sso/callback";

/// The script's two issuers; stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
    liar: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sso_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/sso")
}

impl Provider {
    fn start() -> Provider {
        let dir = sso_dir();
        if !dir.join("node_modules/oidc-provider").exists() {
            // A fresh checkout: install the pinned packages (package-lock.json) once.
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm is installed (Node.js runs the OpenID provider)");
            assert!(status.success(), "npm ci in tests/sso failed");
        }
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("SSO_CLIENT_ID", CLIENT_ID)
            .env("SSO_CLIENT_SECRET", CLIENT_SECRET)
            .env("SSO_REDIRECT_URI", REDIRECT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node is installed");
        // Its warnings and errors go to the test's output (shown when a test fails).
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                println!("[oidc] {line}");
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("the provider prints its addresses");
        // Keep the pipe open and drained: the script dies of a closed stdout.
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                println!("[oidc] {line}");
            }
        });
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("provider output {line:?}: {e}"));
        Provider {
            issuer: v["issuer"].as_str().unwrap().to_owned(),
            liar: v["liar"].as_str().unwrap().to_owned(),
            child,
        }
    }
}

/// A server signing in through `issuer`, with more `FLUXER_CONFIG__AUTH__SSO__*` settings.
fn sso_server(issuer: &str, extra: &[(&str, &str)]) -> Server {
    sso_server_in(None, issuer, extra)
}

fn sso_server_in(data: Option<PathBuf>, issuer: &str, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![
        ("FLUXER_CONFIG__AUTH__SSO__ENABLED", "true"),
        ("FLUXER_CONFIG__AUTH__SSO__ISSUER", issuer),
        ("FLUXER_CONFIG__AUTH__SSO__CLIENT_ID", CLIENT_ID),
        ("FLUXER_CONFIG__AUTH__SSO__CLIENT_SECRET", CLIENT_SECRET),
        ("FLUXER_CONFIG__AUTH__SSO__REDIRECT_URI", REDIRECT),
        // Everything the server says, to show that no credential is in it.
        ("FLUXER_CONFIG__LOG__LEVEL", "debug"),
    ];
    env.extend_from_slice(extra);
    match data {
        Some(dir) => Server::start_in(dir, &env),
        None => Server::start(&env),
    }
}

/// What the provider sent the browser back with.
struct Callback {
    code: String,
    state: String,
}

/// `origin` + path of an absolute URL at `origin`, or the path given.
fn path_at(origin: &str, url: &str) -> String {
    match url.strip_prefix(origin) {
        Some(path) => path.to_owned(),
        None if url.starts_with('/') => url.to_owned(),
        None => panic!("{url} left {origin}"),
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// Follows the authorization URL through the provider (as a browser would, with its cookies) to
/// the redirect back, signing in as `account`.
fn authorize(issuer: &str, authorization_url: &str, account: &str) -> Callback {
    assert!(
        authorization_url.starts_with(&format!("{issuer}/")),
        "{authorization_url}"
    );
    for param in ["code_challenge", "nonce", "state"] {
        assert!(
            query_param(authorization_url, param).is_some_and(|v| v.len() >= 20),
            "{param} in {authorization_url}"
        );
    }
    assert_eq!(
        query_param(authorization_url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    let provider = Client {
        addr: issuer.trim_start_matches("http://").to_owned(),
        token: None,
        retry_on_429: false,
    };
    let mut cookies: Vec<(String, String)> = Vec::new();
    let mut url = format!("{authorization_url}&login_hint={account}");
    for _ in 0..8 {
        let jar = cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let headers: Vec<(&str, &str)> = if jar.is_empty() {
            vec![]
        } else {
            vec![("Cookie", jar.as_str())]
        };
        let r = provider.raw("GET", &path_at(issuer, &url), &headers, b"");
        for (name, value) in &r.headers {
            if name == "set-cookie"
                && let Some((k, v)) = value.split(';').next().and_then(|c| c.split_once('='))
            {
                cookies.retain(|(n, _)| n != k);
                cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        let location = r.header("location").unwrap_or_else(|| {
            panic!(
                "{} without a redirect: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )
        });
        if location.starts_with(REDIRECT) {
            return Callback {
                code: query_param(location, "code").expect("code"),
                state: query_param(location, "state").expect("state"),
            };
        }
        url = location.to_owned();
    }
    panic!("the provider never redirected back");
}

/// `/auth/sso/start` then the provider: the callback's code and state.
fn start(c: &Client, issuer: &str, account: &str, redirect_to: Option<&str>) -> Callback {
    let started = c
        .post(
            "/api/v1/auth/sso/start",
            &json!({ "redirect_to": redirect_to }),
        )
        .expect(200)
        .json();
    assert_eq!(started["redirect_uri"], REDIRECT, "{started}");
    let url = started["authorization_url"].as_str().unwrap();
    let callback = authorize(issuer, url, account);
    assert_eq!(callback.state, started["state"].as_str().unwrap());
    callback
}

fn complete(c: &Client, cb: &Callback) -> crate::harness::Response {
    c.post(
        "/api/v1/auth/sso/complete",
        &json!({ "code": cb.code, "state": cb.state }),
    )
}

/// Signs in as `account` and returns the completion (token, user_id, redirect_to).
fn sso_login(c: &Client, issuer: &str, account: &str) -> Value {
    let cb = start(c, issuer, account, None);
    complete(c, &cb).expect(200).json()
}

fn me(c: &Client, token: &str) -> Value {
    c.with_token(token)
        .get("/api/v1/users/@me")
        .expect(200)
        .json()
}

#[test]
fn sso_signs_in_with_a_real_openid_provider() {
    let provider = Provider::start();
    let server = sso_server(
        &provider.issuer,
        &[
            ("FLUXER_CONFIG__AUTH__SSO__DISPLAY_NAME", "Corp ID"),
            (
                "FLUXER_CONFIG__AUTH__SSO__ALLOWED_DOMAINS",
                r#"["corp.test"]"#,
            ),
        ],
    );
    let anon = server.client();
    let status = anon.get("/api/v1/auth/sso/status").expect(200).json();
    assert_eq!(
        status,
        json!({ "enabled": true, "enforced": false, "display_name": "Corp ID", "redirect_uri": REDIRECT })
    );
    let well_known = anon.get("/.well-known/fluxer").expect(200).json();
    assert_eq!(well_known["sso"], status);

    // Alice has a password account; her provider vouches for the same address: she is linked.
    let (_, alice_id) = register(&anon, "alice@corp.test", "alice_pw");
    let cb = start(&anon, &provider.issuer, "alice", Some("/channels/@me"));
    let done = complete(&anon, &cb).expect(200).json();
    assert_eq!(done["user_id"], alice_id.as_str(), "{done}");
    assert_eq!(done["redirect_to"], "/channels/@me");
    let token = done["token"].as_str().unwrap();
    assert!(token.starts_with("flx_"), "a normal session: {token}");
    assert_eq!(me(&anon, token)["email"], "alice@corp.test");
    // The session is listed with the others.
    let sessions = anon
        .with_token(token)
        .get("/api/v1/auth/sessions")
        .expect(200)
        .json();
    assert_eq!(sessions.as_array().unwrap().len(), 2, "{sessions}");

    // A state works once, even with its (already used) code.
    complete(&anon, &cb).expect_error(400, "INVALID_FORM_BODY");
    // A used code with a fresh state: the provider refuses it (and its PKCE verifier differs).
    let fresh = start(&anon, &provider.issuer, "alice", None);
    let replay = Callback {
        code: cb.code.clone(),
        state: fresh.state.clone(),
    };
    let refused = complete(&anon, &replay).expect_error(400, "INVALID_FORM_BODY");
    assert!(refused.to_string().contains("code"), "{refused}");
    // Nor may a code go with a state it was not issued for... or a state nobody issued.
    complete(
        &anon,
        &Callback {
            code: fresh.code.clone(),
            state: "0123456789abcdef0123456789abcdef".into(),
        },
    )
    .expect_error(400, "INVALID_FORM_BODY");
    complete(
        &anon,
        &Callback {
            code: String::new(),
            state: fresh.state.clone(),
        },
    )
    .expect_error(400, "INVALID_FORM_BODY");

    // Bob has no account: one is made for him, verified, named after his provider username; his
    // next sign-in finds it by his subject.
    let bob = sso_login(&anon, &provider.issuer, "bob");
    let bob_me = me(&anon, bob["token"].as_str().unwrap());
    assert_eq!(bob_me["username"], "bob", "{bob_me}");
    assert_eq!(bob_me["global_name"], "Bob Builder");
    assert_eq!(bob_me["email"], "bob@corp.test");
    assert_eq!(bob_me["verified"], true);
    assert_ne!(bob["user_id"], alice_id.as_str());
    assert_eq!(
        sso_login(&anon, &provider.issuer, "bob")["user_id"],
        bob["user_id"]
    );

    // Carol's domain is not allowed.
    let cb = start(&anon, &provider.issuer, "carol", None);
    let refused = complete(&anon, &cb).expect_error(400, "INVALID_FORM_BODY");
    assert!(
        refused.to_string().contains("SSO_EMAIL_DOMAIN_NOT_ALLOWED"),
        "{refused}"
    );
    // Eve claims Alice's address without her provider verifying it: no takeover.
    let cb = start(&anon, &provider.issuer, "eve", None);
    let refused = complete(&anon, &cb).expect_error(400, "INVALID_FORM_BODY");
    assert!(
        refused.to_string().contains("SSO_EMAIL_NOT_VERIFIED"),
        "{refused}"
    );

    // Not enforced: passwords still work.
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "alice@corp.test", "password": "correct horse battery" }),
    )
    .expect(200);

    let log = server.log();
    assert!(!log.is_empty());
    for secret in [
        cb.code.as_str(),
        cb.state.as_str(),
        token,
        bob["token"].as_str().unwrap(),
        CLIENT_SECRET,
    ] {
        assert!(!log.contains(secret), "{secret} is in the log");
    }
}

#[test]
fn sso_refuses_id_tokens_that_fail_validation() {
    let provider = Provider::start();
    let server = sso_server(&provider.liar, &[]);
    let anon = server.client();
    // The lying issuer signs valid ES256 tokens when asked to: the refusals below are the flaws'.
    let honest = sso_login(&anon, &provider.liar, "honest");
    assert_eq!(
        me(&anon, honest["token"].as_str().unwrap())["email"],
        "honest@corp.test"
    );
    for flaw in [
        "wrong_nonce",
        "wrong_aud",
        "wrong_iss",
        "expired",
        "bad_sig",
    ] {
        let cb = start(&anon, &provider.liar, flaw, None);
        let refused = complete(&anon, &cb).expect_error(400, "INVALID_FORM_BODY");
        assert!(
            refused.to_string().contains("INVALID_SSO_TOKEN"),
            "{flaw}: {refused}"
        );
    }
    let log = server.log();
    assert!(
        log.contains("nonce") || log.contains("rejected"),
        "the refusals are logged with their reason"
    );
}

#[test]
fn sso_enforced_blocks_passwords_and_provisioning_can_be_off() {
    let provider = Provider::start();
    // SSO off: the routes say so.
    let plain = Server::start(&[]);
    let anon = plain.client();
    let status = anon.get("/api/v1/auth/sso/status").expect(200).json();
    assert_eq!(status["enabled"], false);
    assert_eq!(status["enforced"], false);
    anon.post("/api/v1/auth/sso/start", &json!({}))
        .expect_error(403, "FEATURE_TEMPORARILY_DISABLED");
    // Alice registers while passwords are allowed...
    let (_, alice_id) = register(&anon, "alice@corp.test", "alice_pw");
    let data = plain.kill_keeping_data();

    // ...then the operator enforces SSO, without creating accounts.
    let server = sso_server_in(
        Some(data),
        &provider.issuer,
        &[
            ("FLUXER_CONFIG__AUTH__SSO__ENFORCED", "true"),
            ("FLUXER_CONFIG__AUTH__SSO__AUTO_PROVISION", "false"),
        ],
    );
    let anon = server.client();
    let status = anon.get("/api/v1/auth/sso/status").expect(200).json();
    assert_eq!(status["enforced"], true);
    assert_eq!(
        anon.get("/.well-known/fluxer").expect(200).json()["sso"]["enforced"],
        true
    );
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "alice@corp.test", "password": "correct horse battery" }),
    )
    .expect_error(403, "SSO_REQUIRED");
    anon.post(
        "/api/v1/auth/register",
        &json!({ "email": "new@corp.test", "username": "new", "password": "correct horse battery", "date_of_birth": "1990-01-01", "consent": true }),
    )
    .expect_error(403, "SSO_REQUIRED");
    anon.post(
        "/api/v1/auth/forgot",
        &json!({ "email": "alice@corp.test" }),
    )
    .expect_error(403, "SSO_REQUIRED");

    // Alice signs in through SSO to her account; Bob, unknown, is refused.
    let alice = sso_login(&anon, &provider.issuer, "alice");
    assert_eq!(alice["user_id"], alice_id.as_str());
    me(&anon, alice["token"].as_str().unwrap());
    let cb = start(&anon, &provider.issuer, "bob", None);
    complete(&anon, &cb).expect_error(403, "SSO_REQUIRED");
}

#[test]
fn sso_set_by_staff_replaces_the_config_files() {
    let provider = Provider::start();
    // Nothing about SSO in the config file: it is off.
    let server = Server::start(&[("FLUXER_CONFIG__LOG__LEVEL", "debug")]);
    let anon = server.client();
    let (op, _) = crate::staff(&server, "ops@corp.test", "ops");
    assert_eq!(
        anon.get("/api/v1/auth/sso/status").expect(200).json()["enabled"],
        false
    );
    anon.post("/api/v1/auth/sso/start", &json!({}))
        .expect_error(403, "FEATURE_TEMPORARILY_DISABLED");
    let config = op
        .post("/api/v1/admin/instance-config/get", &json!({}))
        .expect(200)
        .json();
    assert_eq!(config["sso"]["enabled"], false, "{config}");
    assert_eq!(config["sso"]["client_secret_set"], false, "{config}");

    // Bad settings are refused whole: nothing changes.
    let update = |sso: Value| {
        op.post(
            "/api/v1/admin/instance-config/update",
            &json!({ "sso": sso }),
        )
    };
    let refused = update(json!({ "enabled": true, "issuer": "not a url", "client_id": CLIENT_ID }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert!(refused.to_string().contains("sso.issuer"), "{refused}");
    update(
        json!({ "enabled": true, "issuer": provider.issuer, "client_id": CLIENT_ID,
                   "token_url": "https://elsewhere.test/token" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    update(json!({ "enabled": true, "surprise": 1 })).expect(400);
    assert_eq!(
        anon.get("/api/v1/auth/sso/status").expect(200).json()["enabled"],
        false
    );

    // Staff turn it on: the answer shows no secret, only that one is set.
    let saved = update(json!({
        "enabled": true,
        "display_name": "Corp ID",
        "issuer": provider.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "openid email profile",
        "allowed_domains": ["corp.test"],
        "redirect_uri": REDIRECT,
    }))
    .expect(200)
    .json();
    assert_eq!(saved["sso"]["client_secret_set"], true, "{saved}");
    assert_eq!(saved["sso"]["issuer"], provider.issuer.as_str(), "{saved}");
    assert!(!saved.to_string().contains(CLIENT_SECRET), "{saved}");
    let status = anon.get("/api/v1/auth/sso/status").expect(200).json();
    assert_eq!(
        status,
        json!({ "enabled": true, "enforced": false, "display_name": "Corp ID", "redirect_uri": REDIRECT })
    );
    assert_eq!(
        anon.get("/.well-known/fluxer").expect(200).json()["sso"],
        status
    );

    // /auth/sso/* now signs in through the provider staff named.
    let bob = sso_login(&anon, &provider.issuer, "bob");
    assert_eq!(
        me(&anon, bob["token"].as_str().unwrap())["email"],
        "bob@corp.test"
    );
    // Their allowed domains apply.
    let cb = start(&anon, &provider.issuer, "carol", None);
    let refused = complete(&anon, &cb).expect_error(400, "INVALID_FORM_BODY");
    assert!(
        refused.to_string().contains("SSO_EMAIL_DOMAIN_NOT_ALLOWED"),
        "{refused}"
    );

    // A wrong secret (changed alone; the rest kept): the provider refuses the code.
    update(json!({ "client_secret": "not-the-secret" })).expect(200);
    let cb = start(&anon, &provider.issuer, "bob", None);
    complete(&anon, &cb).expect_error(400, "INVALID_FORM_BODY");
    update(json!({ "client_secret": CLIENT_SECRET })).expect(200);
    assert_eq!(
        sso_login(&anon, &provider.issuer, "bob")["user_id"],
        bob["user_id"]
    );

    // Enforced: passwords stop working; then off again.
    update(json!({ "enforced": true })).expect(200);
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "ops@corp.test", "password": "correct horse battery" }),
    )
    .expect_error(403, "SSO_REQUIRED");
    update(json!({ "enabled": false, "enforced": false })).expect(200);
    anon.post("/api/v1/auth/sso/start", &json!({}))
        .expect_error(403, "FEATURE_TEMPORARILY_DISABLED");
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "ops@corp.test", "password": "correct horse battery" }),
    )
    .expect(200);

    // Every change is in the audit log, the secret never; nor in the server's log.
    let logs = op
        .post(
            "/api/v1/admin/audit-logs",
            &json!({ "target_type": "instance_config" }),
        )
        .expect(200)
        .json();
    let text = logs.to_string();
    assert!(text.contains("sso.client_secret_changed"), "{text}");
    assert!(
        !text.contains(CLIENT_SECRET) && !text.contains("not-the-secret"),
        "{text}"
    );
    let log = server.log();
    assert!(
        !log.contains(CLIENT_SECRET),
        "the client secret is in the log"
    );
}
