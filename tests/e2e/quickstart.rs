//! Fluxer's documented quickstart bot (Node, `@discordjs/core|rest|ws`, unmodified in logic) against
//! the real server: it logs READY, and answers "ping" with "pong".

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::Server;
use crate::{general_channel, register};

struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn quickstart_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/quickstart")
}

#[test]
fn quickstart_bot_answers_ping_with_pong() {
    let dir = quickstart_dir();
    if !dir.join("node_modules/@discordjs/ws").exists() {
        // A fresh checkout: install the pinned packages (package-lock.json) once.
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is installed (Node.js runs the quickstart bot)");
        assert!(status.success(), "npm ci in tests/quickstart failed");
    }
    let server = Server::start(&[]);
    let anon = server.client();
    let (owner, _) = register(&anon, "quickstart@example.com", "quickstart");
    let guild = owner
        .post("/api/v1/guilds", &json!({ "name": "Quickstart" }))
        .expect(200)
        .json();
    let guild_id = guild["id"].as_str().unwrap().to_owned();
    let channel = general_channel(&owner, &guild_id);
    let app = owner
        .post(
            "/api/v1/oauth2/applications",
            &json!({ "name": "PingPong" }),
        )
        .expect(200)
        .json();
    let app_id = app["id"].as_str().unwrap().to_owned();
    let token = app["bot"]["token"].as_str().unwrap().to_owned();
    owner
        .post(
            &format!("/api/v1/oauth2/authorize?client_id={app_id}&scope=bot"),
            &json!({ "guild_id": guild_id, "permissions": "3072" }),
        )
        .expect(200);

    let mut child = Command::new("node")
        .arg("bot.mjs")
        .current_dir(&dir)
        .env("FLUXER_API", format!("{}/api", server.base))
        .env("FLUXER_TOKEN", &token)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node is installed");
    let stdout = child.stdout.take().unwrap();
    let _bot = Bot(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("[bot] {line}");
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut logged_in = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line == "READY" => break,
            Ok(line) if line.starts_with("Logged in as PingPong#") => logged_in = true,
            _ => {}
        }
    }
    assert!(logged_in, "the bot logged READY with its tag");

    owner
        .post(
            &format!("/api/v1/channels/{channel}/messages"),
            &json!({ "content": "ping" }),
        )
        .expect(200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let history = owner
            .get(&format!("/api/v1/channels/{channel}/messages?limit=10"))
            .expect(200)
            .json();
        let pong = history.as_array().unwrap().iter().find(|m| {
            m["content"] == "pong"
                && m["author"]["id"] == app_id.as_str()
                && m["author"]["bot"] == true
        });
        if pong.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no pong from the bot: {history}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
