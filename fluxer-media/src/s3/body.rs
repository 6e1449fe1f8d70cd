//! Request bodies: read as a stream, checked against what the signature promised (the SHA-256 of the
//! payload, or the signature of each `aws-chunked` chunk), with `aws-chunked` framing removed.

use std::collections::VecDeque;

use axum::body::Body;
use axum::http::HeaderMap;
use base64::Engine;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::S3Error;
use super::sigv4::{ChunkSigner, Payload};

/// The longest chunk header or trailer line accepted.
const MAX_LINE: usize = 4096;

/// A request body, decoded and verified as it is read.
pub(super) struct BodyReader {
    /// In a mutex only to be `Sync` (handlers hold `&Request` across awaits); always reached through
    /// `&mut self`, so it is never contended.
    body: std::sync::Mutex<Body>,
    check: Check,
    /// The decoded length the client announced (`Content-Length`, or `x-amz-decoded-content-length`
    /// for `aws-chunked` bodies).
    declared_len: Option<u64>,
    received: u64,
    done: bool,
}

enum Check {
    None,
    Sha256 {
        expected: [u8; 32],
        hasher: Box<Sha256>,
    },
    Chunked(Box<ChunkDecoder>),
}

impl BodyReader {
    pub(super) fn new(body: Body, payload: Payload, headers: &HeaderMap) -> Self {
        let header_u64 = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (check, declared_len) = match payload {
            Payload::Unsigned => (Check::None, header_u64("content-length")),
            Payload::Sha256(expected) => (
                Check::Sha256 {
                    expected,
                    hasher: Box::default(),
                },
                header_u64("content-length"),
            ),
            Payload::Chunked { signer, trailer } => (
                Check::Chunked(Box::new(ChunkDecoder::new(signer, trailer))),
                header_u64("x-amz-decoded-content-length"),
            ),
        };
        Self {
            body: std::sync::Mutex::new(body),
            check,
            declared_len,
            received: 0,
            done: false,
        }
    }

    /// The length of the decoded body, if the client announced it.
    pub(super) fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    /// The next piece of the decoded body; `None` at its end, once every check has passed.
    pub(super) async fn next(&mut self) -> Result<Option<Bytes>, S3Error> {
        loop {
            if let Check::Chunked(decoder) = &mut self.check
                && let Some(piece) = decoder.output.pop_front()
            {
                self.received += piece.len() as u64;
                return Ok(Some(piece));
            }
            if self.done {
                return Ok(None);
            }
            let body = self.body.get_mut().unwrap_or_else(|e| e.into_inner());
            let frame = match body.frame().await {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    return Err(S3Error::incomplete_body(format!(
                        "The request body could not be read: {e}"
                    )));
                }
                None => {
                    self.done = true;
                    self.finish()?;
                    continue;
                }
            };
            let Ok(data) = frame.into_data() else {
                continue; // HTTP trailers: not used by S3 clients.
            };
            match &mut self.check {
                Check::None => {}
                Check::Sha256 { hasher, .. } => hasher.update(&data),
                Check::Chunked(decoder) => {
                    decoder.push(&data)?;
                    continue;
                }
            }
            if !data.is_empty() {
                self.received += data.len() as u64;
                return Ok(Some(data));
            }
        }
    }

    /// The whole decoded body, refused as too large past `limit` bytes.
    pub(super) async fn read_all(&mut self, limit: usize) -> Result<Vec<u8>, S3Error> {
        let mut out = Vec::new();
        while let Some(piece) = self.next().await? {
            if out.len() + piece.len() > limit {
                return Err(S3Error::entity_too_large(limit as u64));
            }
            out.extend_from_slice(&piece);
        }
        Ok(out)
    }

    fn finish(&mut self) -> Result<(), S3Error> {
        match &mut self.check {
            Check::None => {}
            Check::Sha256 { expected, hasher } => {
                let actual: [u8; 32] = std::mem::take(hasher).finalize().into();
                if !bool::from(actual.ct_eq(expected)) {
                    return Err(S3Error::sha256_mismatch());
                }
            }
            Check::Chunked(decoder) => decoder.finish()?,
        }
        let pending = match &self.check {
            Check::Chunked(decoder) => decoder.output.iter().map(|b| b.len() as u64).sum(),
            _ => 0,
        };
        match self.declared_len {
            Some(declared) if declared != self.received + pending => {
                Err(S3Error::incomplete_body(format!(
                    "The request body has {} bytes, {declared} were announced",
                    self.received + pending
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Checks a `Content-MD5` header (base64 of the MD5 of the body), when there is one.
pub(super) fn check_content_md5(headers: &HeaderMap, md5: &[u8; 16]) -> Result<(), S3Error> {
    let Some(value) = headers.get("content-md5") else {
        return Ok(());
    };
    let given = base64::engine::general_purpose::STANDARD
        .decode(value.as_bytes())
        .map_err(|_| {
            S3Error::new(
                axum::http::StatusCode::BAD_REQUEST,
                "InvalidDigest",
                "The Content-MD5 you specified was invalid.",
            )
        })?;
    if given.as_slice() == md5 {
        Ok(())
    } else {
        Err(S3Error::bad_digest())
    }
}

/// Removes `aws-chunked` framing: `<hex size>[;chunk-signature=<sig>]\r\n<data>\r\n`, repeated, ending
/// with a zero-size chunk and, with trailers, `name:value` lines and an empty line.
struct ChunkDecoder {
    buffer: BytesMut,
    state: State,
    signer: Option<ChunkSigner>,
    with_trailer: bool,
    chunk_hasher: Sha256,
    chunk_signature: Option<String>,
    /// The trailing headers as signed: `name:value\n` each.
    trailer: Vec<u8>,
    trailer_signed: bool,
    output: VecDeque<Bytes>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data(u64),
    DataEnd,
    /// After the zero-size chunk of a body without trailers: the final empty line.
    FinalLine,
    Trailer,
    Done,
}

impl ChunkDecoder {
    fn new(signer: Option<ChunkSigner>, with_trailer: bool) -> Self {
        Self {
            buffer: BytesMut::new(),
            state: State::Header,
            signer,
            with_trailer,
            chunk_hasher: Sha256::new(),
            chunk_signature: None,
            trailer: Vec::new(),
            trailer_signed: false,
            output: VecDeque::new(),
        }
    }

    fn push(&mut self, data: &[u8]) -> Result<(), S3Error> {
        self.buffer.extend_from_slice(data);
        loop {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    self.start_chunk(&line)?;
                }
                State::Data(remaining) => {
                    if self.buffer.is_empty() {
                        return Ok(());
                    }
                    let n = remaining.min(self.buffer.len() as u64) as usize;
                    let piece = self.buffer.split_to(n).freeze();
                    self.chunk_hasher.update(&piece);
                    self.output.push_back(piece);
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::DataEnd
                    } else {
                        State::Data(remaining)
                    };
                }
                State::DataEnd => {
                    if self.buffer.len() < 2 {
                        return Ok(());
                    }
                    if &self.buffer[..2] != b"\r\n" {
                        return Err(malformed("a chunk is longer than its declared size"));
                    }
                    self.buffer.advance(2);
                    self.verify_chunk()?;
                    self.state = State::Header;
                }
                State::FinalLine => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    if !line.is_empty() {
                        return Err(malformed("data after the last chunk"));
                    }
                    self.state = State::Done;
                }
                State::Trailer => {
                    let Some(line) = self.take_line()? else {
                        return Ok(());
                    };
                    self.trailer_line(&line)?;
                }
                State::Done => {
                    self.buffer.clear();
                    return Ok(());
                }
            }
        }
    }

    fn start_chunk(&mut self, line: &str) -> Result<(), S3Error> {
        let (size, extensions) = line.split_once(';').unwrap_or((line, ""));
        let size = u64::from_str_radix(size.trim(), 16)
            .map_err(|_| malformed("a chunk size is not hexadecimal"))?;
        self.chunk_signature = extensions
            .split(';')
            .find_map(|ext| ext.trim().strip_prefix("chunk-signature="))
            .map(str::to_owned);
        self.chunk_hasher = Sha256::new();
        self.state = if size > 0 {
            State::Data(size)
        } else {
            self.verify_chunk()?;
            if self.with_trailer {
                State::Trailer
            } else {
                State::FinalLine
            }
        };
        Ok(())
    }

    fn verify_chunk(&mut self) -> Result<(), S3Error> {
        let Some(signer) = &mut self.signer else {
            return Ok(());
        };
        let hash: [u8; 32] = std::mem::take(&mut self.chunk_hasher).finalize().into();
        let expected = signer.next_chunk(&hash);
        let given = self.chunk_signature.take().unwrap_or_default();
        if bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            Ok(())
        } else {
            Err(S3Error::signature_mismatch())
        }
    }

    fn trailer_line(&mut self, line: &str) -> Result<(), S3Error> {
        if line.is_empty() {
            if self.signer.is_some() && !self.trailer_signed {
                return Err(malformed("the trailer has no x-amz-trailer-signature"));
            }
            self.state = State::Done;
            return Ok(());
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed("a trailer line is not 'name:value'"))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "x-amz-trailer-signature" {
            if let Some(signer) = &mut self.signer {
                let expected = signer.trailer(&self.trailer);
                if !bool::from(expected.as_bytes().ct_eq(value.as_bytes())) {
                    return Err(S3Error::signature_mismatch());
                }
                self.trailer_signed = true;
            }
        } else {
            // Checksums (x-amz-checksum-*) are taken as sent: the body's MD5 is what this server keeps.
            self.trailer
                .extend_from_slice(format!("{name}:{value}\n").as_bytes());
        }
        Ok(())
    }

    /// A line ending in `\n` (the `\r` before it is dropped), or `None` until one has arrived.
    fn take_line(&mut self) -> Result<Option<String>, S3Error> {
        let Some(end) = self.buffer.iter().position(|&b| b == b'\n') else {
            if self.buffer.len() > MAX_LINE {
                return Err(malformed("a chunk header is too long"));
            }
            return Ok(None);
        };
        let line = self.buffer.split_to(end + 1);
        let line = line.strip_suffix(b"\n").unwrap_or(&line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        String::from_utf8(line.to_vec())
            .map(Some)
            .map_err(|_| malformed("a chunk header is not UTF-8"))
    }

    fn finish(&mut self) -> Result<(), S3Error> {
        // A body may end right after the zero-size chunk's line, without the final empty line.
        match self.state {
            State::Done | State::FinalLine => Ok(()),
            State::Trailer if self.signer.is_none() => Ok(()),
            _ => Err(S3Error::incomplete_body(
                "The aws-chunked body ended before its last chunk",
            )),
        }
    }
}

fn malformed(what: &str) -> S3Error {
    S3Error::incomplete_body(format!("Malformed aws-chunked body: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(decoder: &mut ChunkDecoder, wire: &[u8], step: usize) -> Result<Vec<u8>, S3Error> {
        for piece in wire.chunks(step) {
            decoder.push(piece)?;
        }
        decoder.finish()?;
        Ok(decoder.output.iter().flat_map(|b| b.to_vec()).collect())
    }

    #[test]
    fn unsigned_chunks_with_a_trailer() {
        let wire = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for step in [1, 3, 7, wire.len()] {
            let mut decoder = ChunkDecoder::new(None, true);
            assert_eq!(decode(&mut decoder, wire, step).unwrap(), b"hello world");
        }
    }

    #[test]
    fn truncated_or_oversized_chunks_are_refused() {
        let mut decoder = ChunkDecoder::new(None, false);
        assert!(decode(&mut decoder, b"5\r\nhel", 2).is_err());
        let mut decoder = ChunkDecoder::new(None, false);
        assert!(decode(&mut decoder, b"2\r\nhello\r\n0\r\n\r\n", 4).is_err());
        let mut decoder = ChunkDecoder::new(None, false);
        assert!(decode(&mut decoder, b"zz\r\n", 4).is_err());
    }

    /// AWS's chunked upload example: 64 KiB and 1 KiB of `a`, each chunk signed.
    fn example_wire(signatures: [&str; 3]) -> Vec<u8> {
        let mut wire = Vec::new();
        for (len, signature) in [
            (65536, signatures[0]),
            (1024, signatures[1]),
            (0, signatures[2]),
        ] {
            wire.extend_from_slice(format!("{len:x};chunk-signature={signature}\r\n").as_bytes());
            wire.extend(std::iter::repeat_n(b'a', len));
            wire.extend_from_slice(b"\r\n");
        }
        wire
    }

    #[tokio::test]
    async fn signed_chunks_are_decoded_and_verified() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-decoded-content-length", "66560".parse().unwrap());

        let (payload, signatures) = crate::s3::sigv4::tests::streaming_example();
        let wire = example_wire(signatures);
        assert_eq!(wire.len(), 66824); // The example's Content-Length.
        let mut reader = BodyReader::new(Body::from(wire), payload, &headers);
        assert_eq!(reader.read_all(1 << 20).await.unwrap(), vec![b'a'; 66560]);

        // One byte changed in the second chunk.
        let (payload, signatures) = crate::s3::sigv4::tests::streaming_example();
        let mut wire = example_wire(signatures);
        let at = wire.len() - 200;
        wire[at] = b'b';
        let mut reader = BodyReader::new(Body::from(wire), payload, &headers);
        assert_eq!(
            reader.read_all(1 << 20).await.unwrap_err().code,
            "SignatureDoesNotMatch"
        );

        // A chunk signed by someone else.
        let (payload, mut signatures) = crate::s3::sigv4::tests::streaming_example();
        signatures[1] = signatures[0];
        let mut reader = BodyReader::new(Body::from(example_wire(signatures)), payload, &headers);
        assert_eq!(
            reader.read_all(1 << 20).await.unwrap_err().code,
            "SignatureDoesNotMatch"
        );
    }

    #[tokio::test]
    async fn sha256_payloads_are_verified() {
        let body = b"Welcome to Amazon S3.";
        let good: [u8; 32] = Sha256::digest(body).into();
        let mut reader = BodyReader::new(
            Body::from(&body[..]),
            Payload::Sha256(good),
            &HeaderMap::new(),
        );
        assert_eq!(reader.read_all(100).await.unwrap(), body);

        let mut reader = BodyReader::new(
            Body::from("Welcome to Amazon S4."),
            Payload::Sha256(good),
            &HeaderMap::new(),
        );
        assert_eq!(
            reader.read_all(100).await.unwrap_err().code,
            "XAmzContentSHA256Mismatch"
        );
    }
}
