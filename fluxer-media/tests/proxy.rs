//! End-to-end tests of the media proxy through its router, nested at `/media` as the monolith does.

mod fixtures;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use fluxer_core::ports::BlobStore;
use fluxer_media::proxy::{MediaConfig, MediaProxy, external_path, probe_image};
use fluxer_storage::memory::MemoryBlobStore;
use http_body_util::BodyExt;
use image::{DynamicImage, ImageFormat};
use tower::ServiceExt;

use fixtures::{
    LOCALHOST, animated_gif, jpeg, origin, png, streaming_origin, test_video, zero_png,
};

const FAR_FUTURE: u64 = 4_000_000_000;

struct Harness {
    proxy: MediaProxy,
    app: Router,
    blobs: Arc<MemoryBlobStore>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn error_code(&self) -> String {
        assert_eq!(self.header(header::CONTENT_TYPE), "application/json");
        let json: serde_json::Value = serde_json::from_slice(&self.body).expect("JSON error body");
        assert!(json["message"].is_string(), "{json}");
        json["code"].as_str().unwrap_or_default().to_owned()
    }

    fn image(&self, format: ImageFormat) -> DynamicImage {
        image::load_from_memory_with_format(&self.body, format).expect("a decodable image")
    }
}

fn harness(configure: impl FnOnce(&mut MediaConfig)) -> Harness {
    let blobs = Arc::new(MemoryBlobStore::new());
    let mut config = MediaConfig::new(b"test-secret".to_vec());
    configure(&mut config);
    let proxy = MediaProxy::new(blobs.clone(), config);
    let app = Router::new().nest("/media", proxy.router());
    Harness { proxy, app, blobs }
}

impl Harness {
    async fn put(&self, key: &str, bytes: &[u8], content_type: &str) {
        self.blobs
            .put(key, bytes.to_vec(), Some(content_type))
            .await
            .unwrap();
    }

    /// `/media{path}?{query}` with a valid signature covering `path` (query params are presentation).
    fn signed(&self, path: &str, query: &str) -> String {
        let signed = self.proxy.signer().signed_path(path, FAR_FUTURE);
        if query.is_empty() {
            format!("/media{signed}")
        } else {
            format!("/media{signed}&{query}")
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.get_with(uri, &[]).await
    }

    async fn get_with(&self, uri: &str, headers: &[(header::HeaderName, &str)]) -> Reply {
        let mut request = Request::get(uri);
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Stored objects as they are

#[tokio::test]
async fn png_and_jpeg_are_served_byte_exact() {
    let h = harness(|_| {});
    let png = png(64, 48);
    let jpeg = jpeg(64, 48);
    h.put("attachments/1/2/cat.png", &png, "image/png").await;
    h.put("attachments/1/3/dog.jpg", &jpeg, "image/jpeg").await;
    for (path, bytes, content_type) in [
        ("/attachments/1/2/cat.png", &png, "image/png"),
        ("/attachments/1/3/dog.jpg", &jpeg, "image/jpeg"),
    ] {
        let reply = h.get(&h.signed(path, "")).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(&reply.body, bytes, "{path}");
        assert_eq!(reply.header(header::CONTENT_TYPE), content_type);
        assert_eq!(
            reply.header(header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(reply.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(reply.header(header::ACCEPT_RANGES), "bytes");
        assert!(reply.header(header::ETAG).starts_with('"'));
        assert!(reply.headers.get(header::CONTENT_DISPOSITION).is_none());
    }
}

#[tokio::test]
async fn html_uploads_are_downloads_not_pages() {
    let h = harness(|_| {});
    h.put(
        "attachments/1/2/evil.html",
        b"<script>alert(document.cookie)</script>",
        "text/html",
    )
    .await;
    let reply = h.get(&h.signed("/attachments/1/2/evil.html", "")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_TYPE), "text/html");
    assert_eq!(
        reply.header(header::CONTENT_DISPOSITION),
        "attachment; filename=\"evil.html\""
    );
    assert_eq!(reply.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(
        reply
            .header(header::CONTENT_SECURITY_POLICY)
            .contains("sandbox")
    );
}

#[tokio::test]
async fn unknown_objects_are_404() {
    let h = harness(|_| {});
    let reply = h.get(&h.signed("/attachments/1/2/nothing.png", "")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "NOT_FOUND");
    let reply = h.get("/media/avatars/1/nothing.png").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health() {
    let h = harness(|_| {});
    let reply = h.get("/media/_health").await;
    assert_eq!(reply.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------------
// Signatures

#[tokio::test]
async fn missing_tampered_and_expired_signatures_are_403() {
    let h = harness(|_| {});
    h.put("attachments/1/2/cat.png", &png(8, 8), "image/png")
        .await;
    h.put("attachments/1/2/other.png", &png(8, 8), "image/png")
        .await;
    let signer = h.proxy.signer();

    let reply = h.get("/media/attachments/1/2/cat.png").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "MISSING_SIGNATURE");

    let valid = signer.signed_path("/attachments/1/2/cat.png", FAR_FUTURE);
    let tampered_sig = {
        let (head, sig) = valid.rsplit_once("sig=").unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        format!("/media{head}sig={flipped}{}", &sig[1..])
    };
    let other_object = format!("/media{}", valid.replace("cat.png", "other.png"));
    let later_expiry = format!(
        "/media{}",
        valid.replace(
            &format!("ex={FAR_FUTURE}"),
            &format!("ex={}", FAR_FUTURE + 1)
        )
    );
    for uri in [tampered_sig, other_object, later_expiry] {
        let reply = h.get(&uri).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(reply.error_code(), "INVALID_SIGNATURE", "{uri}");
        assert_eq!(reply.header(header::CACHE_CONTROL), "no-store");
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = signer.signed_path("/attachments/1/2/cat.png", now - 1);
    let reply = h.get(&format!("/media{expired}")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "EXPIRED_SIGNATURE");

    let fresh = signer.signed_path("/attachments/1/2/cat.png", now + 60);
    assert_eq!(
        h.get(&format!("/media{fresh}")).await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------------------
// Variants

#[tokio::test]
async fn webp_variant_has_the_requested_size() {
    let h = harness(|_| {});
    h.put("attachments/1/2/wide.png", &png(300, 200), "image/png")
        .await;
    let reply = h
        .get(&h.signed(
            "/attachments/1/2/wide.png",
            "width=128&height=128&format=webp",
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(header::CONTENT_TYPE), "image/webp");
    assert_eq!(reply.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    let image = reply.image(ImageFormat::WebP);
    assert_eq!((image.width(), image.height()), (128, 128));

    // One side given: the aspect ratio is kept. Asked again: served from the cache, same bytes.
    let uri = h.signed(
        "/attachments/1/2/wide.png",
        "width=150&format=jpeg&quality=70",
    );
    let first = h.get(&uri).await;
    assert_eq!(first.header(header::CONTENT_TYPE), "image/jpeg");
    let image = first.image(ImageFormat::Jpeg);
    assert_eq!((image.width(), image.height()), (150, 100));
    let again = h.get(&uri).await;
    assert_eq!(again.body, first.body);
    assert_eq!(again.header(header::ETAG), first.header(header::ETAG));
}

#[tokio::test]
async fn avif_and_bad_parameters_are_400() {
    let h = harness(|_| {});
    h.put("attachments/1/2/a.png", &png(16, 16), "image/png")
        .await;
    for (query, code) in [
        ("format=avif", "AVIF_NOT_SUPPORTED"),
        ("width=0", "INVALID_QUERY"),
        ("width=5000", "INVALID_QUERY"),
        ("format=bmp", "INVALID_QUERY"),
        ("quality=101", "INVALID_QUERY"),
    ] {
        let reply = h.get(&h.signed("/attachments/1/2/a.png", query)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.error_code(), code, "{query}");
    }
}

#[tokio::test]
async fn decompression_bomb_is_refused_before_decoding() {
    let small = zero_png(64, 48);
    let decoded = image::load_from_memory(&small).expect("the crafted PNG is valid");
    assert_eq!((decoded.width(), decoded.height()), (64, 48));

    let bomb = zero_png(8000, 6250); // 50 megapixels
    assert!(bomb.len() < 64 * 1024, "the bomb is {} bytes", bomb.len());
    let info = probe_image(&bomb).unwrap();
    assert_eq!((info.width, info.height), (8000, 6250));

    let h = harness(|_| {});
    h.put("attachments/1/2/bomb.png", &bomb, "image/png").await;
    let reply = h
        .get(&h.signed("/attachments/1/2/bomb.png", "width=100&format=webp"))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "IMAGE_TOO_LARGE");
    // As stored (no decoding involved) it is still served.
    let reply = h.get(&h.signed("/attachments/1/2/bomb.png", "")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, bomb);
}

#[tokio::test]
async fn garbage_is_refused_not_a_server_error() {
    let h = harness(|_| {});
    let mut truncated = png(64, 64);
    truncated.truncate(100);
    h.put(
        "attachments/1/2/garbage.png",
        b"definitely not a png",
        "image/png",
    )
    .await;
    h.put("attachments/1/2/cut.png", &truncated, "image/png")
        .await;
    h.put("attachments/1/2/notes.txt", b"hello", "text/plain")
        .await;
    for path in [
        "/attachments/1/2/garbage.png",
        "/attachments/1/2/cut.png",
        "/attachments/1/2/notes.txt",
    ] {
        let reply = h.get(&h.signed(path, "width=32&format=png")).await;
        assert!(
            matches!(
                reply.status,
                StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE
            ),
            "{path}: {}",
            reply.status
        );
        let code = reply.error_code();
        assert!(
            code == "INVALID_IMAGE" || code == "UNSUPPORTED_MEDIA_TYPE",
            "{path}: {code}"
        );
    }
}

#[tokio::test]
async fn avatars_use_size_extension_and_animation() {
    let h = harness(|_| {});
    let stored = png(200, 100);
    let gif = animated_gif();
    h.put("avatars/42/abc", &stored, "image/png").await;
    h.put("icons/42/def", &gif, "image/gif").await; // the `a_` prefix is not part of the key

    let reply = h.get("/media/avatars/42/abc.png").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, stored);

    let reply = h.get("/media/avatars/42/abc.webp?size=64").await;
    assert_eq!(reply.header(header::CONTENT_TYPE), "image/webp");
    let image = reply.image(ImageFormat::WebP);
    assert_eq!((image.width(), image.height()), (64, 32));

    let reply = h.get("/media/avatars/42/abc.png?size=17").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "INVALID_QUERY");

    // An animated hash keeps its animation in its own format, and is a still frame otherwise.
    let reply = h.get("/media/icons/42/a_def.gif?size=16").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, gif);
    let reply = h.get("/media/icons/42/a_def.png?size=16").await;
    assert_eq!(reply.header(header::CONTENT_TYPE), "image/png");
    let image = reply.image(ImageFormat::Png);
    assert_eq!((image.width(), image.height()), (16, 16));
    let reply = h
        .get("/media/icons/42/a_def.gif?size=16&animated=false")
        .await;
    assert!(!probe_image(&reply.body).unwrap().animated);

    let reply = h.get("/media/avatars/42/..%2Fx.png").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "INVALID_PATH");
}

// ---------------------------------------------------------------------------------------------------
// Ranges and conditional requests

#[tokio::test]
async fn range_requests() {
    let h = harness(|_| {});
    let bytes: Vec<u8> = (0..=255).collect();
    h.put(
        "attachments/1/2/blob.bin",
        &bytes,
        "application/octet-stream",
    )
    .await;
    let uri = h.signed("/attachments/1/2/blob.bin", "");

    let reply = h.get_with(&uri, &[(header::RANGE, "bytes=10-19")]).await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, &bytes[10..20]);
    assert_eq!(reply.header(header::CONTENT_RANGE), "bytes 10-19/256");
    assert_eq!(
        reply.header(header::CONTENT_DISPOSITION),
        "attachment; filename=\"blob.bin\""
    );

    let reply = h.get_with(&uri, &[(header::RANGE, "bytes=-6")]).await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, &bytes[250..]);
    assert_eq!(reply.header(header::CONTENT_RANGE), "bytes 250-255/256");

    let reply = h.get_with(&uri, &[(header::RANGE, "bytes=200-")]).await;
    assert_eq!(reply.body, &bytes[200..]);

    let reply = h.get_with(&uri, &[(header::RANGE, "bytes=256-")]).await;
    assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(reply.header(header::CONTENT_RANGE), "bytes */256");
    assert_eq!(reply.error_code(), "RANGE_NOT_SATISFIABLE");

    let full = h.get(&uri).await;
    assert_eq!(full.status, StatusCode::OK);
    let etag = full.header(header::ETAG).to_owned();
    let reply = h.get_with(&uri, &[(header::IF_NONE_MATCH, &etag)]).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());

    // Ranges apply to rendered variants too.
    h.put("attachments/1/2/p.png", &png(40, 40), "image/png")
        .await;
    let variant_uri = h.signed("/attachments/1/2/p.png", "width=20&format=webp");
    let whole = h.get(&variant_uri).await;
    let part = h
        .get_with(&variant_uri, &[(header::RANGE, "bytes=0-3")])
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, &whole.body[..4]);
}

// ---------------------------------------------------------------------------------------------------
// Video thumbnails

#[tokio::test]
async fn mp4_gets_a_jpeg_thumbnail() {
    let video = test_video();
    let h = harness(|_| {});
    h.put("attachments/1/2/clip.mp4", &video, "video/mp4").await;

    let reply = h
        .get(&h.signed("/attachments/1/2/clip.mp4", "format=jpeg"))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header(header::CONTENT_TYPE), "image/jpeg");
    let image = reply.image(ImageFormat::Jpeg);
    assert_eq!((image.width(), image.height()), (320, 240));

    let reply = h
        .get(&h.signed("/attachments/1/2/clip.mp4", "format=webp&width=160"))
        .await;
    let image = reply.image(ImageFormat::WebP);
    assert_eq!((image.width(), image.height()), (160, 120));

    // Without a format the video itself is served, ranges included.
    let reply = h
        .get(&h.signed("/attachments/1/2/clip.mp4", "width=160"))
        .await;
    assert_eq!(reply.body, video);
    assert_eq!(reply.header(header::CONTENT_TYPE), "video/mp4");
    let reply = h
        .get_with(
            &h.signed("/attachments/1/2/clip.mp4", ""),
            &[(header::RANGE, "bytes=0-99")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(reply.body, &video[..100]);
}

#[tokio::test]
async fn missing_ffmpeg_is_503_with_a_clear_code() {
    let h = harness(|c| c.ffmpeg = Some("/nonexistent/fluxer-test/ffmpeg".into()));
    // Any bytes: the proxy trusts the content type to pick ffmpeg.
    h.put(
        "attachments/1/2/clip.mp4",
        b"\0\0\0\x18ftypmp42",
        "video/mp4",
    )
    .await;
    let reply = h
        .get(&h.signed("/attachments/1/2/clip.mp4", "format=jpeg"))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error_code(), "VIDEO_THUMBNAILS_UNAVAILABLE");
}

#[tokio::test]
async fn broken_video_is_415() {
    let _ = test_video(); // fails clearly without ffmpeg
    let h = harness(|_| {});
    h.put(
        "attachments/1/2/clip.mp4",
        b"\0\0\0\x18ftypmp42 not really",
        "video/mp4",
    )
    .await;
    let reply = h
        .get(&h.signed("/attachments/1/2/clip.mp4", "format=jpeg"))
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.error_code(), "INVALID_VIDEO");
}

// ---------------------------------------------------------------------------------------------------
// External proxy
fn external_harness(allow_localhost: bool) -> Harness {
    harness(|c| {
        c.external.max_bytes = 200_000;
        c.external.timeout = Duration::from_secs(10);
        if allow_localhost {
            c.external.allow_addresses = vec![LOCALHOST];
        }
    })
}

impl Harness {
    fn external(&self, url: &str, query: &str) -> String {
        let path = external_path(self.proxy.signer(), url);
        if query.is_empty() {
            format!("/media/{path}")
        } else {
            format!("/media/{path}?{query}")
        }
    }
}

#[tokio::test]
async fn external_image_from_an_allowed_origin() {
    let image = png(120, 60);
    let addr = origin(image.clone()).await;
    let h = external_harness(true);

    let reply = h
        .get(&h.external(&format!("http://{addr}/cat.png"), ""))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.body, image);
    assert_eq!(reply.header(header::CONTENT_TYPE), "image/png");
    assert_eq!(reply.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff");

    let reply = h
        .get(&h.external(&format!("http://{addr}/hop"), "width=60&format=webp"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let image = reply.image(ImageFormat::WebP);
    assert_eq!((image.width(), image.height()), (60, 30));
}

#[tokio::test]
async fn external_ssrf_is_refused() {
    let addr = origin(png(8, 8)).await;
    let url = format!("http://{addr}/cat.png");

    // The same URL, without the test allowance for 127.0.0.1.
    let strict = external_harness(false);
    let reply = strict.get(&strict.external(&url, "")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.error_code(), "EXTERNAL_ADDRESS_FORBIDDEN");
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://0.0.0.0/".to_owned(),
        "http://localhost/".to_owned(),
        "http://2130706433/".to_owned(), // 127.0.0.1 as a number, resolved by getaddrinfo
    ] {
        let reply = strict.get(&strict.external(&url, "")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{url}");
        // The answer says "refused" and nothing of how the name resolved.
        let body = String::from_utf8_lossy(&reply.body).to_string();
        assert!(body.contains("refused"), "{url}: {body}");
        for leak in ["127.0.0.1", "::1", "169.254", "0.0.0.0", "resolves"] {
            assert!(!body.contains(leak), "{url} leaks {leak}: {body}");
        }
    }
    // Nor why a connection failed: a closed port and a refused address look alike from outside.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let open = external_harness(true);
    let reply = open
        .get(&open.external(&format!("http://{closed}/x.png"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.error_code(), "EXTERNAL_FETCH_FAILED");
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        json["message"], "The external resource could not be fetched.",
        "the connection error stays in the log"
    );

    // Redirects to private addresses are refused although the first hop is allowed.
    let h = external_harness(true);
    for path in ["/to-metadata", "/to-loopback", "/to-mapped"] {
        let reply = h
            .get(&h.external(&format!("http://{addr}{path}"), ""))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(reply.error_code(), "EXTERNAL_ADDRESS_FORBIDDEN", "{path}");
    }
    let reply = h.get(&h.external(&format!("http://{addr}/loop"), "")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.error_code(), "TOO_MANY_REDIRECTS");

    for url in ["file:///etc/passwd", "ftp://example.com/x.png"] {
        let reply = h.get(&h.external(url, "")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(reply.error_code(), "INVALID_EXTERNAL_URL");
    }
}

#[tokio::test]
async fn external_size_type_and_signature_checks() {
    let addr = origin(png(8, 8)).await;
    let h = external_harness(true);

    let reply = h
        .get(&h.external(&format!("http://{addr}/huge.png"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "SOURCE_TOO_LARGE");

    let streaming = streaming_origin(1_000_000).await;
    let reply = h
        .get(&h.external(&format!("http://{streaming}/stream.png"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "SOURCE_TOO_LARGE");

    let reply = h
        .get(&h.external(&format!("http://{addr}/page.html"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.error_code(), "CONTENT_TYPE_NOT_ALLOWED");

    // https goes through rustls: a plain-HTTP origin fails the handshake, cleanly.
    let reply = h
        .get(&h.external(&format!("https://{addr}/cat.png"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.error_code(), "EXTERNAL_FETCH_FAILED");

    let reply = h
        .get(&h.external(&format!("http://{addr}/missing"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "EXTERNAL_NOT_FOUND");

    let good = h.external(&format!("http://{addr}/cat.png"), "");
    let (prefix, rest) = good.split_at("/media/external/".len());
    let tampered = format!(
        "{prefix}{}{}",
        if rest.starts_with('A') { "B" } else { "A" },
        &rest[1..]
    );
    let reply = h.get(&tampered).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error_code(), "INVALID_SIGNATURE");

    let off = harness(|c| c.external.enabled = false);
    let reply = off
        .get(&off.external(&format!("http://{addr}/cat.png"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "EXTERNAL_PROXY_DISABLED");
}

#[tokio::test]
async fn external_timeout() {
    // A listener that accepts and never answers.
    let listener = tokio::net::TcpListener::bind((LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let h = harness(|c| {
        c.external.allow_addresses = vec![LOCALHOST];
        c.external.timeout = Duration::from_millis(300);
    });
    let reply = h
        .get(&h.external(&format!("http://{addr}/slow.png"), ""))
        .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.error_code(), "EXTERNAL_TIMEOUT");
}
