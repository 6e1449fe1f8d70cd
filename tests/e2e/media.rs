//! Files end to end: attachments uploaded with a message (multipart, as Discord clients send them),
//! served back through the media proxy with signed URLs, resized and re-encoded, video thumbnails by
//! ffmpeg, decompression bombs refused, avatars from data URIs, files removed with their message.

use std::io::Cursor;
use std::time::{Duration, Instant};

use base64::Engine;
use image::{ImageFormat, RgbImage};
use serde_json::{Value, json};

use crate::harness::{Client, Server};
use crate::{create_guild, general_channel, invite_and_join, register};

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .unwrap();
    out
}

fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 3 % 256) as u8, (y * 5 % 256) as u8, 128])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

/// A real PNG that declares 8000 x 6250 (50 megapixels) of grey: tiny compressed, huge decoded.
fn png_bomb() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut e = png::Encoder::new(&mut out, 8000, 6250);
        e.set_color(png::ColorType::Grayscale);
        e.set_depth(png::BitDepth::Eight);
        e.set_compression(png::Compression::Fast);
        let mut writer = e.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; 8000];
        for _ in 0..6250 {
            std::io::Write::write_all(&mut stream, &row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

/// A one-second 320x240 MP4 made by ffmpeg (which the media proxy needs anyway).
fn mp4() -> Vec<u8> {
    let path = std::env::temp_dir().join(format!("fluxer-e2e-{}.mp4", std::process::id()));
    let status = std::process::Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=5")
        .args(["-t", "1", "-pix_fmt", "yuv420p", "-c:v", "mpeg4"])
        .arg(&path)
        .status()
        .expect("ffmpeg must be installed (apt-get install ffmpeg; .ci/run does it)");
    assert!(status.success(), "ffmpeg failed to make the test video");
    let bytes = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    bytes
}

/// A multipart/form-data body with `payload_json` and `files[n]`.
pub(crate) fn multipart(payload: &Value, files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "fluxer-e2e-boundary-7d3f";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n{payload}\r\n"
        )
        .as_bytes(),
    );
    for (i, (name, bytes)) in files.iter().enumerate() {
        // The client's content type is a lie on purpose: the server sniffs the bytes.
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"files[{i}]\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The path and query of a URL the server handed out.
fn path_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest[rest.find('/').unwrap()..].to_owned()
}

pub(crate) fn upload(c: &Client, channel: &str, payload: Value, files: &[(&str, &[u8])]) -> Value {
    let (content_type, body) = multipart(&payload, files);
    c.raw(
        "POST",
        &format!("/api/v1/channels/{channel}/messages"),
        &[("content-type", &content_type)],
        &body,
    )
    .expect(200)
    .json()
}

fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("a decodable image")
}

#[test]
fn attachments_are_stored_served_resized_and_signed() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (alice, alice_id) = register(&anon, "alice@example.com", "alice");
    let guild = alice
        .post("/api/v1/guilds", &json!({ "name": "Pictures" }))
        .expect(200)
        .json();
    let channel = general_channel(&alice, guild["id"].as_str().unwrap());

    let cat = png(300, 200);
    let dog = jpeg(160, 120);
    let message = upload(
        &alice,
        &channel,
        json!({
            "content": "two pets",
            "attachments": [
                { "id": 0, "filename": "cat.png", "description": "a cat" },
                { "id": 1, "filename": "../../dog photo.jpg" }
            ]
        }),
        &[("cat.png", &cat), ("dog.jpg", &dog)],
    );
    let atts = message["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{message}");
    assert_eq!(atts[0]["filename"], "cat.png");
    assert_eq!(atts[0]["content_type"], "image/png");
    assert_eq!(
        (atts[0]["width"].as_u64(), atts[0]["height"].as_u64()),
        (Some(300), Some(200))
    );
    assert_eq!(atts[0]["size"], cat.len() as u64);
    assert_eq!(atts[0]["description"], "a cat");
    assert_eq!(atts[1]["filename"], "dog_photo.jpg", "sanitized");
    assert_eq!(atts[1]["content_type"], "image/jpeg");
    let cat_url = path_of(atts[0]["url"].as_str().unwrap());
    let dog_url = path_of(atts[1]["url"].as_str().unwrap());
    assert!(
        cat_url.starts_with(&format!("/media/attachments/{channel}/")),
        "{cat_url}"
    );
    assert!(cat_url.contains("&sig="), "{cat_url}");

    // The stored bytes come back unchanged.
    let got = anon.get(&cat_url).expect(200);
    assert_eq!(got.body, cat);
    assert_eq!(got.header("content-type"), Some("image/png"));
    assert_eq!(anon.get(&dog_url).expect(200).body, dog);
    // The history shows the same attachments.
    let history = alice
        .get(&format!("/api/v1/channels/{channel}/messages"))
        .expect(200)
        .json();
    assert_eq!(history[0]["attachments"][1]["filename"], "dog_photo.jpg");

    // A 128x128 WebP variant.
    let webp = anon
        .get(&format!("{cat_url}&width=128&height=128&format=webp"))
        .expect(200);
    assert_eq!(webp.header("content-type"), Some("image/webp"));
    assert_eq!(&webp.body[..4], b"RIFF");
    let img = decode(&webp.body);
    assert_eq!((img.width(), img.height()), (128, 128));

    // Tampered or missing signatures are refused.
    let tampered = cat_url.replace("sig=", "sig=A");
    assert_eq!(anon.get(&tampered).status, 403);
    let unsigned = cat_url.split('?').next().unwrap().to_owned();
    assert_eq!(anon.get(&unsigned).status, 403);
    let other_file = cat_url.replace("cat.png", "dog.png");
    assert_eq!(anon.get(&other_file).status, 403);

    // A 50-megapixel decompression bomb uploads (it is a valid PNG) but is never decoded.
    let bomb = png_bomb();
    assert!(bomb.len() < 2 << 20, "the bomb is small: {}", bomb.len());
    let m = upload(
        &alice,
        &channel,
        json!({ "content": "boom" }),
        &[("bomb.png", &bomb)],
    );
    let bomb_url = path_of(m["attachments"][0]["url"].as_str().unwrap());
    assert_eq!(m["attachments"][0]["width"], 8000);
    let refused = anon.get(&format!("{bomb_url}&width=128&format=webp"));
    assert_eq!(
        refused.status,
        413,
        "{:?}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(refused.json()["code"], "IMAGE_TOO_LARGE");

    // Bytes that only pretend to be an image are stored as what they are.
    let m = upload(
        &alice,
        &channel,
        json!({}),
        &[("evil.png", b"<html><script>alert(1)</script></html>")],
    );
    assert_eq!(
        m["attachments"][0]["content_type"],
        "text/plain; charset=utf-8"
    );
    let evil = anon
        .get(&path_of(m["attachments"][0]["url"].as_str().unwrap()))
        .expect(200);
    assert!(
        evil.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment"))
    );
    let asked = anon.get(&format!(
        "{}&width=64&format=png",
        path_of(m["attachments"][0]["url"].as_str().unwrap())
    ));
    assert!(matches!(asked.status, 400 | 415), "{}", asked.status);

    // A video gets a JPEG thumbnail from ffmpeg.
    let video = mp4();
    let m = upload(
        &alice,
        &channel,
        json!({ "content": "clip" }),
        &[("clip.mp4", &video)],
    );
    assert_eq!(m["attachments"][0]["content_type"], "video/mp4");
    let video_url = path_of(m["attachments"][0]["url"].as_str().unwrap());
    let thumb = anon
        .get(&format!("{video_url}&format=jpeg&width=160"))
        .expect(200);
    assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
    let img = decode(&thumb.body);
    assert_eq!((img.width(), img.height()), (160, 120));

    // Avatars arrive as data URIs and are served by the proxy.
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png(256, 256))
    );
    let me = alice
        .patch("/api/v1/users/@me", &json!({ "avatar": uri }))
        .expect(200)
        .json();
    let hash = me["avatar"].as_str().expect("an avatar hash").to_owned();
    let avatar = anon
        .get(&format!("/media/avatars/{alice_id}/{hash}.webp?size=128"))
        .expect(200);
    assert_eq!(decode(&avatar.body).width(), 128);
    alice
        .patch(
            "/api/v1/users/@me",
            &json!({ "avatar": "data:image/png;base64,AAAA" }),
        )
        .expect_error(400, "INVALID_FORM_BODY");

    // Deleting the message removes its files (through a background job).
    let first_id = message["id"].as_str().unwrap();
    alice
        .delete(&format!("/api/v1/channels/{channel}/messages/{first_id}"))
        .expect(204);
    let deadline = Instant::now() + Duration::from_secs(30);
    while anon.get(&cat_url).status != 404 {
        assert!(
            Instant::now() < deadline,
            "the deleted message's file is still served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn uploads_are_limited_and_need_permission() {
    let server = Server::start(&[("FLUXER_CONFIG__DEV__DISABLE_RATE_LIMITS", "true")]);
    let anon = server.client();
    let (alice, _) = register(&anon, "alice@example.com", "alice");
    let (bob, _) = register(&anon, "bob@example.com", "bob");
    let guild_id = create_guild(&alice, "Strict");
    let channel = general_channel(&alice, &guild_id);
    invite_and_join(&alice, &channel, &bob);
    // Deny ATTACH_FILES (1 << 15) to @everyone.
    alice
        .put(
            &format!("/api/v1/channels/{channel}/permissions/{guild_id}"),
            &json!({ "type": 0, "allow": "0", "deny": "32768" }),
        )
        .expect(204);
    let (ct, body) = multipart(&json!({ "content": "hi" }), &[("a.txt", b"hello")]);
    bob.raw(
        "POST",
        &format!("/api/v1/channels/{channel}/messages"),
        &[("content-type", &ct)],
        &body,
    )
    .expect_error(403, "MISSING_PERMISSIONS");
    // Eleven files are one too many.
    let files: Vec<(&str, &[u8])> = (0..11).map(|_| ("a.txt", &b"x"[..])).collect();
    let (ct, body) = multipart(&json!({}), &files);
    alice
        .raw(
            "POST",
            &format!("/api/v1/channels/{channel}/messages"),
            &[("content-type", &ct)],
            &body,
        )
        .expect_error(400, "INVALID_FORM_BODY");
    // A broken multipart body is a 400, not a 500.
    alice
        .raw(
            "POST",
            &format!("/api/v1/channels/{channel}/messages"),
            &[("content-type", "multipart/form-data; boundary=nope")],
            b"--other\r\n\r\n",
        )
        .expect(400);
}
