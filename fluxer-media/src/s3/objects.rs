//! Object operations: `PutObject`, `GetObject`, `HeadObject`, `DeleteObject`, `DeleteObjects`,
//! `CopyObject`.

use std::io::SeekFrom;

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;
use md5::{Digest, Md5};
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use super::body::check_content_md5;
use super::error::S3Error;
use super::exchange::{
    Request, Shared, http_date, no_content, object_headers, object_meta_from_headers, set_header,
    xml_ok,
};
use super::fs::{ObjectMeta, Staged};
use super::multipart::{iso8601, now_ms};
use super::sigv4::hex;
use super::xml;

/// At most this many keys in one `DeleteObjects`.
const MAX_DELETE_KEYS: usize = 1000;
/// The largest `DeleteObjects` body.
const MAX_DELETE_BODY: usize = 2 * 1024 * 1024;

pub(super) async fn put_object(
    s: &Shared,
    bucket: &str,
    key: &str,
    mut req: Request,
) -> Result<Response, S3Error> {
    // Bucket and key are checked before the body is read.
    s.storage.object_paths(bucket, key).await?;
    let meta = object_meta_from_headers(&req.headers)?;
    check_write_preconditions(s, bucket, key, &req).await?;
    let Staged { temp, size, md5 } = s.storage.stage(&mut req.body, s.max_object_bytes).await?;
    check_content_md5(&req.headers, &md5)?;
    let meta = ObjectMeta {
        size,
        etag: hex(&md5),
        last_modified_ms: now_ms(),
        ..meta
    };
    let meta = s.storage.commit(bucket, key, temp, meta).await?;
    let mut response = Response::new(Body::empty());
    set_header(&mut response, "etag", &format!("\"{}\"", meta.etag));
    Ok(response)
}

/// `If-None-Match: *` (create only) and `If-Match: <etag>` (replace only that version) on writes.
async fn check_write_preconditions(
    s: &Shared,
    bucket: &str,
    key: &str,
    req: &Request,
) -> Result<(), S3Error> {
    let (if_none_match, if_match) = (req.header("if-none-match"), req.header("if-match"));
    if if_none_match.is_none() && if_match.is_none() {
        return Ok(());
    }
    let current = s.storage.head(bucket, key).await?;
    if let Some(tags) = if_none_match
        && current
            .as_ref()
            .is_some_and(|meta| etag_matches(tags, &meta.etag))
    {
        return Err(S3Error::precondition_failed());
    }
    if let Some(tags) = if_match {
        match &current {
            None => return Err(S3Error::no_such_key()),
            Some(meta) if !etag_matches(tags, &meta.etag) => {
                return Err(S3Error::precondition_failed());
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Whether an `If-Match` / `If-None-Match` list (`*`, or quoted, possibly weak, tags) names `etag`.
fn etag_matches(tags: &str, etag: &str) -> bool {
    tags.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").trim_matches('"') == etag)
}

/// `GetObject`, or `HeadObject` when `head_only`.
pub(super) async fn get_object(
    s: &Shared,
    bucket: &str,
    key: &str,
    req: &Request,
    head_only: bool,
) -> Result<Response, S3Error> {
    let Some((mut file, meta)) = s.storage.open(bucket, key).await? else {
        return Err(S3Error::no_such_key());
    };
    if let Some(status) = read_preconditions(req, &meta)? {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        set_header(&mut response, "etag", &format!("\"{}\"", meta.etag));
        set_header(
            &mut response,
            "last-modified",
            &http_date(meta.last_modified_ms),
        );
        return Ok(response);
    }
    let range = match req.header("range") {
        Some(range) => parse_range(range, meta.size)?,
        None => None,
    };
    let (start, len) = match range {
        Some((start, end)) => (start, end - start + 1),
        None => (0, meta.size),
    };
    let body = if head_only || len == 0 {
        Body::empty()
    } else {
        file.seek(SeekFrom::Start(start)).await?;
        Body::from_stream(ReaderStream::new(file.take(len)))
    };
    let mut response = Response::new(body);
    object_headers(&mut response, &meta);
    set_header(&mut response, "content-length", &len.to_string());
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let end = start + len - 1;
        set_header(
            &mut response,
            "content-range",
            &format!("bytes {start}-{end}/{}", meta.size),
        );
    }
    // `response-*` query parameters override the stored headers (as presigned links use them).
    for (param, header) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(value) = req.param(param) {
            set_header(&mut response, header, value);
        }
    }
    Ok(response)
}

/// `If-Match`, `If-Unmodified-Since` (412) and `If-None-Match`, `If-Modified-Since` (304), in the
/// order RFC 9110 gives them precedence.
fn read_preconditions(req: &Request, meta: &ObjectMeta) -> Result<Option<StatusCode>, S3Error> {
    let modified_secs = meta.last_modified_ms.div_euclid(1000);
    let since = |name: &str| {
        req.header(name)
            .and_then(|date| httpdate::parse_http_date(date).ok())
            .map(super::sigv4::unix_secs)
    };
    if let Some(tags) = req.header("if-match") {
        if !etag_matches(tags, &meta.etag) {
            return Err(S3Error::precondition_failed());
        }
    } else if let Some(date) = since("if-unmodified-since")
        && modified_secs > date
    {
        return Err(S3Error::precondition_failed());
    }
    if let Some(tags) = req.header("if-none-match") {
        if etag_matches(tags, &meta.etag) {
            return Ok(Some(StatusCode::NOT_MODIFIED));
        }
    } else if let Some(date) = since("if-modified-since")
        && modified_secs <= date
    {
        return Ok(Some(StatusCode::NOT_MODIFIED));
    }
    Ok(None)
}

/// A single `bytes=` range as inclusive `(first, last)` within `size`; `None` to serve the whole
/// object (no range, or one this server ignores, as HTTP allows); `InvalidRange` when unsatisfiable.
fn parse_range(header: &str, size: u64) -> Result<Option<(u64, u64)>, S3Error> {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // Multiple ranges: S3 serves the whole object.
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |n: &str| n.parse::<u64>().ok();
    let range = if first.is_empty() {
        // The last `n` bytes.
        let Some(n) = parse(last) else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(S3Error::invalid_range(size));
        }
        (size.saturating_sub(n), size - 1)
    } else {
        let Some(first) = parse(first) else {
            return Ok(None);
        };
        let last = if last.is_empty() {
            u64::MAX
        } else {
            match parse(last) {
                Some(last) if last >= first => last,
                _ => return Ok(None),
            }
        };
        if first >= size {
            return Err(S3Error::invalid_range(size));
        }
        (first, last.min(size - 1))
    };
    Ok(Some(range))
}

pub(super) async fn delete_object(
    s: &Shared,
    bucket: &str,
    key: &str,
) -> Result<Response, S3Error> {
    // Deleting a missing key succeeds, as on S3.
    s.storage.delete(bucket, key).await?;
    Ok(no_content())
}

pub(super) async fn delete_objects(
    s: &Shared,
    bucket: &str,
    mut req: Request,
) -> Result<Response, S3Error> {
    s.storage.bucket_dir(bucket).await?;
    let body = req.body.read_all(MAX_DELETE_BODY).await?;
    check_content_md5(&req.headers, &Md5::digest(&body).into())?;
    let root = xml::parse(&body)?;
    let quiet = root.child_text("Quiet").is_some_and(|q| q.trim() == "true");
    let keys: Vec<&str> = root
        .children("Object")
        .map(|object| object.child_text("Key").ok_or_else(S3Error::malformed_xml))
        .collect::<Result<_, _>>()?;
    if keys.is_empty() || keys.len() > MAX_DELETE_KEYS {
        return Err(S3Error::malformed_xml());
    }
    let mut out = String::new();
    xml::open_root(&mut out, "DeleteResult");
    for key in keys {
        match s.storage.delete(bucket, key).await {
            Ok(()) if quiet => {}
            Ok(()) => {
                out.push_str("<Deleted>");
                xml::element(&mut out, "Key", key);
                out.push_str("</Deleted>");
            }
            Err(e) => {
                out.push_str("<Error>");
                xml::element(&mut out, "Key", key);
                xml::element(&mut out, "Code", e.code);
                xml::element(&mut out, "Message", &e.message);
                out.push_str("</Error>");
            }
        }
    }
    out.push_str("</DeleteResult>");
    Ok(xml_ok(out))
}

pub(super) async fn copy_object(
    s: &Shared,
    bucket: &str,
    key: &str,
    req: Request,
) -> Result<Response, S3Error> {
    let source = req.header("x-amz-copy-source").unwrap_or_default();
    let source = source.split_once('?').map_or(source, |(path, _)| path);
    let source = percent_decode_str(source)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("Invalid copy source encoding"))?;
    let (source_bucket, source_key) = source
        .trim_start_matches('/')
        .split_once('/')
        .filter(|(_, k)| !k.is_empty())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
        })?;
    let replace = match req.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
    };
    if source_bucket == bucket && source_key == key && !replace {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself \
             without changing the object's metadata, storage class, website redirect location or \
             encryption attributes.",
        ));
    }
    s.storage.object_paths(bucket, key).await?;
    let Some((mut file, source_meta)) = s.storage.open(source_bucket, source_key).await? else {
        return Err(S3Error::no_such_key());
    };
    if let Some(tags) = req.header("x-amz-copy-source-if-match")
        && !etag_matches(tags, &source_meta.etag)
    {
        return Err(S3Error::precondition_failed());
    }
    if let Some(tags) = req.header("x-amz-copy-source-if-none-match")
        && etag_matches(tags, &source_meta.etag)
    {
        return Err(S3Error::precondition_failed());
    }
    if source_meta.size > s.max_object_bytes {
        return Err(S3Error::entity_too_large(s.max_object_bytes));
    }

    let temp = s.storage.temp_path();
    let mut out = tokio::fs::File::create(temp.path()).await?;
    let mut md5 = Md5::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer).await?;
        if n == 0 {
            break;
        }
        size += n as u64;
        md5.update(&buffer[..n]);
        out.write_all(&buffer[..n]).await?;
    }
    out.flush().await?;
    out.sync_data().await?;
    drop(out);

    let described = if replace {
        object_meta_from_headers(&req.headers)?
    } else {
        source_meta
    };
    let meta = ObjectMeta {
        size,
        etag: hex(&md5.finalize()),
        last_modified_ms: now_ms(),
        ..described
    };
    let meta = s.storage.commit(bucket, key, temp, meta).await?;
    let mut out = String::new();
    xml::open_root(&mut out, "CopyObjectResult");
    xml::element(&mut out, "LastModified", &iso8601(meta.last_modified_ms));
    xml::element(&mut out, "ETag", &format!("\"{}\"", meta.etag));
    out.push_str("</CopyObjectResult>");
    Ok(xml_ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = |h: &str| parse_range(h, 100);
        assert_eq!(r("bytes=0-9").unwrap(), Some((0, 9)));
        assert_eq!(r("bytes=90-").unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=90-1000").unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=-10").unwrap(), Some((90, 99)));
        assert_eq!(r("bytes=-1000").unwrap(), Some((0, 99)));
        assert_eq!(r("bytes=0-1,5-6").unwrap(), None);
        assert_eq!(r("items=0-1").unwrap(), None);
        assert_eq!(r("bytes=9-3").unwrap(), None);
        assert_eq!(r("bytes=100-").unwrap_err().code, "InvalidRange");
        assert_eq!(r("bytes=-0").unwrap_err().status.as_u16(), 416);
        assert_eq!(parse_range("bytes=0-", 0).unwrap_err().code, "InvalidRange");
    }

    #[test]
    fn etag_lists() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", W/\"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }
}
