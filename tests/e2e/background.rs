//! Background work end to end: email through the queue to a real SMTP server (Python's aiosmtpd on
//! loopback, writing a Maildir), search through the indexing jobs, and a data export built by a job.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Client, Server, fluxer_server};
use crate::{create_guild, general_channel, invite_and_join, post_message, register};

/// An aiosmtpd process delivering into a Maildir (and refusing `bounce*` recipients); killed on
/// drop.
pub(crate) struct SmtpSink {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl SmtpSink {
    pub(crate) fn start() -> SmtpSink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir =
            std::env::temp_dir().join(format!("fluxer-maildir-{}-{port}", std::process::id()));
        // aiosmtpd with tests/e2e/smtp_sink.py's handler: a Maildir, and "bounce*" recipients
        // refused for good.
        let here = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/e2e");
        let child = Command::new("python3")
            .env("PYTHONPATH", here)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "smtp_sink.BouncingMailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 must be installed to run the SMTP sink (aiosmtpd)");
        let mut sink = SmtpSink {
            child,
            port,
            maildir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = sink.child.try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                let _ = sink.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!(
                    "aiosmtpd exited ({status}): {err}\ninstall it with `pip install -r tests/requirements.txt`"
                );
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// Every message received so far, as raw RFC 5322 text.
    fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in entries.flatten() {
                    if let Ok(text) = std::fs::read_to_string(e.path()) {
                        out.push(text);
                    }
                }
            }
        }
        out
    }

    /// Every message to `to` whose subject contains `subject`, decoded, oldest first.
    pub(crate) fn all_to(&self, to: &str, subject: &str) -> Vec<String> {
        let mut found = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let Ok(text) = std::fs::read_to_string(e.path()) else {
                    continue;
                };
                let header_end = text
                    .find("\n\n")
                    .or_else(|| text.find("\r\n\r\n"))
                    .unwrap_or(0);
                let headers = &text[..header_end];
                if headers.contains(&format!("To: {to}")) && headers.contains(subject) {
                    let modified = e.metadata().and_then(|m| m.modified()).ok();
                    found.push((modified, e.file_name(), decode_quoted_printable(&text)));
                }
            }
        }
        found.sort();
        found.into_iter().map(|(_, _, text)| text).collect()
    }

    /// Waits for a message to `to` whose subject contains `subject`, and returns its decoded text.
    pub(crate) fn wait_for(&self, to: &str, subject: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            for m in self.messages() {
                let header_end = m.find("\n\n").or_else(|| m.find("\r\n\r\n")).unwrap_or(0);
                let headers = &m[..header_end];
                if headers.contains(&format!("To: {to}")) && headers.contains(subject) {
                    return decode_quoted_printable(&m);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no email {subject:?} to {to} arrived; got {} messages",
                self.messages().len()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// Enough quoted-printable decoding to read links: soft line breaks and `=XX` escapes.
fn decode_quoted_printable(s: &str) -> String {
    let s = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value after `marker` up to the first character that cannot be in a token or URL query.
pub(crate) fn extract_after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} not in email:\n{text}"))
        + marker.len();
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.~%&=?/:".contains(c)))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn server_with_smtp(sink: &SmtpSink) -> Server {
    server_with_smtp_and(sink, &[])
}

/// A server mailing through `sink`, with more settings.
pub(crate) fn server_with_smtp_and(sink: &SmtpSink, extra: &[(&str, &str)]) -> Server {
    let port = sink.port.to_string();
    let mut env = vec![
        ("FLUXER_CONFIG__INTEGRATIONS__EMAIL__PROVIDER", "smtp"),
        (
            "FLUXER_CONFIG__INTEGRATIONS__EMAIL__FROM_EMAIL",
            "no-reply@fluxer.test",
        ),
        (
            "FLUXER_CONFIG__INTEGRATIONS__EMAIL__SMTP__HOST",
            "127.0.0.1",
        ),
        ("FLUXER_CONFIG__INTEGRATIONS__EMAIL__SMTP__PORT", &port),
        ("FLUXER_CONFIG__INTEGRATIONS__EMAIL__SMTP__SECURITY", "none"),
        ("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true"),
    ];
    env.extend_from_slice(extra);
    Server::start(&env)
}

#[test]
fn verification_and_password_reset_emails_arrive_and_their_links_work() {
    let sink = SmtpSink::start();
    let server = server_with_smtp(&sink);
    let anon = server.client();
    let (carol, _) = register(&anon, "carol@example.com", "carol");
    assert_eq!(
        carol.get("/api/v1/users/@me").expect(200).json()["verified"],
        false
    );

    // Registering sends the verification email through the queue and SMTP.
    let mail = sink.wait_for("carol@example.com", "Verify your email");
    assert!(
        mail.contains("Content-Type: text/html"),
        "HTML part: {mail}"
    );
    let token = extract_after(&mail, "verify#token=").to_owned();
    assert_eq!(token.len(), 64, "{token}");
    anon.post("/api/v1/auth/verify", &json!({ "token": token }))
        .expect(204);
    assert_eq!(
        carol.get("/api/v1/users/@me").expect(200).json()["verified"],
        true
    );
    // One use only.
    anon.post("/api/v1/auth/verify", &json!({ "token": token }))
        .expect(400);

    // Forgot password -> reset email -> the new password works, the old one does not.
    anon.post(
        "/api/v1/auth/forgot",
        &json!({ "email": "carol@example.com" }),
    )
    .expect(204);
    let mail = sink.wait_for("carol@example.com", "Reset your Fluxer password");
    let token = extract_after(&mail, "reset#token=").to_owned();
    anon.post(
        "/api/v1/auth/reset",
        &json!({ "token": token, "password": "a brand new passphrase" }),
    )
    .expect(200);
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "carol@example.com", "password": "correct horse battery" }),
    )
    .expect(400);
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "carol@example.com", "password": "a brand new passphrase" }),
    )
    .expect(200);
}

/// Polls a search until it reports `total` hits (indexing is asynchronous: queue, then a timed commit).
fn search_until(c: &Client, path: &str, body: &Value, total: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c.post(path, body).expect(200).json();
        if r["total"] == total {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "search {body} never reached {total} hits: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn contents(r: &Value) -> Vec<String> {
    r["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn posted_messages_become_searchable_only_where_readable() {
    let mut env = vec![("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")];
    // On the PostgreSQL run the index lives there too: its adapter serves the same searches.
    if crate::harness::on_postgres() {
        env.push(("FLUXER_CONFIG__INTEGRATIONS__SEARCH__ENGINE", "postgres"));
        // For the migration lines that prove which index it opened.
        env.push(("FLUXER_CONFIG__LOG__LEVEL", "info"));
    }
    let server = Server::start(&env);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let (bob, bob_id) = register(&anon, "bob@example.com", "bob");
    let guild = alice
        .post("/api/v1/guilds", &json!({ "name": "Foxes" }))
        .expect(200)
        .json();
    let guild_id = guild["id"].as_str().unwrap().to_owned();
    let general = general_channel(&alice, &guild_id);
    let staff = alice
        .post(
            &format!("/api/v1/guilds/{guild_id}/channels"),
            &json!({ "name": "staff", "type": 0 }),
        )
        .expect(200)
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // @everyone cannot view #staff.
    alice
        .put(
            &format!("/api/v1/channels/{staff}/permissions/{guild_id}"),
            &json!({ "type": 0, "allow": "0", "deny": "1024" }),
        )
        .expect(204);
    invite_and_join(&alice, &general, &bob);

    post_message(&alice, &general, "The quick brown fox");
    post_message(&bob, &general, "a FOX with a link https://example.com/fox");
    post_message(&alice, &staff, "secret fox plans");
    let edited = post_message(&alice, &general, "nothing to see");
    post_message(&bob, &general, "dogs only");

    let path = "/api/v1/search/messages";
    let all = search_until(
        &alice,
        path,
        &json!({ "content": "fox", "context_guild_id": guild_id }),
        3,
    );
    assert_eq!(
        contents(&all),
        [
            "secret fox plans",
            "a FOX with a link https://example.com/fox",
            "The quick brown fox"
        ],
        "newest first, whole words, any case"
    );
    // Bob cannot read #staff: he does not find it, and the total does not count it.
    let bobs = search_until(
        &bob,
        path,
        &json!({ "content": "fox", "context_guild_id": guild_id }),
        2,
    );
    assert!(!contents(&bobs).iter().any(|c| c.contains("secret")));
    // Filters: author, channel, has, sort order, paging.
    let by_bob = search_until(
        &alice,
        path,
        &json!({ "content": "fox", "author_id": [bob_id] }),
        1,
    );
    assert_eq!(by_bob["messages"][0]["author"]["id"], bob_id.as_str());
    let in_staff = search_until(&alice, path, &json!({ "channel_id": [staff] }), 1);
    assert_eq!(contents(&in_staff), ["secret fox plans"]);
    let links = search_until(
        &alice,
        path,
        &json!({ "has": ["link"], "context_guild_id": guild_id }),
        1,
    );
    assert_eq!(links["messages"][0]["author"]["id"], bob_id.as_str());
    let oldest = search_until(
        &alice,
        path,
        &json!({ "content": "fox", "sort_order": "asc", "hits_per_page": 1, "page": 2 }),
        3,
    );
    assert_eq!(
        contents(&oldest),
        ["a FOX with a link https://example.com/fox"]
    );
    // Bob asking for #staff directly gets nothing.
    let r = bob.post(path, &json!({ "channel_id": [staff] }));
    assert!(
        r.status == 200 || r.status == 404 || r.status == 403,
        "{r:?}"
    );
    if r.status == 200 {
        assert_eq!(r.json()["total"], 0);
    }

    // Edits and deletes reach the index.
    let edited_id = edited["id"].as_str().unwrap();
    alice
        .patch(
            &format!("/api/v1/channels/{general}/messages/{edited_id}"),
            &json!({ "content": "a fox after all" }),
        )
        .expect(200);
    search_until(
        &alice,
        path,
        &json!({ "content": "fox", "context_guild_id": guild_id }),
        4,
    );
    alice
        .delete(&format!("/api/v1/channels/{general}/messages/{edited_id}"))
        .expect(204);
    search_until(
        &alice,
        path,
        &json!({ "content": "fox", "context_guild_id": guild_id }),
        3,
    );

    // Discord's query-string form.
    let r = alice
        .get(&format!(
            "/api/v1/guilds/{guild_id}/messages/search?content=fox&author_id={alice_id}"
        ))
        .expect(200)
        .json();
    assert_eq!(r["total_results"], 2, "{r}");
    assert_eq!(r["messages"][0][0]["content"], "secret fox plans");
    // Bad filters are a 400 with the field named.
    alice
        .post(path, &json!({ "has": ["hologram"] }))
        .expect_error(400, "INVALID_FORM_BODY");

    // Discovery lists the guild once staff approve its application, with its member count.
    let discover = "/api/v1/discovery/guilds?query=vulpine";
    assert_eq!(bob.get(discover).expect(200).json()["total"], 0);
    crate::discovery::list_in_discovery(&server, &alice, &guild_id, "All things vulpine");
    let deadline = Instant::now() + Duration::from_secs(30);
    // Listing is asynchronous (the index job): wait for the listed guild itself, not only the count.
    let found = loop {
        let r = bob.get(discover).expect(200).json();
        if r["total"] == 1 && r["guilds"][0]["id"] == guild_id.as_str() {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "the guild never became discoverable: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(found["guilds"][0]["id"], guild_id.as_str());
    assert_eq!(found["guilds"][0]["member_count"], 2);
    bob.get("/api/v1/discovery/guilds?limit=49")
        .expect_error(400, "INVALID_FORM_BODY");

    // Member search by name prefix (for mentions).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = alice
            .get(&format!(
                "/api/v1/guilds/{guild_id}/members/search?query=BO&limit=5"
            ))
            .expect(200)
            .json();
        if r.as_array().is_some_and(|a| a.len() == 1) {
            assert_eq!(r[0]["user"]["id"], bob_id.as_str());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "member search never found bob: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    if crate::harness::on_postgres() {
        let log = server.log();
        assert!(
            log.contains("fluxer_search_migrations"),
            "the index was not the PostgreSQL one:\n{log}"
        );
    }
}

pub(crate) fn read_zip(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip file");
    let mut files = std::collections::BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().map(|n| n.to_string());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut f, &mut text).unwrap();
        files.insert(name.expect("a UTF-8 name"), text);
    }
    files
}

#[test]
fn data_export_zip_holds_the_users_messages() {
    let sink = SmtpSink::start();
    let server = server_with_smtp(&sink);
    let anon = server.client();
    let (dave, dave_id) = register(&anon, "dave@example.com", "dave");
    let (erin, _) = register(&anon, "erin@example.com", "erin");
    let guild_id = create_guild(&dave, "Archive");
    let general = general_channel(&dave, &guild_id);
    invite_and_join(&dave, &general, &erin);
    for i in 0..120 {
        post_message(&dave, &general, &format!("dave's message {i}"));
    }
    post_message(&erin, &general, "erin's words are not dave's");

    dave.get("/api/v1/users/@me/harvest/latest").expect(200);
    let harvest = dave
        .post("/api/v1/users/@me/harvest", &json!({}))
        .expect(200)
        .json();
    let id = harvest["harvest_id"].as_str().unwrap().to_owned();
    // One a day; the refusal says how long to wait.
    let mut impatient = dave.clone();
    impatient.retry_on_429 = false;
    let refused = impatient
        .post("/api/v1/users/@me/harvest", &json!({}))
        .expect_error(429, "HARVEST_ON_COOLDOWN");
    let wait = refused["retry_after"].as_f64().unwrap();
    assert!(wait > 86_000.0 && wait <= 86_400.0, "{refused}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = loop {
        let h = dave
            .get(&format!("/api/v1/users/@me/harvest/{id}"))
            .expect(200)
            .json();
        if h["status"] == "completed" {
            break h;
        }
        assert_ne!(h["status"], "failed");
        assert!(Instant::now() < deadline, "export never completed: {h}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["message_count"], 120);
    // Others cannot see it.
    erin.get(&format!("/api/v1/users/@me/harvest/{id}"))
        .expect_error(404, "UNKNOWN_HARVEST");

    let zip = dave
        .get(&format!("/api/v1/users/@me/harvest/{id}/download"))
        .expect(200);
    assert_eq!(zip.header("content-type"), Some("application/zip"));
    let files = read_zip(&zip.body);
    let account: Value = serde_json::from_str(&files["account.json"]).unwrap();
    assert_eq!(account["id"], dave_id.as_str());
    assert!(account.get("password_hash").is_none());
    let messages: Value =
        serde_json::from_str(&files[&format!("messages/{general}/messages.json")]).unwrap();
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 120);
    assert_eq!(texts[0], "dave's message 0");
    assert_eq!(texts[119], "dave's message 119");
    assert!(!texts.iter().any(|t| t.starts_with("erin")));

    // The ready email carries a signed link that works without a session; a tampered one does not.
    let mail = sink.wait_for("dave@example.com", "data package is ready");
    let link = extract_after(&mail, "http://").to_owned();
    let path = &link[link.find('/').unwrap()..];
    let signed = anon.get(path).expect(200);
    assert_eq!(read_zip(&signed.body).len(), files.len());
    let tampered = path.replace("signature=", "signature=0");
    anon.get(&tampered)
        .expect_error(400, "INVALID_DOWNLOAD_LINK");
}

#[test]
fn reindex_rebuilds_a_lost_search_index_from_the_database() {
    let mut server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (gina, _) = register(&anon, "gina@example.com", "gina");
    let guild_id = create_guild(&gina, "Index");
    let channel = general_channel(&gina, &guild_id);
    for i in 0..30 {
        post_message(&gina, &channel, &format!("needle {i}"));
    }
    let path = "/api/v1/search/messages";
    search_until(&gina, path, &json!({ "content": "needle" }), 30);
    assert!(server.terminate().success());

    // The index is lost; reindex rebuilds it from the database with the server stopped.
    let data = server.keep_data();
    std::fs::remove_dir_all(data.join("search")).unwrap();
    let out = fluxer_server(&data)
        .arg("reindex")
        .env("FLUXER_CONFIG__LOG__LEVEL", "warn")
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{progress}");
    assert!(progress.contains("30 messages"), "{progress}");

    let server2 = Server::start_in(data, &[]);
    let gina2 = server2.client().with_token(gina.token.as_deref().unwrap());
    let r = gina2
        .post(path, &json!({ "content": "needle" }))
        .expect(200)
        .json();
    assert_eq!(r["total"], 30, "{r}");
}

/// The `XXXX-XXXX` code in an email.
pub(crate) fn code_in(mail: &str) -> String {
    mail.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| {
            w.len() == 9
                && w.as_bytes()[4] == b'-'
                && w.chars()
                    .filter(|c| *c != '-')
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        .unwrap_or_else(|| panic!("no code in email:\n{mail}"))
        .to_owned()
}

#[test]
fn email_and_password_changes_go_through_emailed_codes() {
    let sink = SmtpSink::start();
    let server = server_with_smtp(&sink);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "change-a@example.com", "change_a");
    register(&anon, "taken@example.com", "change_b");

    // An unverified address need not be proven: the proof comes at once.
    let start = alice
        .post("/api/v1/users/@me/email-change/start", &json!({}))
        .expect(200)
        .json();
    assert_eq!(
        (
            start["require_original"].as_bool(),
            start["original_email"].as_str()
        ),
        (Some(false), Some("change-a@example.com"))
    );
    let (ticket, proof) = (
        start["ticket"].as_str().unwrap(),
        start["original_proof"].as_str().unwrap(),
    );
    let e = alice
        .post(
            "/api/v1/users/@me/email-change/request-new",
            &json!({ "ticket": ticket, "new_email": "taken@example.com", "original_proof": proof }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "EMAIL_ALREADY_IN_USE");
    let requested = alice
        .post("/api/v1/users/@me/email-change/request-new", &json!({ "ticket": ticket, "new_email": "change-a2@example.com", "original_proof": proof }))
        .expect(200)
        .json();
    assert_eq!(requested["new_email"], "change-a2@example.com");
    // Too soon to send again (a client that does not wait and retry sees the 429).
    let impatient = Client {
        retry_on_429: false,
        ..alice.clone()
    };
    let e = impatient
        .post(
            "/api/v1/users/@me/email-change/resend-new",
            &json!({ "ticket": ticket }),
        )
        .expect_error(429, "RATE_LIMITED");
    assert!(
        e["retry_after"]
            .as_f64()
            .is_some_and(|s| s > 0.0 && s <= 30.0),
        "{e}"
    );
    let code = code_in(&sink.wait_for("change-a2@example.com", "Verify your new Fluxer email"));
    let e = alice
        .post(
            "/api/v1/users/@me/email-change/verify-new",
            &json!({ "ticket": ticket, "code": "AAAA-0000", "original_proof": proof }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(e["errors"][0]["code"], "INVALID_VERIFICATION_CODE");
    let token = alice
        .post(
            "/api/v1/users/@me/email-change/verify-new",
            &json!({ "ticket": ticket, "code": code, "original_proof": proof }),
        )
        .expect(200)
        .json()["email_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Applying it needs sudo mode: the app asks for the password and sends it again.
    let e = alice
        .patch("/api/v1/users/@me", &json!({ "email_token": token }))
        .expect_error(403, "SUDO_MODE_REQUIRED");
    assert_eq!(e["has_mfa"], false);
    let me = alice
        .patch(
            "/api/v1/users/@me",
            &json!({ "email_token": token, "password": "correct horse battery" }),
        )
        .expect(200)
        .json();
    assert_eq!(
        (me["email"].as_str(), me["verified"].as_bool()),
        (Some("change-a2@example.com"), Some(true))
    );
    alice
        .patch(
            "/api/v1/users/@me",
            &json!({ "email_token": token, "password": "correct horse battery" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    let revert_mail = sink.wait_for("change-a@example.com", "Your Fluxer email was changed");
    let revert = extract_after(&revert_mail, "wasntme#token=").to_owned();
    assert_eq!(revert.len(), 64);

    // A verified address must be proven with a code sent to it first.
    let start = alice
        .post("/api/v1/users/@me/email-change/start", &json!({}))
        .expect(200)
        .json();
    assert_eq!(
        (
            start["require_original"].as_bool(),
            &start["original_proof"]
        ),
        (Some(true), &Value::Null)
    );
    let ticket = start["ticket"].as_str().unwrap();
    let code = code_in(&sink.wait_for("change-a2@example.com", "Confirm your Fluxer email change"));
    let e = alice
        .post("/api/v1/users/@me/email-change/request-new", &json!({ "ticket": ticket, "new_email": "change-a3@example.com", "original_proof": "guess" }))
        .expect_error(400, "INVALID_FORM_BODY");
    assert_eq!(
        e["errors"][0]["code"],
        "ORIGINAL_EMAIL_MUST_BE_VERIFIED_FIRST"
    );
    let proof = alice
        .post(
            "/api/v1/users/@me/email-change/verify-original",
            &json!({ "ticket": ticket, "code": code }),
        )
        .expect(200)
        .json()["original_proof"]
        .as_str()
        .unwrap()
        .to_owned();

    // "This wasn't me": the first change is undone from the old address, with a new password, and
    // every session ends.
    let reverted = anon
        .post(
            "/api/v1/auth/email-revert",
            &json!({ "token": revert, "password": "taken back at once" }),
        )
        .expect(200)
        .json();
    assert_eq!(reverted["user_id"], alice_id.as_str());
    alice.get("/api/v1/users/@me").expect(401);
    let alice = anon.with_token(reverted["token"].as_str().unwrap());
    assert_eq!(
        alice.get("/api/v1/users/@me").expect(200).json()["email"],
        "change-a@example.com"
    );
    anon.post(
        "/api/v1/auth/email-revert",
        &json!({ "token": revert, "password": "taken back twice" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    // The ticket of the ended sessions is the account's still; it goes on with the new session.
    alice
        .post("/api/v1/users/@me/email-change/request-new", &json!({ "ticket": ticket, "new_email": "change-a3@example.com", "original_proof": proof }))
        .expect(200);

    // Password: a code to the address, a proof, then the new password; every other session ends
    // (here and on the gateway), the caller's stays.
    let other = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "change-a@example.com", "password": "taken back at once" }),
        )
        .expect(200)
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let methods = alice
        .get("/api/v1/users/@me/sudo/mfa-methods")
        .expect(200)
        .json();
    assert_eq!(
        methods,
        json!({ "totp": false, "sms": false, "webauthn": false, "has_mfa": false })
    );
    let rt = crate::gateway::runtime();
    let mut mine = rt.block_on(crate::gateway::identify(
        &server.addr,
        alice.token.as_deref().unwrap(),
    ));
    let mut theirs = rt.block_on(crate::gateway::identify(&server.addr, &other));
    let start = alice
        .post("/api/v1/users/@me/password-change/start", &json!({}))
        .expect(200)
        .json();
    let ticket = start["ticket"].as_str().unwrap();
    let code = code_in(&sink.wait_for(
        "change-a@example.com",
        "Confirm your Fluxer password change",
    ));
    let proof = alice
        .post(
            "/api/v1/users/@me/password-change/verify",
            &json!({ "ticket": ticket, "code": code }),
        )
        .expect(200)
        .json()["verification_proof"]
        .as_str()
        .unwrap()
        .to_owned();
    alice
        .post(
            "/api/v1/users/@me/password-change/complete",
            &json!({ "ticket": ticket, "verification_proof": proof, "new_password": "short" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");
    alice
        .post("/api/v1/users/@me/password-change/complete", &json!({ "ticket": ticket, "verification_proof": proof, "new_password": "changed with a code" }))
        .expect(204);
    alice
        .post("/api/v1/users/@me/password-change/complete", &json!({ "ticket": ticket, "verification_proof": proof, "new_password": "changed once more" }))
        .expect_error(400, "INVALID_FORM_BODY");
    // The other gateway session is closed; the caller's goes on.
    let closed = rt.block_on(async {
        use futures_util::StreamExt;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), theirs.next()).await {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))))
                | Ok(None)
                | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
                Err(_) => return false,
            }
        }
    });
    assert!(closed, "the other session stayed open");
    anon.with_token(&other).get("/api/v1/users/@me").expect(401);
    alice.get("/api/v1/users/@me").expect(200);
    let guild = create_guild(&alice, "Still here");
    let created = rt.block_on(crate::gateway::next_dispatch(&mut mine, "GUILD_CREATE"));
    assert_eq!(created["d"]["id"], guild.as_str());
    anon.post(
        "/api/v1/auth/login",
        &json!({ "email": "change-a@example.com", "password": "taken back at once" }),
    )
    .expect_error(400, "INVALID_FORM_BODY");
    let relogged = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "change-a@example.com", "password": "changed with a code" }),
        )
        .expect(200)
        .json();

    // Disabling the account (sudo mode) logs it out everywhere; logging in enables it again.
    let earlier = alice.clone();
    let alice = anon.with_token(relogged["token"].as_str().unwrap());
    alice
        .post("/api/v1/users/@me/disable", &json!({}))
        .expect_error(403, "SUDO_MODE_REQUIRED");
    alice
        .post(
            "/api/v1/users/@me/disable",
            &json!({ "password": "changed with a code" }),
        )
        .expect(204);
    alice.get("/api/v1/users/@me").expect(401);
    earlier.get("/api/v1/users/@me").expect(401);
    let back = anon
        .post(
            "/api/v1/auth/login",
            &json!({ "email": "change-a@example.com", "password": "changed with a code" }),
        )
        .expect(200)
        .json();
    anon.with_token(back["token"].as_str().unwrap())
        .get("/api/v1/users/@me")
        .expect(200);
}
