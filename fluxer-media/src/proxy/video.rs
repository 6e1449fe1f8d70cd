//! Video thumbnails: the first frame, extracted by an `ffmpeg` child process.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use super::error::MediaError;

/// Largest frame image ffmpeg may write to stdout; a PNG of a 4096x4096 frame is far smaller.
const MAX_FRAME_BYTES: u64 = 256 << 20;

/// Whether a content type (or, without one, the leading bytes) denotes a video ffmpeg should handle.
pub(crate) fn is_video(content_type: Option<&str>, bytes_head: &[u8]) -> bool {
    match content_type.map(essence) {
        Some(ct) if ct.starts_with("video/") => true,
        Some(ct) if ct != "application/octet-stream" => false,
        _ => {
            // ISO BMFF (mp4, mov) `ftyp` box or the EBML magic of Matroska/WebM.
            bytes_head.get(4..8) == Some(b"ftyp")
                || bytes_head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
        }
    }
}

/// The lower-cased `type/subtype` of a content type, without parameters.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// The first frame of `video` as PNG bytes. The video goes through a temporary file (MP4s with their
/// index at the end cannot be read from a pipe); ffmpeg runs without a shell and is killed after
/// `timeout`.
pub(crate) async fn first_frame(
    ffmpeg: &Path,
    video: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, MediaError> {
    let input = TempFile::create(video).await?;
    let mut child = Command::new(ffmpeg)
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-i"])
        .arg(&input.path)
        .args([
            "-frames:v",
            "1",
            "-an",
            "-sn",
            "-f",
            "image2pipe",
            "-c:v",
            "png",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                MediaError::FfmpegUnavailable(format!("cannot run {}: {e}", ffmpeg.display()))
            }
            _ => MediaError::FfmpegUnavailable(e.to_string()),
        })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(MediaError::FfmpegUnavailable("ffmpeg pipes missing".into()));
    };
    let run = async {
        let (mut frame, mut errors) = (Vec::new(), Vec::new());
        let mut stdout = stdout.take(MAX_FRAME_BYTES);
        // Keep the start of the diagnostics, but drain the rest so ffmpeg never blocks on the pipe.
        let mut stderr = stderr;
        let read_errors = async {
            (&mut stderr)
                .take(64 << 10)
                .read_to_end(&mut errors)
                .await?;
            tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await
        };
        let (read_out, read_err, status) =
            tokio::join!(stdout.read_to_end(&mut frame), read_errors, child.wait(),);
        read_out
            .and(read_err)
            .map_err(|e| MediaError::InvalidVideo(e.to_string()))?;
        let status = status.map_err(|e| MediaError::InvalidVideo(e.to_string()))?;
        if !status.success() || frame.is_empty() {
            let message = String::from_utf8_lossy(&errors);
            let message = message.lines().last().unwrap_or("no frame produced");
            return Err(MediaError::InvalidVideo(message.to_owned()));
        }
        Ok(frame)
    };
    let result = match tokio::time::timeout(timeout, run).await {
        Ok(result) => result,
        Err(_) => {
            let _ = child.kill().await;
            Err(MediaError::FfmpegTimeout)
        }
    };
    input.remove().await;
    result
}

/// A private temporary file removed when done (or, failing that, when dropped).
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    async fn create(bytes: &[u8]) -> Result<Self, MediaError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "fluxer-media-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        let io = |e: std::io::Error| MediaError::FfmpegUnavailable(format!("temporary file: {e}"));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = options.open(&path).await.map_err(io)?;
        let file_guard = TempFile { path };
        tokio::io::AsyncWriteExt::write_all(&mut file, bytes)
            .await
            .map_err(io)?;
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(io)?;
        Ok(file_guard)
    }

    async fn remove(mut self) {
        let path = std::mem::take(&mut self.path);
        let _ = tokio::fs::remove_file(&path).await;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // Only when a request was cancelled mid-way (`remove` empties the path): a small unlink.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_videos() {
        assert!(is_video(Some("video/mp4"), b""));
        assert!(is_video(Some("Video/WebM; codecs=vp9"), b""));
        assert!(!is_video(Some("image/png"), b"\0\0\0\x18ftypmp42"));
        assert!(is_video(None, b"\0\0\0\x18ftypmp42"));
        assert!(is_video(
            Some("application/octet-stream"),
            &[0x1A, 0x45, 0xDF, 0xA3]
        ));
        assert!(!is_video(None, b"\x89PNG"));
    }

    #[tokio::test]
    async fn missing_ffmpeg_is_unavailable() {
        let result = first_frame(
            Path::new("/nonexistent/ffmpeg-for-fluxer-tests"),
            b"x",
            Duration::from_secs(5),
        )
        .await;
        assert!(matches!(result, Err(MediaError::FfmpegUnavailable(_))));
    }
}
