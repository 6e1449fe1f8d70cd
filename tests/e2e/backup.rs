//! Backups taken while the server writes, restored into a new data directory and served again;
//! damaged backups and occupied targets refused; readiness per dependency; the WAL emptied on a
//! graceful stop.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Client, Server, fluxer_server, on_postgres};
use crate::media::upload;
use crate::{create_guild, general_channel, register};

fn temp_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "fluxer-e2e-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ))
}

/// Runs `fluxer-server <args>` on `data_dir`'s configuration.
fn run(data_dir: &Path, args: &[&str]) -> Output {
    let output = fluxer_server(data_dir)
        .env("FLUXER_CONFIG__LOG__LEVEL", "warn")
        .args(args)
        .output()
        .expect("run fluxer-server");
    eprintln!(
        "fluxer-server {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every message of `channel`, oldest last, paging back through the history.
fn history_ids(c: &Client, channel: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut before = String::new();
    loop {
        let page = c
            .get(&format!(
                "/api/v1/channels/{channel}/messages?limit=100{before}"
            ))
            .expect(200)
            .json();
        let page = page.as_array().unwrap();
        if page.is_empty() {
            return ids;
        }
        for m in page {
            ids.push(m["id"].as_str().unwrap().to_owned());
        }
        before = format!("&before={}", ids.last().unwrap());
    }
}

/// The path and query of a URL the server handed out.
fn path_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest[rest.find('/').unwrap()..].to_owned()
}

#[test]
fn a_backup_taken_under_load_restores_every_acknowledged_message() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let backup_dir = temp_dir("backup");
    if on_postgres() {
        // The database is pg_dump's: the command says so and copies nothing.
        let refused = run(&server.data_dir, &["backup", backup_dir.to_str().unwrap()]);
        assert!(!refused.status.success());
        assert!(stderr(&refused).contains("pg_dump"), "{}", stderr(&refused));
        let files = run(
            &server.data_dir,
            &["backup", "--files-only", backup_dir.to_str().unwrap()],
        );
        assert!(files.status.success());
        assert!(backup_dir.join("secret.key").exists());
        let _ = std::fs::remove_dir_all(&backup_dir);
        return;
    }
    let (alice, _) = register(&anon, "alice@example.com", "alice");
    let guild = create_guild(&alice, "Backed up");
    let channel = general_channel(&alice, &guild);
    let note = b"an attachment that must survive".to_vec();
    let with_file = upload(
        &alice,
        &channel,
        json!({ "content": "the zebra note" }),
        &[("note.txt", &note)],
    );
    let note_url = path_of(with_file["attachments"][0]["url"].as_str().unwrap());

    // A writer keeps posting; every message it got a 200 for is acknowledged.
    let acknowledged = Arc::new(Mutex::new(vec![
        with_file["id"].as_str().unwrap().to_owned(),
    ]));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (alice, channel) = (alice.clone(), channel.clone());
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = alice.post(
                    &format!("/api/v1/channels/{channel}/messages"),
                    &json!({ "content": format!("message {n}") }),
                );
                if r.status == 200 {
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(r.json()["id"].as_str().unwrap().to_owned());
                }
                n += 1;
            }
        })
    };
    while acknowledged.lock().unwrap().len() < 50 {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before_backup = acknowledged.lock().unwrap().clone();
    let first = run(&server.data_dir, &["backup", backup_dir.to_str().unwrap()]);
    let during = acknowledged.lock().unwrap().len() - before_backup.len();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    eprintln!("{during} messages acknowledged while the backup ran");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["search"], "reindex");
    assert!(manifest["schema_version"].as_i64().unwrap() > 0);
    let paths: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    for expected in ["database.db", "queue.db", "secret.key"] {
        assert!(paths.contains(&expected), "{expected} in {paths:?}");
    }
    assert!(
        paths.iter().any(|p| p.starts_with("blobs/")),
        "the attachment is in the backup: {paths:?}"
    );

    // Again into the same directory: no unchanged file is copied again.
    let second = run(&server.data_dir, &["backup", backup_dir.to_str().unwrap()]);
    assert!(second.status.success());
    assert!(
        stderr(&second).contains(" 0 copied (0 bytes)"),
        "{}",
        stderr(&second)
    );
    assert!(
        !stderr(&second).contains(" 0 unchanged"),
        "{}",
        stderr(&second)
    );

    // Restored into a new data directory, a server has every acknowledged message, the file and
    // the search index.
    let restored = temp_dir("restored");
    let done = run(&restored, &["restore", backup_dir.to_str().unwrap()]);
    assert!(done.status.success(), "{}", stderr(&done));
    let again = Server::start_in(restored.clone(), &[]);
    let alice_again = again.client().with_token(alice.token.as_deref().unwrap());
    let ids: std::collections::HashSet<String> =
        history_ids(&alice_again, &channel).into_iter().collect();
    let missing: Vec<_> = before_backup
        .iter()
        .filter(|id| !ids.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages missing",
        missing.len(),
        before_backup.len()
    );
    assert_eq!(again.client().get(&note_url).expect(200).body, note);
    let found = alice_again
        .post(
            "/api/v1/search/messages",
            &json!({ "content": "zebra", "context_guild_id": guild }),
        )
        .expect(200)
        .json();
    assert_eq!(found["total"], 1, "the index was rebuilt: {found}");

    // A restore never writes over data.
    let occupied = run(&restored, &["restore", backup_dir.to_str().unwrap()]);
    assert!(!occupied.status.success());
    assert!(
        stderr(&occupied).contains("not empty"),
        "{}",
        stderr(&occupied)
    );
    drop(again);

    // One flipped byte: refused, and nothing written.
    let database = backup_dir.join("database.db");
    let mut bytes = std::fs::read(&database).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&database, bytes).unwrap();
    let target = temp_dir("refused");
    let damaged = run(&target, &["restore", backup_dir.to_str().unwrap()]);
    assert!(!damaged.status.success());
    assert!(
        stderr(&damaged).contains("database.db does not match its checksum"),
        "{}",
        stderr(&damaged)
    );
    assert!(!target.exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(&backup_dir);
}

#[test]
fn ready_names_the_dependency_that_fails() {
    let server = Server::start(&[]);
    let anon = server.client();
    let live = anon.get("/_live").expect(200).json();
    assert_eq!(live["alive"], true);
    let ready = anon.get("/_ready").expect(200).json();
    assert_eq!(ready["ready"], true);
    for check in ["database", "queue", "search", "blobs"] {
        assert_eq!(ready["checks"][check]["ready"], true, "{check}: {ready}");
    }
    anon.get("/api/v1/_ready").expect(200);

    // A blob store that takes no write (a file where its directory was, which even root cannot
    // write into).
    for part in ["blobs", "search"] {
        let dir = server.data_dir.join(part);
        let aside = server.data_dir.join(format!("{part}.aside"));
        std::fs::rename(&dir, &aside).unwrap();
        std::fs::write(&dir, b"not a directory").unwrap();
        let failing = anon.get("/_ready");
        assert_eq!(failing.status, 503, "{part}");
        let body = failing.json();
        assert_eq!(body["ready"], false);
        assert_eq!(body["checks"][part]["ready"], false, "{body}");
        assert_eq!(body["checks"]["database"]["ready"], true, "{body}");
        assert!(
            !body.to_string().contains(server.data_dir.to_str().unwrap()),
            "no internals on the wire: {body}"
        );
        assert_eq!(anon.get("/_live").status, 200, "liveness stays cheap");
        std::fs::remove_file(&dir).unwrap();
        std::fs::rename(&aside, &dir).unwrap();
        anon.get("/_ready").expect(200);
    }
}

#[test]
fn a_graceful_stop_leaves_the_wal_empty() {
    if on_postgres() {
        return; // No SQLite database to check.
    }
    let mut server = Server::start(&[]);
    let anon = server.client();
    let (alice, _) = register(&anon, "alice@example.com", "alice");
    let guild = create_guild(&alice, "Checkpointed");
    let channel = general_channel(&alice, &guild);
    for i in 0..20 {
        alice
            .post(
                &format!("/api/v1/channels/{channel}/messages"),
                &json!({ "content": format!("m{i}") }),
            )
            .expect(200);
    }
    let wal = server.data_dir.join("fluxer.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let started = Instant::now();
    assert!(server.terminate().success());
    assert!(started.elapsed() < Duration::from_secs(15));
    for file in [wal, server.data_dir.join("queue.db-wal")] {
        let len = std::fs::metadata(&file).map_or(0, |m| m.len());
        assert_eq!(len, 0, "{} holds {len} bytes", file.display());
    }
}
