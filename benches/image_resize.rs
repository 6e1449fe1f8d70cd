//! Image resize: thumbnails per second for a 4000x3000 JPEG rendered as a 256-pixel-wide WebP, through
//! the media proxy's router (`fluxer_media::proxy::MediaProxy` over a `MemoryBlobStore` holding the
//! JPEG, signed attachment URLs `?width=256&format=webp`, the variant cache off so every request
//! renders), against the raw pipeline: the image crate decodes the JPEG, fast_image_resize scales it
//! (Lanczos3, same options), the image crate's WebP encoder writes it (lossless, as the proxy does).
//! The raw pipeline runs twice: in the JPEG's own pixel format (RGB, what a hand-written pipeline
//! does, and what the proxy does for any source without alpha) and converted to RGBA first (what the
//! proxy did for every source until it learned to keep the decoded layout). Every side runs as many
//! renders at once as the proxy allows (one per core) on tokio's blocking pool; rounds rotate the
//! order; medians.
//!
//! The JPEG is generated in-process: gradients, a few soft shapes and seeded noise, quality 90.
//!
//! ```sh
//! cargo bench -p fluxer --bench image_resize -- --thumbnails 24 --rounds 3
//! ```

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use fast_image_resize as fir;
use fluxer::core::ports::BlobStore;
use fluxer::storage::memory::MemoryBlobStore;
use fluxer_media::proxy::{MediaConfig, MediaProxy};
use http_body_util::BodyExt;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, ImageFormat, RgbImage};
use tower::ServiceExt;

mod common;

use common::median;

const TARGET_WIDTH: u32 = 256;

struct Args {
    width: u32,
    height: u32,
    thumbnails: usize,
    concurrency: usize,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        width: 4000,
        height: 3000,
        thumbnails: 24,
        // The proxy renders at most this many images at once.
        concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
        rounds: 3,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).map(String::as_str);
        match (argv[i].as_str(), value) {
            ("--width", Some(v)) => a.width = v.parse().expect("--width N"),
            ("--height", Some(v)) => a.height = v.parse().expect("--height N"),
            ("--thumbnails", Some(v)) => a.thumbnails = v.parse().expect("--thumbnails N"),
            ("--concurrency", Some(v)) => a.concurrency = v.parse().expect("--concurrency N"),
            ("--rounds", Some(v)) => a.rounds = v.parse().expect("--rounds N"),
            _ => {}
        }
        i += 1;
    }
    a.concurrency = a.concurrency.max(1);
    a
}

/// Deterministic pseudo-random numbers (Knuth's MMIX LCG, high bits).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A photo-like test image: diagonal gradients, soft circles and noise, encoded at quality 90.
fn test_jpeg(width: u32, height: u32) -> Vec<u8> {
    let mut rng = Lcg(2024);
    let circles: Vec<(f32, f32, f32, [f32; 3])> = (0..12)
        .map(|_| {
            let x = (rng.next() % u64::from(width)) as f32;
            let y = (rng.next() % u64::from(height)) as f32;
            let r = (200 + rng.next() % 600) as f32;
            let c = [0, 1, 2].map(|_| (rng.next() % 120) as f32 - 60.0);
            (x, y, r, c)
        })
        .collect();
    let image = RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
        let mut px = [
            40.0 + 160.0 * fx,
            60.0 + 120.0 * fy,
            200.0 - 150.0 * (fx + fy) / 2.0,
        ];
        for (cx, cy, r, c) in &circles {
            let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
            if d < *r {
                let k = 1.0 - d / r;
                for i in 0..3 {
                    px[i] += c[i] * k;
                }
            }
        }
        let noise = (rng.next() % 17) as f32 - 8.0;
        image::Rgb(px.map(|v| (v + noise).clamp(0.0, 255.0) as u8))
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// The raw pipeline: decode, resize (Lanczos3), encode lossless WebP; in RGB or, like the proxy, RGBA.
fn raw_thumbnail(jpeg: &[u8], rgba: bool) -> Vec<u8> {
    let image = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
    let (source_width, source_height) = (image.width(), image.height());
    let height = (f64::from(source_height) * f64::from(TARGET_WIDTH) / f64::from(source_width))
        .round()
        .max(1.0) as u32;
    let (pixels, pixel_type, color) = if rgba {
        (
            image.to_rgba8().into_raw(),
            fir::PixelType::U8x4,
            ExtendedColorType::Rgba8,
        )
    } else {
        (
            image.into_rgb8().into_raw(),
            fir::PixelType::U8x3,
            ExtendedColorType::Rgb8,
        )
    };
    let source =
        fir::images::Image::from_vec_u8(source_width, source_height, pixels, pixel_type).unwrap();
    let mut target = fir::images::Image::new(TARGET_WIDTH, height, pixel_type);
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3))
        .fit_into_destination(Some((0.5, 0.5)));
    fir::Resizer::new()
        .resize(&source, &mut target, &options)
        .unwrap();
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(target.buffer(), TARGET_WIDTH, height, color)
        .unwrap();
    out
}

/// Where the raw pipeline's time goes, stage by stage (one thread, median of 3): printed to stderr.
fn stages(jpeg: &[u8]) {
    let time = |f: &mut dyn FnMut()| {
        let v: Vec<f64> = (0..3)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        median(v)
    };
    let image = image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
    let decode = time(&mut || {
        image::load_from_memory_with_format(jpeg, ImageFormat::Jpeg).unwrap();
    });
    let to_rgba = time(&mut || {
        std::hint::black_box(image.to_rgba8());
    });
    let (w, h) = (image.width(), image.height());
    let height = (f64::from(h) * f64::from(TARGET_WIDTH) / f64::from(w)).round() as u32;
    let resize = |pixels: Vec<u8>, pixel_type| {
        let source = fir::images::Image::from_vec_u8(w, h, pixels, pixel_type).unwrap();
        let mut target = fir::images::Image::new(TARGET_WIDTH, height, pixel_type);
        let options = fir::ResizeOptions::new()
            .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3));
        time(&mut || {
            fir::Resizer::new()
                .resize(&source, &mut target, &options)
                .unwrap();
        })
    };
    let resize_rgb = resize(image.to_rgb8().into_raw(), fir::PixelType::U8x3);
    let resize_rgba = resize(image.to_rgba8().into_raw(), fir::PixelType::U8x4);
    let small = image::imageops::thumbnail(&image.to_rgba8(), TARGET_WIDTH, height);
    let encode = time(&mut || {
        let mut out = Vec::new();
        WebPEncoder::new_lossless(&mut out)
            .write_image(
                small.as_raw(),
                TARGET_WIDTH,
                height,
                ExtendedColorType::Rgba8,
            )
            .unwrap();
    });
    eprintln!(
        "raw pipeline stages (ms, one thread): decode {decode:.1}, to RGBA {to_rgba:.1}, \
         resize RGB {resize_rgb:.1} / RGBA {resize_rgba:.1}, encode WebP {encode:.1}"
    );
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Fluxer,
    RawRgb,
    RawRgba,
}

/// The proxy and one signed URL per concurrent client (distinct sources, so no two requests in
/// flight are coalesced into one render).
struct Proxy {
    router: axum::Router,
    urls: Vec<String>,
}

async fn proxy(jpeg: &[u8], concurrency: usize) -> Proxy {
    let blobs = Arc::new(MemoryBlobStore::new());
    let mut config = MediaConfig::new(b"bench secret".to_vec());
    config.variant_cache_bytes = 0;
    let proxy = MediaProxy::new(blobs.clone(), config);
    let mut urls = Vec::with_capacity(concurrency);
    for i in 0..concurrency {
        let path = format!("/attachments/1/{}/photo.jpg", 100 + i);
        blobs
            .put(&path[1..], jpeg.to_vec(), Some("image/jpeg"))
            .await
            .unwrap();
        let signed = proxy.signer().signed_path(&path, 4_000_000_000);
        urls.push(format!("{signed}&width={TARGET_WIDTH}&format=webp"));
    }
    Proxy {
        router: proxy.router(),
        urls,
    }
}

async fn fetch(router: &axum::Router, url: &str) -> Vec<u8> {
    let request = Request::builder().uri(url).body(Body::empty()).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    body.to_vec()
}

/// Thumbnails per second: `concurrency` clients, each rendering its share one after the other.
async fn run(side: Side, proxy: &Arc<Proxy>, jpeg: &Arc<Vec<u8>>, args: &Args) -> f64 {
    let per_client = args.thumbnails.div_ceil(args.concurrency);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.concurrency {
        let (proxy, jpeg) = (proxy.clone(), jpeg.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_client {
                let webp = match side {
                    Side::Fluxer => fetch(&proxy.router, &proxy.urls[c]).await,
                    Side::RawRgb | Side::RawRgba => {
                        let jpeg = jpeg.clone();
                        let rgba = side == Side::RawRgba;
                        tokio::task::spawn_blocking(move || raw_thumbnail(&jpeg, rgba))
                            .await
                            .unwrap()
                    }
                };
                assert!(webp.starts_with(b"RIFF"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (per_client * args.concurrency) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let jpeg = Arc::new(test_jpeg(args.width, args.height));
    eprintln!(
        "generated a {}x{} JPEG of {} KiB in {:.1} s",
        args.width,
        args.height,
        jpeg.len() / 1024,
        started.elapsed().as_secs_f64()
    );
    let proxy = Arc::new(rt.block_on(proxy(&jpeg, args.concurrency)));
    stages(&jpeg);

    // Same output size from both (and one unmeasured render each).
    let ours = image::load_from_memory(&rt.block_on(fetch(&proxy.router, &proxy.urls[0]))).unwrap();
    let raw = image::load_from_memory(&raw_thumbnail(&jpeg, false)).unwrap();
    assert_eq!(
        (ours.width(), ours.height()),
        (raw.width(), raw.height()),
        "the proxy and the raw pipeline disagree on the thumbnail's size"
    );

    let sides = [Side::Fluxer, Side::RawRgb, Side::RawRgba];
    let mut results: [Vec<f64>; 3] = Default::default();
    for round in 0..args.rounds {
        for k in 0..sides.len() {
            let i = (round + k) % sides.len();
            results[i].push(rt.block_on(run(sides[i], &proxy, &jpeg, &args)));
        }
        eprintln!(
            "round {round}: thumbnails/s fluxer {:.2} / raw RGB {:.2} / raw RGBA {:.2}",
            results[0].last().unwrap(),
            results[1].last().unwrap(),
            results[2].last().unwrap()
        );
    }
    let [ours, rgb, rgba] = results.map(median);
    println!(
        "image resize, {}x{} JPEG ({} KiB) -> {TARGET_WIDTH} px wide lossless WebP, {} at once, {} per side, median of {} rounds",
        args.width,
        args.height,
        jpeg.len() / 1024,
        args.concurrency,
        args.thumbnails,
        args.rounds
    );
    println!("| metric | fluxer | baseline | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| thumbnails/s vs raw pipeline (RGB) | {ours:.2} | {rgb:.2} | {:.2}x |",
        ours / rgb
    );
    println!(
        "| thumbnails/s vs raw pipeline converting to RGBA first | {ours:.2} | {rgba:.2} | {:.2}x |",
        ours / rgba
    );
}
