//! The rendition a request asks for: `width`, `height`, `size`, `format`, `quality`, `animated`.

use std::fmt::Write as _;

use super::error::MediaError;

/// Largest `width`/`height` accepted (upstream's bound).
pub(crate) const MAX_DIMENSION: u32 = 4096;

/// Upstream's allowed `size` values for avatars, icons and banners.
pub(crate) const ALLOWED_SIZES: &[u32] = &[
    16, 20, 22, 24, 28, 32, 40, 44, 48, 56, 60, 64, 80, 96, 100, 128, 160, 240, 256, 300, 320, 480,
    512, 600, 640, 1024, 1280, 1536, 2048, 3072, 4096,
];

/// An encodable output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OutputFormat {
    Png,
    Jpeg,
    Webp,
    Gif,
}

impl OutputFormat {
    /// Parses a `format` value or a file extension; `avif` is known but not built in.
    pub(crate) fn parse(value: &str) -> Result<Option<Self>, MediaError> {
        Ok(Some(match value.to_ascii_lowercase().as_str() {
            "png" => OutputFormat::Png,
            "jpg" | "jpeg" => OutputFormat::Jpeg,
            "webp" => OutputFormat::Webp,
            "gif" => OutputFormat::Gif,
            "avif" => return Err(MediaError::AvifUnsupported),
            _ => return Ok(None),
        }))
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Png => "image/png",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Webp => "image/webp",
            OutputFormat::Gif => "image/gif",
        }
    }

    pub(crate) fn from_image_format(format: image::ImageFormat) -> Option<Self> {
        match format {
            image::ImageFormat::Png => Some(OutputFormat::Png),
            image::ImageFormat::Jpeg => Some(OutputFormat::Jpeg),
            image::ImageFormat::WebP => Some(OutputFormat::Webp),
            image::ImageFormat::Gif => Some(OutputFormat::Gif),
            _ => None,
        }
    }
}

/// `quality`: a preset or a JPEG quality 1-100. WebP output is always lossless (the pure-Rust
/// encoder has no lossy mode) and PNG is lossless by nature, so only JPEG uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Quality {
    High,
    Low,
    Lossless,
    Value(u8),
}

impl Quality {
    pub(crate) fn jpeg(self) -> u8 {
        match self {
            Quality::High => 85,
            Quality::Low => 60,
            Quality::Lossless => 100,
            Quality::Value(q) => q,
        }
    }
}

/// The parsed presentation parameters of a request. Unknown parameters are ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Transform {
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Bounding square (avatars, icons, banners): the longer side becomes `size`.
    pub size: Option<u32>,
    pub format: Option<OutputFormat>,
    pub quality: Option<Quality>,
    /// Keep an animation (only possible when the output format is the source's: the original bytes
    /// are served).
    pub animated: Option<bool>,
}

impl Transform {
    /// Parses a raw query string.
    pub(crate) fn parse(query: &str) -> Result<Self, MediaError> {
        let mut t = Transform::default();
        for segment in query.split('&').filter(|s| !s.is_empty()) {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            match name {
                "width" => t.width = Some(dimension(name, value)?),
                "height" => t.height = Some(dimension(name, value)?),
                "size" => {
                    let size = value
                        .parse()
                        .ok()
                        .filter(|s| ALLOWED_SIZES.contains(s))
                        .ok_or_else(|| {
                            MediaError::InvalidQuery(format!(
                                "size must be one of {ALLOWED_SIZES:?}"
                            ))
                        })?;
                    t.size = Some(size);
                }
                "format" => {
                    t.format = Some(OutputFormat::parse(value)?.ok_or_else(|| {
                        MediaError::InvalidQuery(
                            "format must be one of png, jpeg, jpg, webp, gif".into(),
                        )
                    })?);
                }
                "quality" => {
                    t.quality = Some(match value {
                        "high" => Quality::High,
                        "low" => Quality::Low,
                        "lossless" => Quality::Lossless,
                        n => n
                            .parse::<u8>()
                            .ok()
                            .filter(|q| (1..=100).contains(q))
                            .map(Quality::Value)
                            .ok_or_else(|| {
                                MediaError::InvalidQuery(
                                    "quality must be high, low, lossless or 1-100".into(),
                                )
                            })?,
                    });
                }
                "animated" => {
                    t.animated = Some(match value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(MediaError::InvalidQuery(
                                "animated must be true or false".into(),
                            ));
                        }
                    });
                }
                _ => {}
            }
        }
        Ok(t)
    }

    /// Whether the request asks for the stored bytes as they are.
    pub(crate) fn is_identity(&self) -> bool {
        self.width.is_none()
            && self.height.is_none()
            && self.size.is_none()
            && self.format.is_none()
    }

    /// Whether the pixels must be resampled (as opposed to only re-encoded).
    pub(crate) fn resizes(&self) -> bool {
        self.width.is_some() || self.height.is_some() || self.size.is_some()
    }

    /// A stable text form for cache keys and ETags.
    pub(crate) fn key(&self) -> String {
        let mut key = String::new();
        let _ = write!(
            key,
            "w={:?};h={:?};s={:?};f={:?};q={:?};a={:?}",
            self.width, self.height, self.size, self.format, self.quality, self.animated
        );
        key
    }

    /// The output size for a `source_width` x `source_height` image. Both `width` and `height` crop to
    /// fill (like sharp's default `cover`); one of them keeps the aspect ratio; `size` fits inside a
    /// square. Never enlarges: a target bigger than the source is scaled down to it, aspect kept.
    pub(crate) fn target_size(&self, source_width: u32, source_height: u32) -> (u32, u32) {
        let (sw, sh) = (
            f64::from(source_width.max(1)),
            f64::from(source_height.max(1)),
        );
        let (mut w, mut h) = match (self.width, self.height, self.size) {
            (Some(w), Some(h), _) => (f64::from(w), f64::from(h)),
            (Some(w), None, _) => (f64::from(w), sh * f64::from(w) / sw),
            (None, Some(h), _) => (sw * f64::from(h) / sh, f64::from(h)),
            (None, None, Some(s)) => {
                let s = f64::from(s);
                if sw >= sh {
                    (s, sh * s / sw)
                } else {
                    (sw * s / sh, s)
                }
            }
            (None, None, None) => (sw, sh),
        };
        if w > sw || h > sh {
            let shrink = (sw / w).min(sh / h);
            w *= shrink;
            h *= shrink;
        }
        // Both sides are at most the source's (≤ u32::MAX) and at least 1, so the casts are exact.
        (
            w.round().clamp(1.0, sw) as u32,
            h.round().clamp(1.0, sh) as u32,
        )
    }
}

fn dimension(name: &str, value: &str) -> Result<u32, MediaError> {
    value
        .parse()
        .ok()
        .filter(|v| (1..=MAX_DIMENSION).contains(v))
        .ok_or_else(|| MediaError::InvalidQuery(format!("{name} must be 1-{MAX_DIMENSION}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let t = Transform::parse("width=100&format=jpg&quality=40&animated=true&x=1").unwrap();
        assert_eq!(t.width, Some(100));
        assert_eq!(t.format, Some(OutputFormat::Jpeg));
        assert_eq!(t.quality, Some(Quality::Value(40)));
        assert_eq!(t.animated, Some(true));
        assert!(Transform::parse("").unwrap().is_identity());
        assert!(Transform::parse("quality=low").unwrap().is_identity());
        for bad in [
            "width=0",
            "width=4097",
            "height=x",
            "size=17",
            "format=bmp",
            "quality=0",
        ] {
            assert!(
                matches!(Transform::parse(bad), Err(MediaError::InvalidQuery(_))),
                "{bad}"
            );
        }
        assert_eq!(
            Transform::parse("format=avif"),
            Err(MediaError::AvifUnsupported)
        );
    }

    #[test]
    fn target_sizes() {
        let t = |q: &str| Transform::parse(q).unwrap();
        assert_eq!(t("width=100").target_size(400, 200), (100, 50));
        assert_eq!(t("height=100").target_size(400, 200), (200, 100));
        assert_eq!(t("width=128&height=128").target_size(400, 200), (128, 128));
        assert_eq!(t("size=128").target_size(400, 200), (128, 64));
        assert_eq!(t("size=128").target_size(200, 400), (64, 128));
        // never enlarges, keeps the requested aspect
        assert_eq!(t("width=800").target_size(400, 200), (400, 200));
        assert_eq!(t("width=400&height=400").target_size(400, 200), (200, 200));
        assert_eq!(t("width=1").target_size(4000, 1), (1, 1));
    }
}
