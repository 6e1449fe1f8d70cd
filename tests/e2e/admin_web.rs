//! The admin panel over plain HTTP against the real binary: sign-in (password and TOTP), the
//! session cookie, CSRF, refusals (no session, an ended one, a non-staff account, forged and
//! malformed forms) and the dashboard's numbers.

use serde_json::json;

use crate::harness::{Client, Response, Server};
use crate::make_staff;
use crate::{create_guild, general_channel, post_message, register};

pub(crate) const PASSWORD: &str = "correct horse battery";

fn text(r: &Response) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// Every `Set-Cookie` of a response.
fn set_cookies(r: &Response) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `name=value` of the cookie `name` a response sets.
fn cookie_from(r: &Response, name: &str) -> Option<String> {
    set_cookies(r)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The value of a form's hidden field in a page.
fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {name} field: {page}"))
        .to_owned()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Posts a form with a cookie header.
pub(crate) fn post_form(c: &Client, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Response {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    c.raw(
        "POST",
        path,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", cookie),
        ],
        body.join("&").as_bytes(),
    )
}

pub(crate) fn get_with(c: &Client, path: &str, cookie: &str) -> Response {
    c.raw("GET", path, &[("Cookie", cookie)], b"")
}

/// Signs in through the form; the response of the password step and the login cookie it used.
fn submit_password(anon: &Client, email: &str, password: &str) -> (Response, String) {
    let form = anon.get("/admin/login").expect(200);
    let login_cookie = cookie_from(&form, "fluxer_admin_login").expect("login cookie");
    let csrf = hidden(&text(&form), "csrf");
    let r = post_form(
        anon,
        "/admin/login",
        &login_cookie,
        &[("csrf", &csrf), ("email", email), ("password", password)],
    );
    (r, login_cookie)
}

/// Signs a staff account in; the session cookie (`fluxer_admin=…`).
pub(crate) fn sign_in(anon: &Client, email: &str) -> String {
    let (r, _) = submit_password(anon, email, PASSWORD);
    let r = r.expect(303);
    assert_eq!(r.header("location"), Some("/admin"));
    cookie_from(&r, "fluxer_admin").expect("session cookie")
}

/// The CSRF token of the signed-in session, from a page's forms.
pub(crate) fn csrf_of(anon: &Client, cookie: &str) -> String {
    hidden(&text(&get_with(anon, "/admin", cookie).expect(200)), "csrf")
}

/// A number on the dashboard, by its element ID.
pub(crate) fn stat(anon: &Client, cookie: &str, id: &str) -> u64 {
    let page = text(&get_with(anon, "/admin", cookie).expect(200));
    let marker = format!("id=\"{id}\">");
    page.split(&marker)
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {id} on the dashboard: {page}"))
}

#[test]
fn admin_sign_in_session_cookie_and_dashboard() {
    let server = Server::start(&[]);
    let anon = server.client();
    make_staff(&server, "ops@example.com", "ops");

    // No session: every page sends to the sign-in form.
    let r = anon.get("/admin").expect(303);
    assert_eq!(r.header("location"), Some("/admin/login"));
    // A cookie whose session does not exist (ended, expired): the same, and the cookie is dropped.
    let r = get_with(
        &anon,
        "/admin",
        "fluxer_admin=flx_000000000000000000000000000000000000",
    )
    .expect(303);
    assert_eq!(r.header("location"), Some("/admin/login"));
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.starts_with("fluxer_admin=;")),
        "{:?}",
        r.headers
    );

    // The sign-in page: a form, the policy, no script.
    let form = anon.get("/admin/login").expect(200);
    let csp = form.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self'"), "{csp}");
    assert!(!text(&form).contains("<script"));

    // A wrong password is refused on the form.
    let (r, _) = submit_password(&anon, "ops@example.com", "wrong password!");
    let r = r.expect(401);
    assert!(text(&r).contains("Wrong email or password."));
    assert!(cookie_from(&r, "fluxer_admin").is_none());

    // Signed in: the cookie is HttpOnly, SameSite=Strict and scoped to /admin (not Secure on http).
    let (r, _) = submit_password(&anon, "ops@example.com", PASSWORD);
    let r = r.expect(303);
    let set = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("fluxer_admin=flx_"))
        .expect("session cookie")
        .to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "{set}");
    let cookie = set.split(';').next().unwrap().to_owned();

    // The dashboard's numbers move with activity.
    let users = stat(&anon, &cookie, "stat-users");
    let guilds = stat(&anon, &cookie, "stat-guilds");
    let messages = stat(&anon, &cookie, "stat-messages");
    let today = stat(&anon, &cookie, "stat-messages-today");
    assert_eq!(users, 1, "the staff account");
    let (alice, _) = register(&anon, "alice@example.com", "alice");
    let guild = create_guild(&alice, "Numbers");
    let channel = general_channel(&alice, &guild);
    for i in 0..3 {
        post_message(&alice, &channel, &format!("hello {i}"));
    }
    assert_eq!(stat(&anon, &cookie, "stat-users"), users + 1);
    assert_eq!(stat(&anon, &cookie, "stat-guilds"), guilds + 1);
    assert_eq!(stat(&anon, &cookie, "stat-messages"), messages + 3);
    assert_eq!(stat(&anon, &cookie, "stat-messages-today"), today + 3);
    let page = text(&get_with(&anon, "/admin", &cookie).expect(200));
    assert!(page.contains("aria-label=\"Messages per day\""), "{page}");
    assert!(page.contains("id=\"stat-dead\""), "{page}");
    assert!(page.contains("id=\"stat-sessions\""), "{page}");

    // Signing out ends the session: the cookie no longer opens the panel.
    let csrf = csrf_of(&anon, &cookie);
    let r = post_form(&anon, "/admin/logout", &cookie, &[("csrf", &csrf)]).expect(303);
    assert_eq!(r.header("location"), Some("/admin/login"));
    let r = get_with(&anon, "/admin", &cookie).expect(303);
    assert_eq!(r.header("location"), Some("/admin/login"));
}

#[test]
fn admin_refuses_forged_and_malformed_forms_and_non_staff() {
    let server = Server::start(&[]);
    let anon = server.client();
    make_staff(&server, "ops@example.com", "ops");

    // A sign-in form whose token does not match its cookie (posted from elsewhere) is refused.
    let form = anon.get("/admin/login").expect(200);
    let login_cookie = cookie_from(&form, "fluxer_admin_login").unwrap();
    let r = post_form(
        &anon,
        "/admin/login",
        &login_cookie,
        &[
            ("csrf", "forged"),
            ("email", "ops@example.com"),
            ("password", PASSWORD),
        ],
    )
    .expect(403);
    assert!(cookie_from(&r, "fluxer_admin").is_none());
    let r = post_form(
        &anon,
        "/admin/login",
        "",
        &[
            ("csrf", ""),
            ("email", "ops@example.com"),
            ("password", PASSWORD),
        ],
    )
    .expect(403);
    assert!(cookie_from(&r, "fluxer_admin").is_none());

    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    // Another session's token is not this one's: a forged sign-out changes nothing.
    let other = sign_in(&anon, "ops@example.com");
    let other_csrf = csrf_of(&anon, &other);
    assert_ne!(csrf, other_csrf);
    for forged in [other_csrf.as_str(), "", "0000"] {
        let r = post_form(&anon, "/admin/logout", &cookie, &[("csrf", forged)]).expect(403);
        assert!(text(&r).contains("Nothing was changed"), "{}", text(&r));
    }
    get_with(&anon, "/admin", &cookie).expect(200);

    // Malformed, oversize and non-form bodies: a clear error before anything runs.
    let bad = |body: &[u8], content_type: &str| {
        anon.raw(
            "POST",
            "/admin/logout",
            &[("Content-Type", content_type), ("Cookie", &cookie)],
            body,
        )
    };
    let r = bad(
        format!("csrf={csrf}&x=%zz").as_bytes(),
        "application/x-www-form-urlencoded",
    )
    .expect(400);
    assert!(text(&r).contains("malformed"), "{}", text(&r));
    bad(
        format!("csrf={csrf}&csrf={csrf}").as_bytes(),
        "application/x-www-form-urlencoded",
    )
    .expect(400);
    bad(&[0xff, 0xfe, b'='], "application/x-www-form-urlencoded").expect(400);
    let huge = format!("csrf={csrf}&pad={}", "a".repeat(200 * 1024));
    let r = bad(huge.as_bytes(), "application/x-www-form-urlencoded");
    assert_eq!(r.status, 413, "{}", text(&r));
    bad(
        json!({ "csrf": csrf }).to_string().as_bytes(),
        "application/json",
    )
    .expect(415);
    // None of them signed out.
    get_with(&anon, "/admin", &cookie).expect(200);

    // A non-staff account cannot sign in, and its session is not left open.
    let (bob, _) = register(&anon, "bob@example.com", "bob");
    let before = bob.get("/api/v1/auth/sessions").expect(200).json();
    let (r, _) = submit_password(&anon, "bob@example.com", PASSWORD);
    let r = r.expect(403);
    assert!(text(&r).contains("not a staff account"), "{}", text(&r));
    assert!(cookie_from(&r, "fluxer_admin").is_none());
    let after = bob.get("/api/v1/auth/sessions").expect(200).json();
    assert_eq!(
        before.as_array().unwrap().len(),
        after.as_array().unwrap().len()
    );
    // Nor does its API token, set as the cookie by hand, open the panel.
    let token = bob.token.clone().unwrap();
    get_with(&anon, "/admin", &format!("fluxer_admin={token}")).expect(403);
}

#[test]
fn admin_sign_in_asks_for_the_totp_code() {
    let server = Server::start(&[]);
    let anon = server.client();
    make_staff(&server, "ops@example.com", "ops");
    let login = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "ops@example.com", "password": PASSWORD }),
        )
        .expect(200)
        .json();
    let ops = anon.with_token(login["token"].as_str().unwrap());
    let secret = ops
        .post("/api/v1/users/@me/mfa/totp/setup", &json!({}))
        .expect(200)
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let code = fluxer::core::service::totp_code(&secret, now()).unwrap();
    ops.post(
        "/api/v1/users/@me/mfa/totp/enable",
        &json!({ "secret": secret, "code": code, "password": PASSWORD }),
    )
    .expect(200);

    // The password alone opens no session: the code form comes next.
    let (r, login_cookie) = submit_password(&anon, "ops@example.com", PASSWORD);
    let r = r.expect(200);
    assert!(cookie_from(&r, "fluxer_admin").is_none());
    let page = text(&r);
    assert!(page.contains("Two-factor code"), "{page}");
    let ticket = hidden(&page, "ticket");
    let csrf = hidden(&page, "csrf");
    let login_cookie = cookie_from(&r, "fluxer_admin_login").unwrap_or(login_cookie);
    // A wrong code: back to the password.
    let r = post_form(
        &anon,
        "/admin/login/totp",
        &login_cookie,
        &[("csrf", &csrf), ("ticket", &ticket), ("code", "000000")],
    )
    .expect(401);
    assert!(cookie_from(&r, "fluxer_admin").is_none());

    let (r, login_cookie) = submit_password(&anon, "ops@example.com", PASSWORD);
    let r = r.expect(200);
    let page = text(&r);
    let login_cookie = cookie_from(&r, "fluxer_admin_login").unwrap_or(login_cookie);
    let code = fluxer::core::service::totp_code(&secret, now()).unwrap();
    let r = post_form(
        &anon,
        "/admin/login/totp",
        &login_cookie,
        &[
            ("csrf", &hidden(&page, "csrf")),
            ("ticket", &hidden(&page, "ticket")),
            ("code", &code),
        ],
    )
    .expect(303);
    let cookie = cookie_from(&r, "fluxer_admin").expect("session cookie");
    get_with(&anon, "/admin", &cookie).expect(200);
}

#[test]
fn admin_bans_users_and_changes_the_instance_with_reasons() {
    let server = Server::start(&[]);
    let anon = server.client();
    make_staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    let (mallory, mallory_id) = register(&anon, "mallory@example.com", "mallory");

    // Search finds the account by name and by email; its page offers the ban.
    let found = text(&get_with(&anon, "/admin/users?q=mallo", &cookie).expect(200));
    assert!(
        found.contains(&format!("/admin/users/{mallory_id}")),
        "{found}"
    );
    let found = text(&get_with(&anon, "/admin/users?q=mallory%40example.com", &cookie).expect(200));
    assert!(
        found.contains(&format!("/admin/users/{mallory_id}")),
        "{found}"
    );
    let none = text(&get_with(&anon, "/admin/users?q=nobody-here", &cookie).expect(200));
    assert!(none.contains("0 found"), "{none}");
    get_with(&anon, "/admin/users/not-an-id", &cookie).expect(404);
    let page = text(&get_with(&anon, &format!("/admin/users/{mallory_id}"), &cookie).expect(200));
    assert!(page.contains("form class=\"stack\" id=\"ban\""), "{page}");

    // A ban without a reason, or with a forged token, changes nothing.
    let ban = format!("/admin/users/{mallory_id}/ban");
    let r = post_form(
        &anon,
        &ban,
        &cookie,
        &[("csrf", &csrf), ("duration_hours", "0"), ("reason", "  ")],
    )
    .expect(400);
    assert!(text(&r).contains("Give a reason"), "{}", text(&r));
    post_form(
        &anon,
        &ban,
        &cookie,
        &[
            ("csrf", "forged"),
            ("duration_hours", "0"),
            ("reason", "spam"),
        ],
    )
    .expect(403);
    post_form(
        &anon,
        &ban,
        &cookie,
        &[
            ("csrf", &csrf),
            ("duration_hours", "lots"),
            ("reason", "spam"),
        ],
    )
    .expect(400);
    mallory.get("/api/v1/users/@me").expect(200);

    // The ban: the account's next request fails, the page says so, the audit log has the reason.
    let r = post_form(
        &anon,
        &ban,
        &cookie,
        &[
            ("csrf", &csrf),
            ("duration_hours", "0"),
            ("reason", "Spam in every channel"),
        ],
    )
    .expect(303);
    assert_eq!(
        r.header("location"),
        Some(format!("/admin/users/{mallory_id}?done=banned").as_str())
    );
    let status = mallory.get("/api/v1/users/@me").status;
    assert!(status == 401 || status == 403, "{status}");
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "mallory@example.com", "password": PASSWORD }),
    )
    .expect(403);
    let page = text(
        &get_with(
            &anon,
            &format!("/admin/users/{mallory_id}?done=banned"),
            &cookie,
        )
        .expect(200),
    );
    assert!(page.contains("id=\"user-status\">Banned<"), "{page}");
    let log = text(&get_with(&anon, "/admin/audit-log?q=spam", &cookie).expect(200));
    assert!(
        log.contains("user.temp_ban") && log.contains("Spam in every channel"),
        "{log}"
    );

    // Lifting it lets the account sign in again.
    post_form(
        &anon,
        &format!("/admin/users/{mallory_id}/unban"),
        &cookie,
        &[("csrf", &csrf), ("reason", "Appeal accepted")],
    )
    .expect(303);
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "mallory@example.com", "password": PASSWORD }),
    )
    .expect(200);

    // The instance: registration closed, the home page renamed, then hidden; each change logged.
    let page = text(&get_with(&anon, "/admin/instance", &cookie).expect(200));
    assert!(page.contains("value=\"open\" selected"), "{page}");
    let save = |fields: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        post_form(&anon, "/admin/instance", &cookie, &all)
    };
    save(&[
        ("registration_mode", "sometimes"),
        ("name", "Otters"),
        ("reason", "x"),
    ])
    .expect(400);
    save(&[
        ("registration_mode", "closed"),
        ("name", "Otters"),
        ("reason", ""),
    ])
    .expect(400);
    save(&[
        ("registration_mode", "closed"),
        ("name", ""),
        ("reason", "bad name"),
    ])
    .expect(400);
    anon.post("/api/v1/auth/register", &json!({
        "email": "early@example.com", "username": "early", "password": PASSWORD, "date_of_birth": "1990-01-01", "consent": true
    })).expect(200);
    save(&[
        ("registration_mode", "closed"),
        ("name", "Otter Island"),
        ("description", "Only otters"),
        ("terms_of_service", "Be an otter."),
        ("home_page_enabled", "on"),
        ("reason", "Closing sign-ups for maintenance"),
    ])
    .expect(303);
    let r = anon.post("/api/v1/auth/register", &json!({
        "email": "late@example.com", "username": "late", "password": PASSWORD, "date_of_birth": "1990-01-01", "consent": true
    }));
    assert!(r.status == 403 || r.status == 400, "{}", r.status);
    let page = text(&get_with(&anon, "/admin/instance", &cookie).expect(200));
    assert!(page.contains("value=\"closed\" selected"), "{page}");
    let home = text(&anon.get("/").expect(200));
    assert!(
        home.contains("<title>Otter Island</title>") && home.contains("Only otters"),
        "{home}"
    );
    assert!(text(&anon.get("/marketing/terms").expect(200)).contains("Be an otter."));
    let log = text(&get_with(&anon, "/admin/audit-log", &cookie).expect(200));
    assert!(log.contains("Closing sign-ups for maintenance"), "{log}");
    // Hidden (the checkbox left off): the home page is gone, the panel stays.
    save(&[
        ("registration_mode", "closed"),
        ("name", "Otter Island"),
        ("reason", "Hide the home page"),
    ])
    .expect(303);
    anon.get("/").expect_error(404, "NOT_FOUND");
    anon.get("/marketing/privacy")
        .expect_error(404, "NOT_FOUND");
    get_with(&anon, "/admin", &cookie).expect(200);
}

#[test]
fn admin_bans_addresses_and_manages_api_keys() {
    let server = Server::start(&[]);
    let anon = server.client();
    make_staff(&server, "ops@example.com", "ops");
    let cookie = sign_in(&anon, "ops@example.com");
    let csrf = csrf_of(&anon, &cookie);
    let form = |path: &str, fields: &[(&str, &str)]| {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        post_form(&anon, path, &cookie, &all)
    };
    let register_as = |email: &str, username: &str| {
        anon.post(
            "/api/v1/auth/register",
            &json!({ "email": email, "username": username, "password": PASSWORD,
                     "date_of_birth": "1990-01-01", "consent": true }),
        )
    };

    // Bad ban forms change nothing.
    form(
        "/admin/bans/add",
        &[
            ("kind", "email"),
            ("value", "bad@example.com"),
            ("reason", ""),
        ],
    )
    .expect(400);
    form(
        "/admin/bans/add",
        &[("kind", "dna"), ("value", "x"), ("reason", "r")],
    )
    .expect(400);
    form(
        "/admin/bans/add",
        &[("kind", "ip"), ("value", "not an address"), ("reason", "r")],
    )
    .expect(400);
    post_form(
        &anon,
        "/admin/bans/add",
        &cookie,
        &[
            ("csrf", "forged"),
            ("kind", "email"),
            ("value", "bad@example.com"),
            ("reason", "r"),
        ],
    )
    .expect(403);
    let page = text(&get_with(&anon, "/admin/bans", &cookie).expect(200));
    assert!(!page.contains("bad@example.com"), "{page}");

    // An email ban holds at registration until it is lifted; both are logged with their reasons.
    form(
        "/admin/bans/add",
        &[
            ("kind", "email"),
            ("value", "Bad@Example.com"),
            ("reason", "Throwaway spam domain"),
        ],
    )
    .expect(303);
    form(
        "/admin/bans/add",
        &[
            ("kind", "ip"),
            ("value", "203.0.113.0/24"),
            ("reason", "Botnet range"),
        ],
    )
    .expect(303);
    let page = text(&get_with(&anon, "/admin/bans", &cookie).expect(200));
    assert!(
        page.contains("bad@example.com") && page.contains("203.0.113.0/24"),
        "{page}"
    );
    let refused = register_as("bad@example.com", "bad").status;
    assert!(refused == 400 || refused == 403, "{refused}");
    form(
        "/admin/bans/remove",
        &[
            ("kind", "email"),
            ("value", "bad@example.com"),
            ("reason", "False positive"),
        ],
    )
    .expect(303);
    register_as("bad@example.com", "bad").expect(200);
    let log = text(&get_with(&anon, "/admin/audit-log", &cookie).expect(200));
    for expected in [
        "ban.email.add",
        "Throwaway spam domain",
        "ban.ip.add",
        "Botnet range",
        "ban.email.remove",
        "False positive",
    ] {
        assert!(log.contains(expected), "{expected}: {log}");
    }

    // An API key is shown once, works for what its ACLs allow, and stops when revoked.
    form(
        "/admin/api-keys",
        &[
            ("name", "ci"),
            ("acls", "user:lookup"),
            ("expires_in_days", "soon"),
            ("reason", "r"),
        ],
    )
    .expect(400);
    let created = text(
        &form(
            "/admin/api-keys",
            &[
                ("name", "ci"),
                ("acls", "user:lookup"),
                ("expires_in_days", "30"),
                ("reason", "For the CI job"),
            ],
        )
        .expect(200),
    );
    let key = created
        .split("id=\"new-key\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new key")
        .to_owned();
    assert!(key.starts_with("fa_"), "{key}");
    let lookup = |key: &str| {
        anon.raw(
            "POST",
            "/api/v1/admin/users/lookup",
            &[
                ("Authorization", &format!("Admin {key}")),
                ("Content-Type", "application/json"),
            ],
            json!({ "query": "ops@example.com" }).to_string().as_bytes(),
        )
    };
    lookup(&key).expect(200);
    let page = text(&get_with(&anon, "/admin/api-keys", &cookie).expect(200));
    assert!(
        page.contains(">ci<") && !page.contains(&key),
        "the key is never shown again: {page}"
    );
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    form(
        &format!("/admin/api-keys/{key_id}/revoke"),
        &[("reason", "")],
    )
    .expect(400);
    lookup(&key).expect(200);
    form(
        &format!("/admin/api-keys/{key_id}/revoke"),
        &[("reason", "CI moved")],
    )
    .expect(303);
    assert_eq!(lookup(&key).status, 401);
    let log = text(&get_with(&anon, "/admin/audit-log?q=api_key", &cookie).expect(200));
    assert!(
        log.contains("For the CI job") && log.contains("CI moved"),
        "{log}"
    );
}
