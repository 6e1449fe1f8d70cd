//! The admin panel and the home page in headless Chromium (Debian's `chromium`), driven by
//! `tests/admin/browser.mjs` (puppeteer-core, pinned in tests/admin/package-lock.json): the steps
//! are listed there. The test fails, never skips, when Chromium or Node.js is missing.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::admin_web::PASSWORD;
use crate::harness::Server;
use crate::make_staff;
use crate::{create_guild, general_channel, register};

fn driver_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/admin")
}

fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&path).exists(),
        "Chromium is not installed at {path}: `apt-get install -y chromium` (scripts/test does), \
         or set CHROMIUM to a Chromium binary"
    );
    path
}

#[test]
fn admin_panel_and_home_page_in_chromium() {
    let chromium = chromium();
    let dir = driver_dir();
    if !dir.join("node_modules/puppeteer-core").exists() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is installed (Node.js drives the browser)");
        assert!(status.success(), "npm ci in tests/admin failed");
    }

    let server = Server::start(&[]);
    let anon = server.client();
    make_staff(&server, "ops@example.com", "ops");
    let (owner, _) = register(&anon, "owner@example.com", "owner");
    let guild = create_guild(&owner, "Kayak Club");
    crate::discovery::list_in_discovery(&server, &owner, &guild, "Paddles up, every weekend");
    let channel = general_channel(&owner, &guild);
    // A permanent invite, which the directory's card gives.
    let invite = owner
        .post(
            &format!("/api/v1/channels/{channel}/invites"),
            &json!({ "max_age": 0, "max_uses": 0 }),
        )
        .expect(200)
        .json()["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // A message for staff to find and delete.
    let doomed = crate::post_message(&owner, &channel, "buy cheap kayaks at my shop")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (victim, victim_id) = register(&anon, "spammer@example.com", "spammer");
    // A report for staff to resolve.
    owner
        .post(
            "/api/v1/reports/user",
            &json!({ "user_id": victim_id, "category": "spam_account",
                     "additional_info": "Posts links everywhere" }),
        )
        .expect(200);
    // Discovery is indexed by a job: wait until the guild is listed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while owner
        .get("/api/v1/discovery/guilds?query=kayak")
        .expect(200)
        .json()["total"]
        != 1
    {
        assert!(
            Instant::now() < deadline,
            "the guild never became discoverable"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let output = Command::new("node")
        .arg(dir.join("browser.mjs"))
        .env("FLUXER_URL", &server.base)
        .env("CHROMIUM", &chromium)
        .env("ADMIN_EMAIL", "ops@example.com")
        .env("ADMIN_PASSWORD", PASSWORD)
        .env("GUILD_NAME", "Kayak Club")
        .env("VICTIM_NAME", "spammer")
        .env("VICTIM_TOKEN", victim.token.as_deref().unwrap())
        .env("ACTIVE_TOKEN", owner.token.as_deref().unwrap())
        .env("ACTIVE_CHANNEL", &channel)
        .env("INVITE_CODE", &invite)
        .env("DOOMED_MESSAGE", &doomed)
        .output()
        .expect("run node tests/admin/browser.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok: every step passed"), "{stdout}");
}
