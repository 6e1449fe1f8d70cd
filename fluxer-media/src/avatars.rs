//! The default avatars of users without one: six colours, the same white silhouette, drawn here
//! (anti-aliased by supersampling) and encoded as PNG. Clients pick `{static_cdn}/avatars/{n}.png`
//! with `n` derived from the user ID.

use image::{ImageEncoder, codecs::png::PngEncoder};

/// How many default avatars there are (`0.png` to `5.png`).
pub const DEFAULT_AVATARS: usize = 6;

/// Side of a default avatar, in pixels.
const SIDE: u32 = 256;

/// Background colours, one per avatar.
const COLOURS: [[u8; 3]; DEFAULT_AVATARS] = [
    [0x4f, 0x6b, 0xed],
    [0x74, 0x7f, 0x8d],
    [0x3b, 0xa5, 0x5c],
    [0xfa, 0xa6, 0x1a],
    [0xed, 0x42, 0x45],
    [0xeb, 0x45, 0x9f],
];

/// Default avatar `index` (modulo [`DEFAULT_AVATARS`]) as a 256×256 PNG.
///
/// ```
/// let png = fluxer_media::avatars::default_avatar(3);
/// assert_eq!(&png[1..4], b"PNG");
/// assert_ne!(png, fluxer_media::avatars::default_avatar(4));
/// ```
pub fn default_avatar(index: usize) -> Vec<u8> {
    let [r, g, b] = COLOURS[index % DEFAULT_AVATARS];
    let mut pixels = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    const SAMPLES: u32 = 4;
    for y in 0..SIDE {
        for x in 0..SIDE {
            let mut covered = 0u32;
            for sy in 0..SAMPLES {
                for sx in 0..SAMPLES {
                    let px = (f64::from(x) + (f64::from(sx) + 0.5) / f64::from(SAMPLES))
                        / f64::from(SIDE);
                    let py = (f64::from(y) + (f64::from(sy) + 0.5) / f64::from(SAMPLES))
                        / f64::from(SIDE);
                    covered += u32::from(in_silhouette(px, py));
                }
            }
            // Blend white over the background by coverage.
            let white = covered * 255 / (SAMPLES * SAMPLES);
            let blend = |c: u8| (u32::from(c) * (255 - white) / 255 + white).min(255) as u8;
            pixels.extend_from_slice(&[blend(r), blend(g), blend(b)]);
        }
    }
    let mut png = Vec::new();
    PngEncoder::new(&mut png)
        .write_image(&pixels, SIDE, SIDE, image::ExtendedColorType::Rgb8)
        .expect("encoding an in-memory RGB image cannot fail");
    png
}

/// A head and shoulders, in unit coordinates (0..1, y down).
fn in_silhouette(x: f64, y: f64) -> bool {
    let head = (x - 0.5).powi(2) + (y - 0.4).powi(2) <= 0.15f64.powi(2);
    // The upper half of an ellipse under the head, cut off at the bottom.
    let shoulders =
        (0.6..=0.78).contains(&y) && ((x - 0.5) / 0.27).powi(2) + ((y - 0.78) / 0.2).powi(2) <= 1.0;
    head || shoulders
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_avatar_decodes_to_its_colour_with_a_white_figure() {
        for (n, colour) in COLOURS.iter().enumerate() {
            let img = image::load_from_memory(&default_avatar(n))
                .unwrap()
                .to_rgb8();
            assert_eq!(img.dimensions(), (SIDE, SIDE));
            assert_eq!(img.get_pixel(2, 2).0, *colour);
            assert_eq!(img.get_pixel(SIDE / 2, SIDE * 2 / 5).0, [255, 255, 255]);
        }
    }
}
