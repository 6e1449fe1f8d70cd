//! Signing in beyond the password: approving a login from a new address by email, and handing a
//! browser's login over to the desktop app with a code.

use serde_json::{Value, json};

use crate::background::{SmtpSink, extract_after, server_with_smtp_and};
use crate::harness::{Client, Response, Server};
use crate::register;

const PASSWORD: &str = "correct horse battery";

/// A login as if from `ip` (the server trusts loopback's `X-Forwarded-For`).
fn login_from(c: &Client, ip: &str, email: &str) -> Response {
    let body = serde_json::to_vec(&json!({ "email": email, "password": PASSWORD })).unwrap();
    c.raw(
        "POST",
        "/api/v1/auth/login",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", ip),
        ],
        &body,
    )
}

fn approval_link_token(sink: &SmtpSink, email: &str, nth: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mails = sink.all_to(email, "Approve a login");
        if mails.len() > nth {
            return extract_after(&mails[nth], "/authorize-ip#token=").to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no approval email #{nth}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_login_from_a_new_address_waits_for_the_emailed_approval() {
    let sink = SmtpSink::start();
    let server = server_with_smtp_and(
        &sink,
        &[
            (
                "FLUXER_CONFIG__PROXY__TRUSTED_PROXIES",
                r#"["127.0.0.1/32"]"#,
            ),
            // Request logs too, to check no token reaches them.
            ("FLUXER_CONFIG__LOG__LEVEL", "debug"),
        ],
    );
    let mut c = server.client();
    // The 429s are under test: do not wait them out.
    c.retry_on_429 = false;
    // Registering from loopback makes loopback a known address: logging in from it just works.
    let (alice, alice_id) = register(&c, "ipauth@example.com", "ipauth");
    let known = login_from(&c, "127.0.0.1", "ipauth@example.com").expect(200);
    assert!(known.json()["token"].is_string());

    // A new address: 403 with a ticket, and an email with the approval link.
    let refused = login_from(&c, "203.0.113.7", "ipauth@example.com")
        .expect_error(403, "IP_AUTHORIZATION_REQUIRED");
    assert_eq!(refused["ip_authorization_required"], true, "{refused}");
    assert_eq!(refused["email"], "ipauth@example.com");
    assert_eq!(refused["resend_available_in"], 30);
    let ticket = refused["ticket"].as_str().unwrap().to_owned();
    assert!(refused.get("token").is_none());
    let poll = |ticket: &str| {
        c.get(&format!(
            "/api/v1/auth/ip-authorization/poll?ticket={ticket}"
        ))
    };
    assert_eq!(
        poll(&ticket).expect(200).json(),
        json!({ "completed": false })
    );
    let token = approval_link_token(&sink, "ipauth@example.com", 0);
    let mail = &sink.all_to("ipauth@example.com", "Approve a login")[0];
    assert!(mail.contains("203.0.113.7"), "{mail}");

    // Asking again within 30 seconds is refused with the time left.
    let early = c
        .post(
            "/api/v1/auth/ip-authorization/resend",
            &json!({ "ticket": ticket }),
        )
        .expect_error(429, "IP_AUTHORIZATION_RESEND_COOLDOWN");
    let left = early["resend_available_in"].as_u64().unwrap();
    assert!((1..=30).contains(&left), "{early}");

    // A wrong link is refused; the right one approves once.
    c.post(
        "/api/v1/auth/authorize-ip",
        &json!({ "token": "x".repeat(64) }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    c.post("/api/v1/auth/authorize-ip", &json!({ "token": token }))
        .expect(204);
    c.post("/api/v1/auth/authorize-ip", &json!({ "token": token }))
        .expect_error(400, "INVALID_FORM_BODY");

    // The waiting client collects a working session.
    let done = poll(&ticket).expect(200).json();
    assert_eq!(done["completed"], true, "{done}");
    assert_eq!(done["user_id"], alice_id.as_str());
    let session = c.with_token(done["token"].as_str().unwrap());
    assert_eq!(
        session.get("/api/v1/users/@me").expect(200).json()["id"],
        alice_id.as_str()
    );
    let sessions = alice.get("/api/v1/auth/sessions").expect(200).json();
    assert_eq!(sessions.as_array().unwrap().len(), 3, "{sessions}");

    // The address is known now: the next login from it goes straight through.
    login_from(&c, "203.0.113.7", "ipauth@example.com").expect(200);

    // Forgetting every address needs sudo mode, then even loopback must be approved again.
    alice
        .send("DELETE", "/api/v1/users/@me/authorized-ips", &json!({}))
        .expect_error(403, "SUDO_MODE_REQUIRED");
    alice
        .send(
            "DELETE",
            "/api/v1/users/@me/authorized-ips",
            &json!({ "password": "wrong password" }),
        )
        .expect(400);
    alice
        .send(
            "DELETE",
            "/api/v1/users/@me/authorized-ips",
            &json!({ "password": PASSWORD }),
        )
        .expect(204);
    for ip in ["127.0.0.1", "203.0.113.7"] {
        login_from(&c, ip, "ipauth@example.com").expect_error(403, "IP_AUTHORIZATION_REQUIRED");
    }

    // An unknown ticket is an error, not a pending login; a wrong password never reveals the
    // check (it fails as a wrong password).
    poll("nonexistent").expect_error(400, "INVALID_FORM_BODY");
    let wrong = c.raw(
        "POST",
        "/api/v1/auth/login",
        &[
            ("Content-Type", "application/json"),
            ("X-Forwarded-For", "198.51.100.1"),
        ],
        &serde_json::to_vec(
            &json!({ "email": "ipauth@example.com", "password": "nope nope nope" }),
        )
        .unwrap(),
    );
    wrong.expect_error(400, "INVALID_FORM_BODY");

    // No approval token or session token reached the server's log.
    let log = server.log();
    assert!(
        log.contains("/auth/authorize-ip"),
        "request logs are on: {log}"
    );
    assert!(!log.contains(&token), "approval token in the log");
    assert!(
        !log.contains(done["token"].as_str().unwrap()),
        "session token in the log"
    );
}

#[test]
fn the_approval_email_can_be_sent_once_more_after_thirty_seconds() {
    let sink = SmtpSink::start();
    let server = server_with_smtp_and(
        &sink,
        &[(
            "FLUXER_CONFIG__PROXY__TRUSTED_PROXIES",
            r#"["127.0.0.1/32"]"#,
        )],
    );
    let mut c = server.client();
    c.retry_on_429 = false;
    register(&c, "resend@example.com", "resender");
    let ticket = login_from(&c, "192.0.2.44", "resend@example.com")
        .expect_error(403, "IP_AUTHORIZATION_REQUIRED")["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = approval_link_token(&sink, "resend@example.com", 0);
    std::thread::sleep(std::time::Duration::from_secs(30));
    let resend = json!({ "ticket": ticket });
    c.post("/api/v1/auth/ip-authorization/resend", &resend)
        .expect(204);
    let second = approval_link_token(&sink, "resend@example.com", 1);
    assert_ne!(first, second);
    let used_up = c
        .post("/api/v1/auth/ip-authorization/resend", &resend)
        .expect_error(429, "IP_AUTHORIZATION_RESEND_LIMIT_EXCEEDED");
    // Waiting does not lift it: no retry hint.
    assert!(used_up.get("retry_after").is_none(), "{used_up}");
    // The new link replaced the old one.
    c.post("/api/v1/auth/authorize-ip", &json!({ "token": first }))
        .expect_error(400, "INVALID_FORM_BODY");
    c.post("/api/v1/auth/authorize-ip", &json!({ "token": second }))
        .expect(204);
    let done = c
        .get(&format!(
            "/api/v1/auth/ip-authorization/poll?ticket={ticket}"
        ))
        .expect(200)
        .json();
    assert_eq!(done["completed"], true);
}

#[test]
fn without_mail_the_check_is_off_unless_configured() {
    // The default server logs email instead of sending it: nobody could approve, so no check.
    let server = Server::start(&[
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
        (
            "FLUXER_CONFIG__PROXY__TRUSTED_PROXIES",
            r#"["127.0.0.1/32"]"#,
        ),
    ]);
    let c = server.client();
    register(&c, "nomail@example.com", "nomail");
    login_from(&c, "203.0.113.8", "nomail@example.com").expect(200);
}

fn handoff_status(c: &Client, code: &str) -> Value {
    c.get(&format!("/api/v1/auth/handoff/{code}/status"))
        .expect(200)
        .json()
}

#[test]
fn a_browser_hands_its_login_to_the_desktop_app_with_a_code() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let c = server.client();
    let (browser, user_id) = register(&c, "handoff@example.com", "handoff");
    let browser_token = browser.token.clone().unwrap();

    // The app asks for a code and waits.
    let started = c
        .post("/api/v1/auth/handoff/initiate", &json!({}))
        .expect(200)
        .json();
    let code = started["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 9, "{started}");
    assert_eq!(&code[4..5], "-");
    assert!(started["expires_at"].is_string());
    assert_eq!(handoff_status(&c, &code), json!({ "status": "pending" }));

    // The browser enters it (typed in lower case, without the dash): the token must be its own.
    let typed = code.replace('-', "").to_lowercase();
    let (_, other_id) = register(&c, "other@example.com", "other");
    c.post(
        "/api/v1/auth/handoff/complete",
        &json!({ "code": typed, "token": browser_token, "user_id": other_id }),
    )
    .expect_error(400, "SESSION_TOKEN_MISMATCH");
    c.post(
        "/api/v1/auth/handoff/complete",
        &json!({ "code": typed, "token": "flx_not-a-session", "user_id": user_id }),
    )
    .expect_error(401, "UNAUTHORIZED");
    c.post(
        "/api/v1/auth/handoff/complete",
        &json!({ "code": typed, "token": browser_token, "user_id": user_id }),
    )
    .expect(204);
    // A code works once.
    c.post(
        "/api/v1/auth/handoff/complete",
        &json!({ "code": code, "token": browser_token, "user_id": user_id }),
    )
    .expect_error(400, "INVALID_HANDOFF_CODE");

    // The app collects a new session of its own, once.
    let done = handoff_status(&c, &code);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["user_id"], user_id.as_str());
    let app_token = done["token"].as_str().unwrap();
    assert_ne!(app_token, browser_token);
    let app = c.with_token(app_token);
    assert_eq!(
        app.get("/api/v1/users/@me").expect(200).json()["id"],
        user_id.as_str()
    );
    assert_eq!(handoff_status(&c, &code), json!({ "status": "expired" }));
    // Logging the browser out leaves the app logged in.
    browser.post("/api/v1/auth/logout", &json!({})).expect(204);
    app.get("/api/v1/users/@me").expect(200);

    // A cancelled code is gone; malformed codes are refused.
    let second = c
        .post("/api/v1/auth/handoff/initiate", &json!({}))
        .expect(200)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    c.delete(&format!("/api/v1/auth/handoff/{second}"))
        .expect(204);
    assert_eq!(handoff_status(&c, &second), json!({ "status": "expired" }));
    c.get("/api/v1/auth/handoff/ABCD-EFO0/status")
        .expect_error(400, "INVALID_HANDOFF_CODE");
    c.delete("/api/v1/auth/handoff/short")
        .expect_error(400, "INVALID_HANDOFF_CODE");
    // A never-issued but well-formed code reads as expired.
    assert_eq!(
        handoff_status(&c, "ZZZZ-ZZZZ"),
        json!({ "status": "expired" })
    );
}

#[test]
fn an_address_mail_servers_refuse_is_replaced_without_proving_it() {
    let sink = SmtpSink::start();
    let server = server_with_smtp_and(&sink, &[]);
    let c = server.client();
    // The verification email to this address is refused with a permanent 550.
    let (alice, _) = register(&c, "bounce-alice@example.com", "bouncer");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let me = alice.get("/api/v1/users/@me").expect(200).json();
        if me["email_bounced"] == true {
            break;
        }
        assert_eq!(me["email_bounced"], false, "{me}");
        assert!(
            std::time::Instant::now() < deadline,
            "the bounce was not noticed"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Someone whose address works cannot use the bounced flow.
    let (bob, _) = register(&c, "fine@example.com", "fine");
    bob.post(
        "/api/v1/users/@me/email-change/bounced/request-new",
        &json!({ "new_email": "other@example.com" }),
    )
    .expect_error(403, "ACCESS_DENIED");

    // The replacement needs only a code sent to the new address.
    alice
        .post(
            "/api/v1/users/@me/email-change/bounced/request-new",
            &json!({ "new_email": "fine@example.com" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let requested = alice
        .post(
            "/api/v1/users/@me/email-change/bounced/request-new",
            &json!({ "new_email": "alice-new@example.com" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        requested["new_email"], "alice-new@example.com",
        "{requested}"
    );
    let ticket = requested["ticket"].as_str().unwrap();
    let mail = sink.wait_for("alice-new@example.com", "");
    let code = crate::background::code_in(&mail);
    alice
        .post(
            "/api/v1/users/@me/email-change/bounced/verify-new",
            &json!({ "ticket": ticket, "code": "AAAA-AAAA" }),
        )
        .expect(400);
    let me = alice
        .post(
            "/api/v1/users/@me/email-change/bounced/verify-new",
            &json!({ "ticket": ticket, "code": code }),
        )
        .expect(200)
        .json();
    assert_eq!(me["email"], "alice-new@example.com", "{me}");
    assert_eq!(me["verified"], true);
    assert_eq!(me["email_bounced"], false);
    // Done: the flow is closed again.
    alice
        .post(
            "/api/v1/users/@me/email-change/bounced/resend-new",
            &json!({ "ticket": ticket }),
        )
        .expect_error(403, "ACCESS_DENIED");
    // Logging in with the new address works.
    c.post(
        "/api/v1/auth/login",
        &json!({ "email": "alice-new@example.com", "password": PASSWORD }),
    )
    .expect(200);
}
