//! Sniffing, decoding, resizing and encoding images. Everything here is CPU-bound and synchronous:
//! callers run it on `spawn_blocking`.

use std::io::Cursor;

use fast_image_resize as fir;
use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngDecoder, PngEncoder};
use image::codecs::webp::{WebPDecoder, WebPEncoder};
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
    RgbaImage,
};

use super::error::MediaError;
use super::transform::{OutputFormat, Quality, Transform};

/// What [`probe_image`] learns from an image's header, without decoding its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageInfo {
    /// Sniffed from the bytes (`image/png`, `image/jpeg`, `image/gif`, `image/webp`), not trusted from
    /// the uploader.
    pub content_type: String,
    /// Width in pixels, as the header declares it.
    pub width: u32,
    /// Height in pixels, as the header declares it.
    pub height: u32,
    /// More than one frame (animated GIF, animated WebP, APNG).
    pub animated: bool,
}

/// Sniffs an image's type, size and animation from its header (no pixel decoding, so it is cheap and
/// safe on decompression bombs: compare `width * height` with your limit before decoding).
///
/// ```
/// let mut png = Vec::new();
/// image::RgbImage::new(3, 2)
///     .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
///     .unwrap();
/// let info = fluxer_media::proxy::probe_image(&png).unwrap();
/// assert_eq!((info.content_type.as_str(), info.width, info.height), ("image/png", 3, 2));
/// assert!(fluxer_media::proxy::probe_image(b"not an image").is_err());
/// ```
pub fn probe_image(bytes: &[u8]) -> Result<ImageInfo, MediaError> {
    let (format, output) = sniff(bytes)?;
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(invalid_image)?;
    let animated = match format {
        ImageFormat::Gif => gif_frame_count(bytes, 2) > 1,
        ImageFormat::WebP => WebPDecoder::new(Cursor::new(bytes))
            .map_err(invalid_image)?
            .has_animation(),
        ImageFormat::Png => PngDecoder::new(Cursor::new(bytes))
            .and_then(|d| d.is_apng())
            .map_err(invalid_image)?,
        _ => false,
    };
    Ok(ImageInfo {
        content_type: output.content_type().to_owned(),
        width,
        height,
        animated,
    })
}

/// An encoded rendition.
#[derive(Debug)]
pub(crate) struct Rendered {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// What a transform of an image comes to.
#[derive(Debug)]
pub(crate) enum Rendition {
    /// Serve the source bytes as they are (same format and no resize, or an animation kept); the
    /// content type is the sniffed one.
    Original {
        content_type: &'static str,
    },
    Rendered(Rendered),
}

/// Renders `bytes` (an image) as `transform` asks, refusing images whose header declares more than
/// `max_pixels` before any pixel is decoded.
pub(crate) fn render_image(
    bytes: &[u8],
    transform: &Transform,
    max_pixels: u64,
) -> Result<Rendition, MediaError> {
    let info = probe_image(bytes)?;
    check_pixels(info.width, info.height, max_pixels)?;
    let (format, source_output) = sniff(bytes)?;
    let output = transform.format.unwrap_or(source_output);
    let keep_animation = info.animated && transform.animated == Some(true);
    if output == source_output && (keep_animation || !transform.resizes()) {
        return Ok(Rendition::Original {
            content_type: source_output.content_type(),
        });
    }
    let image = decode(bytes, format, max_pixels)?;
    let (width, height) = transform.target_size(image.width(), image.height());
    let pixels = Pixels::from_image(image).resize(width, height)?;
    let quality = transform.quality.unwrap_or(Quality::High);
    Ok(Rendition::Rendered(Rendered {
        bytes: encode(&pixels, output, quality)?,
        content_type: output.content_type(),
    }))
}

/// Decoded pixels, 8 bits per channel, in the layout they are resized and encoded in: RGBA when the
/// source has an alpha channel, RGB otherwise. A JPEG never pays for a fourth channel it lacks (the
/// conversion and a 4-channel resize were about 40% of a thumbnail's time).
pub(crate) struct Pixels {
    width: u32,
    height: u32,
    data: Vec<u8>,
    alpha: bool,
}

impl Pixels {
    fn from_image(image: DynamicImage) -> Pixels {
        let (width, height) = (image.width(), image.height());
        let alpha = image.color().has_alpha();
        let data = match image {
            DynamicImage::ImageRgb8(rgb) => rgb.into_raw(),
            DynamicImage::ImageRgba8(rgba) => rgba.into_raw(),
            other if alpha => other.to_rgba8().into_raw(),
            other => other.to_rgb8().into_raw(),
        };
        Pixels {
            width,
            height,
            data,
            alpha,
        }
    }

    fn color_type(&self) -> ExtendedColorType {
        if self.alpha {
            ExtendedColorType::Rgba8
        } else {
            ExtendedColorType::Rgb8
        }
    }

    /// Scales to exactly `width` x `height`, cropping the centre to keep the aspect ratio.
    fn resize(self, width: u32, height: u32) -> Result<Pixels, MediaError> {
        if (self.width, self.height) == (width, height) {
            return Ok(self);
        }
        let channels = if self.alpha { 4 } else { 3 };
        let mut data = vec![0; width as usize * height as usize * channels];
        let from = (self.width, self.height, self.data.as_slice());
        let into = (width, height, data.as_mut_slice());
        // Typed, for the two layouts decoding leaves: `Resizer::resize` matches on the pixel type at
        // run time, so unless the optimizer inlines it here (fat LTO does), every build links the
        // convolutions of all thirteen the crate knows, each for every SIMD level (2.4 MB of a
        // thin-LTO build).
        if self.alpha {
            resize_as::<fir::pixels::U8x4>(from, into)?;
        } else {
            resize_as::<fir::pixels::U8x3>(from, into)?;
        }
        Ok(Pixels {
            width,
            height,
            data,
            alpha: self.alpha,
        })
    }
}

/// Scales the `P` pixels of `from` (width, height, bytes) to fill `into`, Lanczos3, cropping the
/// centre to keep the aspect ratio.
fn resize_as<P: fir::PixelTrait>(
    (from_width, from_height, from): (u32, u32, &[u8]),
    (width, height, into): (u32, u32, &mut [u8]),
) -> Result<(), MediaError> {
    let invalid = |e: &dyn std::fmt::Display| MediaError::InvalidImage(e.to_string());
    let source = fir::images::TypedImageRef::<P>::from_buffer(from_width, from_height, from)
        .map_err(|e| invalid(&e))?;
    let mut target =
        fir::images::TypedImage::<P>::from_buffer(width, height, into).map_err(|e| invalid(&e))?;
    let options = fir::ResizeOptions::new()
        .resize_alg(fir::ResizeAlg::Convolution(fir::FilterType::Lanczos3))
        .fit_into_destination(Some((0.5, 0.5)));
    fir::Resizer::new()
        .resize_typed(&source, &mut target, &options)
        .map_err(|e| invalid(&e))
}

/// Decodes the first frame as RGBA, upright (JPEG/WebP EXIF orientation applied), for a classifier.
pub(crate) fn decode_rgba(bytes: &[u8], max_pixels: u64) -> Result<RgbaImage, MediaError> {
    let info = probe_image(bytes)?;
    check_pixels(info.width, info.height, max_pixels)?;
    let (format, _) = sniff(bytes)?;
    Ok(decode(bytes, format, max_pixels)?.to_rgba8())
}

/// Scales an RGBA image to exactly `width` x `height` (cropping the centre to keep the aspect ratio).
pub(crate) fn resize(image: RgbaImage, width: u32, height: u32) -> Result<RgbaImage, MediaError> {
    let (source_width, source_height) = image.dimensions();
    let pixels = Pixels {
        width: source_width,
        height: source_height,
        data: image.into_raw(),
        alpha: true,
    }
    .resize(width, height)?;
    RgbaImage::from_raw(width, height, pixels.data)
        .ok_or_else(|| MediaError::InvalidImage("resize produced a short buffer".into()))
}

fn check_pixels(width: u32, height: u32, max_pixels: u64) -> Result<(), MediaError> {
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(MediaError::ImageTooLarge {
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

/// The decodable format of `bytes` and the output format it corresponds to.
fn sniff(bytes: &[u8]) -> Result<(ImageFormat, OutputFormat), MediaError> {
    let format = image::guess_format(bytes)
        .map_err(|_| MediaError::UnsupportedMedia("not a recognised image".into()))?;
    OutputFormat::from_image_format(format)
        .map(|output| (format, output))
        .ok_or_else(|| MediaError::UnsupportedMedia(format!("{format:?} images")))
}

fn decode(bytes: &[u8], format: ImageFormat, max_pixels: u64) -> Result<DynamicImage, MediaError> {
    let mut limits = Limits::default();
    // Room for 16-bit RGBA output plus the decoder's own buffers; the pixel check above is the
    // primary guard, this catches decoders whose frames disagree with their header.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits.clone());
    let mut decoder = reader.into_decoder().map_err(invalid_image)?;
    let (width, height) = decoder.dimensions();
    if limits
        .max_alloc
        .is_some_and(|max| decoder.total_bytes() > max)
    {
        return Err(MediaError::ImageTooLarge {
            width,
            height,
            max_pixels,
        });
    }
    let orientation = decoder.orientation().map_err(invalid_image)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(invalid_image)?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn encode(pixels: &Pixels, format: OutputFormat, quality: Quality) -> Result<Vec<u8>, MediaError> {
    let mut out = Vec::new();
    let (data, width, height) = (pixels.data.as_slice(), pixels.width, pixels.height);
    let color = pixels.color_type();
    let result = match format {
        OutputFormat::Png => {
            PngEncoder::new_with_quality(&mut out, CompressionType::Default, FilterType::Adaptive)
                .write_image(data, width, height, color)
        }
        OutputFormat::Webp => {
            WebPEncoder::new_lossless(&mut out).write_image(data, width, height, color)
        }
        OutputFormat::Gif => {
            // The GIF encoder quantizes RGBA frames only.
            let rgba;
            let data = if pixels.alpha {
                data
            } else {
                rgba = rgb_to_rgba(data);
                &rgba
            };
            GifEncoder::new_with_speed(&mut out, 10).encode(
                data,
                width,
                height,
                ExtendedColorType::Rgba8,
            )
        }
        OutputFormat::Jpeg => {
            let flattened;
            let rgb = if pixels.alpha {
                flattened = flatten_on_white(data);
                &flattened
            } else {
                data
            };
            JpegEncoder::new_with_quality(&mut out, quality.jpeg()).write_image(
                rgb,
                width,
                height,
                ExtendedColorType::Rgb8,
            )
        }
    };
    result.map_err(|e| MediaError::InvalidImage(format!("encoding failed: {e}")))?;
    Ok(out)
}

fn rgb_to_rgba(rgb: &[u8]) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(rgb.len() / 3 * 4);
    for pixel in rgb.chunks_exact(3) {
        rgba.extend_from_slice(pixel);
        rgba.push(255);
    }
    rgba
}

/// JPEG has no alpha: composite transparent pixels (RGBA bytes) over white rather than exposing their
/// colour.
fn flatten_on_white(rgba: &[u8]) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(rgba.len() / 4 * 3);
    for pixel in rgba.chunks_exact(4) {
        let [r, g, b, a] = [pixel[0], pixel[1], pixel[2], pixel[3]];
        let a = u16::from(a);
        for c in [r, g, b] {
            // (c*a + 255*(255-a)) / 255 is at most 255.
            rgb.push(((u16::from(c) * a + 255 * (255 - a) + 127) / 255) as u8);
        }
    }
    rgb
}

fn invalid_image(e: image::ImageError) -> MediaError {
    match e {
        image::ImageError::Unsupported(e) => MediaError::UnsupportedMedia(e.to_string()),
        image::ImageError::Limits(e) => {
            MediaError::InvalidImage(format!("over decoding limits: {e}"))
        }
        other => MediaError::InvalidImage(other.to_string()),
    }
}

/// Counts GIF image descriptors up to `stop_at` by walking the block structure, without decompressing
/// any frame. A truncated stream counts the frames seen so far.
fn gif_frame_count(bytes: &[u8], stop_at: usize) -> usize {
    let mut frames = 0;
    // Header (6) + logical screen descriptor (7), then the optional global colour table.
    let Some(&flags) = bytes.get(10) else {
        return 0;
    };
    let mut at = 13 + color_table_len(flags);
    while frames < stop_at {
        match bytes.get(at) {
            Some(0x2C) => {
                // Image descriptor (10 bytes), local colour table, LZW code size, data sub-blocks.
                let Some(&flags) = bytes.get(at + 9) else {
                    break;
                };
                frames += 1;
                at = skip_sub_blocks(bytes, at + 10 + color_table_len(flags) + 1);
            }
            // Extension: introducer, label, data sub-blocks.
            Some(0x21) => at = skip_sub_blocks(bytes, at + 2),
            _ => break,
        }
    }
    frames
}

fn color_table_len(flags: u8) -> usize {
    if flags & 0x80 == 0 {
        0
    } else {
        3 << ((flags & 0x07) + 1)
    }
}

fn skip_sub_blocks(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&len) = bytes.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::gif::Repeat;
    use image::{Delay, Frame, Rgba};

    fn encoded(image: &RgbaImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        DynamicImage::ImageRgba8(image.clone())
            .write_to(&mut Cursor::new(&mut out), format)
            .unwrap();
        out
    }

    fn gif(frames: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new(&mut out);
            encoder.set_repeat(Repeat::Infinite).unwrap();
            for i in 0..frames {
                let image = RgbaImage::from_pixel(4, 4, Rgba([i as u8 * 80, 0, 0, 255]));
                encoder
                    .encode_frame(Frame::from_parts(
                        image,
                        0,
                        0,
                        Delay::from_numer_denom_ms(100, 1),
                    ))
                    .unwrap();
            }
        }
        out
    }

    #[test]
    fn probes_formats_and_animation() {
        let image = RgbaImage::from_pixel(6, 4, Rgba([1, 2, 3, 255]));
        let png = probe_image(&encoded(&image, ImageFormat::Png)).unwrap();
        assert_eq!(
            (
                png.content_type.as_str(),
                png.width,
                png.height,
                png.animated
            ),
            ("image/png", 6, 4, false)
        );
        assert!(!probe_image(&gif(1)).unwrap().animated);
        assert!(probe_image(&gif(3)).unwrap().animated);
        assert!(matches!(
            probe_image(b"GIF89a"),
            Err(MediaError::InvalidImage(_))
        ));
        assert!(matches!(
            probe_image(b"hello"),
            Err(MediaError::UnsupportedMedia(_))
        ));
    }

    #[test]
    fn renders_resized_formats() {
        let image = RgbaImage::from_pixel(40, 20, Rgba([200, 10, 10, 128]));
        let png = encoded(&image, ImageFormat::Png);
        for (query, content_type, size) in [
            ("width=10&format=webp", "image/webp", (10, 5)),
            ("width=10&format=jpeg&quality=50", "image/jpeg", (10, 5)),
            ("height=10&format=gif", "image/gif", (20, 10)),
            ("width=8&height=8", "image/png", (8, 8)),
        ] {
            let t = Transform::parse(query).unwrap();
            let Rendition::Rendered(r) = render_image(&png, &t, 1_000_000).unwrap() else {
                panic!("{query} served the original");
            };
            assert_eq!(r.content_type, content_type, "{query}");
            let decoded = image::load_from_memory(&r.bytes).unwrap();
            assert_eq!((decoded.width(), decoded.height()), size, "{query}");
        }
        let same = Transform::parse("format=png").unwrap();
        assert!(matches!(
            render_image(&png, &same, 1_000_000),
            Ok(Rendition::Original { .. })
        ));
    }

    #[test]
    fn a_square_of_a_wide_image_is_its_centre_with_and_without_alpha() {
        // Red sides, a green square in the middle: a square rendition keeps only the green.
        let wide = |alpha: u8| {
            RgbaImage::from_fn(40, 20, |x, _| {
                if (10..30).contains(&x) {
                    Rgba([0, 200, 0, alpha])
                } else {
                    Rgba([200, 0, 0, alpha])
                }
            })
        };
        // An RGBA source keeps its alpha channel, opaque or not (the 4-channel path); an RGB one
        // goes through the 3-channel path.
        let mut rgb = Vec::new();
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(wide(255)).to_rgb8())
            .write_to(&mut Cursor::new(&mut rgb), ImageFormat::Png)
            .unwrap();
        let sources = [
            (encoded(&wide(255), ImageFormat::Png), 255),
            (encoded(&wide(160), ImageFormat::Png), 160),
            (rgb, 255),
        ];
        for (png, alpha) in sources {
            let t = Transform::parse("width=8&height=8&format=png").unwrap();
            let Rendition::Rendered(r) = render_image(&png, &t, 1_000_000).unwrap() else {
                panic!("served the original");
            };
            let decoded = image::load_from_memory(&r.bytes).unwrap().to_rgba8();
            assert_eq!(decoded.dimensions(), (8, 8));
            for (x, y, pixel) in decoded.enumerate_pixels() {
                let [red, green, _, a] = pixel.0;
                assert!(
                    red < 40 && green > 160,
                    "({x}, {y}) alpha {alpha}: {:?}",
                    pixel.0
                );
                assert!(a.abs_diff(alpha) <= 2, "({x}, {y}): alpha {a}, not {alpha}");
            }
        }
    }

    #[test]
    fn opaque_sources_stay_three_channel_and_keep_their_colour() {
        let image = image::RgbImage::from_pixel(60, 30, image::Rgb([30, 140, 220]));
        let mut jpeg = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_to(&mut Cursor::new(&mut jpeg), ImageFormat::Jpeg)
            .unwrap();
        for (query, alpha_out) in [
            ("width=20&format=webp", false),
            ("width=20&format=png", false),
            ("width=20", false),
            // GIF frames are quantized from RGBA: opaque pixels gain an opaque alpha channel.
            ("width=20&format=gif", true),
        ] {
            let t = Transform::parse(query).unwrap();
            let Rendition::Rendered(r) = render_image(&jpeg, &t, 1_000_000).unwrap() else {
                panic!("{query} served the original");
            };
            let decoded = image::load_from_memory(&r.bytes).unwrap();
            assert_eq!((decoded.width(), decoded.height()), (20, 10), "{query}");
            assert_eq!(decoded.color().has_alpha(), alpha_out, "{query}");
            let [red, green, blue, alpha] = decoded.to_rgba8().get_pixel(10, 5).0;
            assert_eq!(alpha, 255, "{query}");
            for (got, want) in [(red, 30), (green, 140), (blue, 220)] {
                assert!(got.abs_diff(want) <= 12, "{query}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn animation_kept_only_in_its_own_format() {
        let animated = gif(3);
        let keep = Transform::parse("width=2&animated=true").unwrap();
        assert!(matches!(
            render_image(&animated, &keep, 1000),
            Ok(Rendition::Original { .. })
        ));
        let first = Transform::parse("width=2&animated=true&format=png").unwrap();
        assert!(matches!(
            render_image(&animated, &first, 1000),
            Ok(Rendition::Rendered(_))
        ));
    }

    #[test]
    fn refuses_before_decoding() {
        let png = encoded(&RgbaImage::new(100, 100), ImageFormat::Png);
        let t = Transform::parse("width=10").unwrap();
        assert!(matches!(
            render_image(&png, &t, 9_999),
            Err(MediaError::ImageTooLarge {
                width: 100,
                height: 100,
                ..
            })
        ));
    }

    #[test]
    fn truncated_images_are_invalid_not_panics() {
        let png = encoded(
            &RgbaImage::from_pixel(64, 64, Rgba([9, 9, 9, 255])),
            ImageFormat::Png,
        );
        let t = Transform::parse("width=10").unwrap();
        for cut in [20, 40, png.len() / 2] {
            assert!(render_image(&png[..cut], &t, 1_000_000).is_err());
        }
    }
}
