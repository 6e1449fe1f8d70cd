//! The instance home page (`marketing`): at `/` without a web app and at `/marketing` always, the
//! instance's texts from the configuration, the directory of discoverable guilds, the legal pages,
//! the page headers, and `marketing.enabled = false` taking it all away.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Client, Server};
use crate::{create_guild, general_channel, register, staff};

fn text(r: &crate::harness::Response) -> String {
    String::from_utf8(r.body.clone()).unwrap()
}

#[test]
fn the_home_page_shows_the_instance_and_its_directory() {
    let server = Server::start(&[
        ("FLUXER_CONFIG__INSTANCE__NAME", "Otter Chat"),
        (
            "FLUXER_CONFIG__INSTANCE__DESCRIPTION",
            "Friends of <otters> & rivers",
        ),
        (
            "FLUXER_CONFIG__MARKETING__TERMS_OF_SERVICE",
            "Be kind to otters.",
        ),
    ]);
    let anon = server.client();

    for path in ["/", "/marketing"] {
        let r = anon.get(path).expect(200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let csp = r.header("content-security-policy").unwrap().to_owned();
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert!(csp.contains("style-src 'sha256-"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        let page = text(&r);
        assert!(page.contains("<title>Otter Chat</title>"), "{page}");
        // The configured text is escaped, never markup.
        assert!(
            page.contains("Friends of &lt;otters&gt; &amp; rivers"),
            "{page}"
        );
        assert!(page.contains("name=\"viewport\""), "{page}");
        assert!(page.contains(&format!("{}/api/v1", server.base)), "{page}");
        // No third-party origin: every link and asset is this instance's.
        assert!(!page.contains("<script"), "{page}");
        assert!(!page.contains("fluxerstatic.com"), "{page}");
        assert!(page.contains("No community is listed here yet."), "{page}");
    }
    // Without an app, the page says how to serve one, and links to no sign-in page.
    let page = text(&anon.get("/marketing").expect(200));
    assert!(page.contains("web.app_dir"), "{page}");
    assert!(!page.contains("/register"), "{page}");

    let terms = text(&anon.get("/marketing/terms").expect(200));
    assert!(terms.contains("Be kind to otters."), "{terms}");
    let privacy = text(&anon.get("/marketing/privacy").expect(200));
    assert!(
        privacy.contains("has not published a privacy policy"),
        "{privacy}"
    );
    // A page number that is not one is the first page, not an error.
    anon.get("/marketing?page=abc").expect(200);

    // A discoverable guild is listed, with its description and a join link; private ones are not.
    let (owner, _) = register(&anon, "otter@example.com", "otter");
    let listed = create_guild(&owner, "River Otters");
    create_guild(&owner, "Secret Otters");
    crate::discovery::list_in_discovery(&server, &owner, &listed, "Paddling together");
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = text(&anon.get("/marketing").expect(200));
        if page.contains("River Otters") {
            break page;
        }
        assert!(Instant::now() < deadline, "never listed: {page}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.contains("Paddling together"), "{page}");
    assert!(page.contains("1 member"), "{page}");
    // Without an invite (and without a web app here), the card says where to join it.
    assert!(
        page.contains("Join it from a Fluxer client's discovery."),
        "{page}"
    );
    assert!(!page.contains("Secret Otters"), "{page}");
    // With a permanent invite, the card gives its code, which lets a visitor in.
    let code = permanent_invite(&owner, &listed);
    let page = text(&anon.get("/marketing").expect(200));
    assert!(
        page.contains(&format!("Invite code <code>{code}</code>")),
        "{page}"
    );
    let (visitor, _) = register(&anon, "visitor@example.com", "visitor");
    visitor
        .post(&format!("/api/v1/invites/{code}"), &json!({}))
        .expect(200);
    visitor.get(&format!("/api/v1/guilds/{listed}")).expect(200);
    // The directory searches.
    let found = text(&anon.get("/marketing?q=paddling").expect(200));
    assert!(found.contains("River Otters"), "{found}");
    let none = text(&anon.get("/marketing?q=zebra").expect(200));
    assert!(!none.contains("River Otters"), "{none}");
}

/// A never-expiring, unlimited invite into the guild's general channel; its code.
fn permanent_invite(owner: &Client, guild: &str) -> String {
    let channel = general_channel(owner, guild);
    owner
        .post(
            &format!("/api/v1/channels/{channel}/invites"),
            &json!({ "max_age": 0, "max_uses": 0 }),
        )
        .expect(200)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The home page once it lists `name`.
fn listed_page(anon: &Client, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = text(&anon.get("/marketing").expect(200));
        if page.contains(name) {
            return page;
        }
        assert!(Instant::now() < deadline, "never listed: {page}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_a_web_app_the_home_page_is_at_marketing() {
    let bundle = crate::web::fixture_bundle();
    let server = Server::start(&[("FLUXER_CONFIG__WEB__APP_DIR", bundle.to_str().unwrap())]);
    let anon = server.client();
    // `/` is the app; `/marketing` the home page, linking to the app's sign-in and registration.
    assert!(text(&anon.get("/").expect(200)).contains("<div id=\"root\">"));
    let page = text(&anon.get("/marketing").expect(200));
    assert!(
        page.contains(&format!("href=\"{}/register\"", server.base)),
        "{page}"
    );
    assert!(
        page.contains(&format!("href=\"{}/login\"", server.base)),
        "{page}"
    );
    assert!(!page.contains("web.app_dir"), "{page}");

    // A listed guild's card opens its invite in the app: a permanent invite, then its vanity code
    // once it has one; without either, the way in is the app's discovery after signing in.
    let (owner, _) = register(&anon, "heron@example.com", "heron");
    let guild = create_guild(&owner, "Heron Watch");
    crate::discovery::list_in_discovery(&server, &owner, &guild, "Birds by the river");
    let page = listed_page(&anon, "Heron Watch");
    assert!(page.contains("guild discovery"), "{page}");
    assert!(!page.contains("/invite/"), "{page}");
    let code = permanent_invite(&owner, &guild);
    let page = text(&anon.get("/marketing").expect(200));
    assert!(
        page.contains(&format!("href=\"{}/invite/{code}\"", server.base)),
        "{page}"
    );
    let (op, _) = staff(&server, "home-op@example.com", "homeop");
    op.post(
        "/api/v1/admin/guilds/update-vanity",
        &json!({ "guild_id": guild, "vanity_url_code": "herons" }),
    )
    .expect(200);
    let page = text(&anon.get("/marketing").expect(200));
    assert!(
        page.contains(&format!("href=\"{}/invite/herons\"", server.base)),
        "{page}"
    );
    // The link's code is one the API accepts.
    let (visitor, _) = register(&anon, "birder@example.com", "birder");
    visitor
        .post("/api/v1/invites/herons", &json!({}))
        .expect(200);
    visitor.get(&format!("/api/v1/guilds/{guild}")).expect(200);
    std::fs::remove_dir_all(bundle).unwrap();
}

#[test]
fn the_old_marketing_texts_are_a_deprecated_alias_of_instance() {
    // Only the old key: it is read, with a warning naming its replacement.
    let server = Server::start(&[
        ("FLUXER_CONFIG__MARKETING__NAME", "Beaver Lodge"),
        (
            "FLUXER_CONFIG__MARKETING__DESCRIPTION",
            "Dams and more dams",
        ),
    ]);
    let page = text(&server.client().get("/marketing").expect(200));
    assert!(page.contains("<title>Beaver Lodge</title>"), "{page}");
    assert!(page.contains("Dams and more dams"), "{page}");
    let log = server.log();
    assert!(
        log.contains("deprecated config key marketing.name: use instance.name"),
        "{log}"
    );
    assert!(log.contains("marketing.description"), "{log}");
    drop(server);

    // Both: `instance` wins; without the old keys nothing is said.
    let server = Server::start(&[
        ("FLUXER_CONFIG__MARKETING__NAME", "Beaver Lodge"),
        ("FLUXER_CONFIG__INSTANCE__NAME", "Otter Chat"),
    ]);
    let page = text(&server.client().get("/marketing").expect(200));
    assert!(page.contains("<title>Otter Chat</title>"), "{page}");
    let quiet = Server::start(&[("FLUXER_CONFIG__INSTANCE__NAME", "Otter Chat")]);
    quiet.client().get("/marketing").expect(200);
    assert!(
        !quiet.log().contains("deprecated config key"),
        "{}",
        quiet.log()
    );
}

#[test]
fn marketing_disabled_takes_the_home_page_away() {
    let server = Server::start(&[("FLUXER_CONFIG__MARKETING__ENABLED", "false")]);
    let anon = server.client();
    for path in ["/", "/marketing", "/marketing/terms", "/marketing/privacy"] {
        anon.get(path).expect_error(404, "NOT_FOUND");
    }
    // The API is unaffected.
    anon.get("/.well-known/fluxer").expect(200);
}
