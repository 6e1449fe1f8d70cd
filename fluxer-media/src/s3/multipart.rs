//! Multipart uploads: `CreateMultipartUpload`, `UploadPart`, `CompleteMultipartUpload`,
//! `AbortMultipartUpload`, `ListParts`, `ListMultipartUploads`.
//!
//! An upload is a directory `{root}/.multipart/{upload_id}/` holding `upload.json` (bucket, key, the
//! metadata given at creation) and each part as `{number}` with `{number}.json` (its MD5 and size).
//! Completing concatenates the parts into a temporary file, checks every part against its recorded
//! MD5 on the way, and moves the result into place like any other write.

use axum::http::StatusCode;
use axum::response::Response;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::S3Error;
use super::exchange::{Request, Shared, object_meta_from_headers, xml_ok};
use super::fs::{self, ObjectMeta, Storage, blocking};
use super::sigv4::hex;
use super::xml;

/// S3's smallest part, except for the last.
pub(super) const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest part.
const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;
const MAX_PART_NUMBER: u32 = 10_000;
/// The largest `CompleteMultipartUpload` body (10 000 parts fit).
const MAX_COMPLETE_BODY: usize = 2 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Upload {
    bucket: String,
    key: String,
    initiated_ms: i64,
    meta: ObjectMeta,
}

#[derive(Debug, Serialize, Deserialize)]
struct Part {
    etag: String,
    size: u64,
    last_modified_ms: i64,
}

/// Upload ids are this server's hex names; anything else cannot name an upload directory.
fn upload_dir(storage: &Storage, upload_id: &str) -> Result<std::path::PathBuf, S3Error> {
    if upload_id.len() != 32 || !upload_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(S3Error::no_such_upload());
    }
    Ok(storage.root().join(fs::MULTIPART_DIR).join(upload_id))
}

async fn load(
    storage: &Storage,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> Result<(std::path::PathBuf, Upload), S3Error> {
    let dir = upload_dir(storage, upload_id)?;
    let json = match tokio::fs::read(dir.join("upload.json")).await {
        Ok(json) => json,
        Err(e) if fs::absent(&e) => return Err(S3Error::no_such_upload()),
        Err(e) => return Err(e.into()),
    };
    let upload: Upload = serde_json::from_slice(&json).map_err(S3Error::internal)?;
    if upload.bucket != bucket || upload.key != key {
        return Err(S3Error::no_such_upload());
    }
    Ok((dir, upload))
}

pub(super) async fn create(
    s: &Shared,
    bucket: &str,
    key: &str,
    req: &Request,
) -> Result<Response, S3Error> {
    s.storage.object_paths(bucket, key).await?; // The bucket exists and the key is storable.
    let upload_id = s.storage.unique_name();
    let dir = upload_dir(&s.storage, &upload_id)?;
    let upload = Upload {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        initiated_ms: now_ms(),
        meta: object_meta_from_headers(&req.headers)?,
    };
    let json = serde_json::to_vec(&upload).map_err(S3Error::internal)?;
    tokio::fs::create_dir_all(&dir).await?;
    tokio::fs::write(dir.join("upload.json"), json).await?;
    let mut out = String::new();
    xml::open_root(&mut out, "InitiateMultipartUploadResult");
    xml::element(&mut out, "Bucket", bucket);
    xml::element(&mut out, "Key", key);
    xml::element(&mut out, "UploadId", &upload_id);
    out.push_str("</InitiateMultipartUploadResult>");
    Ok(xml_ok(out))
}

pub(super) async fn upload_part(
    s: &Shared,
    bucket: &str,
    key: &str,
    mut req: Request,
) -> Result<Response, S3Error> {
    if req.headers.contains_key("x-amz-copy-source") {
        return Err(S3Error::not_implemented("UploadPartCopy"));
    }
    let upload_id = req.param("uploadId").unwrap_or_default().to_owned();
    let number: u32 = req
        .param("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    let (dir, _) = load(&s.storage, bucket, key, &upload_id).await?;
    let limit = s.max_object_bytes.min(MAX_PART_BYTES);
    let staged = s.storage.stage(&mut req.body, limit).await?;
    super::body::check_content_md5(&req.headers, &staged.md5)?;
    let part = Part {
        etag: hex(&staged.md5),
        size: staged.size,
        last_modified_ms: now_ms(),
    };
    let json = serde_json::to_vec(&part).map_err(S3Error::internal)?;
    let json_temp = s.storage.temp_path();
    let _guard = s.storage.write_lock(fs::MULTIPART_DIR, &upload_id).await;
    // Aborted or completed while the part was arriving.
    load(&s.storage, bucket, key, &upload_id).await?;
    let temp = staged.temp;
    blocking(move || {
        temp.persist(&dir.join(number.to_string()))?;
        std::fs::write(json_temp.path(), json)?;
        json_temp.persist(&dir.join(format!("{number}.json")))?;
        Ok(())
    })
    .await?;
    let mut response = Response::new(axum::body::Body::empty());
    super::exchange::set_header(&mut response, "etag", &format!("\"{}\"", part.etag));
    Ok(response)
}

/// The recorded parts of an upload, by number.
async fn parts(dir: std::path::PathBuf) -> Result<Vec<(u32, Part)>, S3Error> {
    blocking(move || {
        let mut parts = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let name = entry?.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let json = std::fs::read(dir.join(&name))?;
            let part: Part = serde_json::from_slice(&json).map_err(S3Error::internal)?;
            parts.push((number, part));
        }
        parts.sort_by_key(|(number, _)| *number);
        Ok(parts)
    })
    .await
}

pub(super) async fn complete(
    s: &Shared,
    bucket: &str,
    key: &str,
    mut req: Request,
) -> Result<Response, S3Error> {
    let upload_id = req.param("uploadId").unwrap_or_default().to_owned();
    let body = req.body.read_all(MAX_COMPLETE_BODY).await?;
    super::body::check_content_md5(&req.headers, &Md5::digest(&body).into())?;
    let root = xml::parse(&body)?;
    let mut requested = Vec::new();
    for part in root.children("Part") {
        let number: u32 = part
            .child_text("PartNumber")
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(S3Error::malformed_xml)?;
        let etag = part.child_text("ETag").ok_or_else(S3Error::malformed_xml)?;
        requested.push((number, etag.trim().trim_matches('"').to_ascii_lowercase()));
    }
    if requested.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        ));
    }

    let _guard = s.storage.write_lock(fs::MULTIPART_DIR, &upload_id).await;
    let (dir, upload) = load(&s.storage, bucket, key, &upload_id).await?;
    let recorded = parts(dir.clone()).await?;
    let invalid_part = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidPart",
            "One or more of the specified parts could not be found. The part may not have been \
             uploaded, or the specified entity tag may not match the part's entity tag.",
        )
    };
    let mut chosen = Vec::with_capacity(requested.len());
    let mut total = 0u64;
    for (i, (number, etag)) in requested.iter().enumerate() {
        let part = recorded
            .iter()
            .find(|(n, _)| n == number)
            .map(|(_, part)| part)
            .filter(|part| part.etag == *etag)
            .ok_or_else(invalid_part)?;
        if part.size < MIN_PART_BYTES && i + 1 < requested.len() {
            return Err(S3Error::entity_too_small());
        }
        total += part.size;
        chosen.push((*number, part));
    }
    if total > s.max_object_bytes {
        return Err(S3Error::entity_too_large(s.max_object_bytes));
    }

    // Concatenate, checking each part's bytes against its recorded MD5.
    let temp = s.storage.temp_path();
    let mut out = tokio::fs::File::create(temp.path()).await?;
    let mut md5_of_md5s = Md5::new();
    let mut buffer = vec![0u8; 256 * 1024];
    for (number, part) in &chosen {
        let mut file = tokio::fs::File::open(dir.join(number.to_string())).await?;
        let mut md5 = Md5::new();
        loop {
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            md5.update(&buffer[..n]);
            out.write_all(&buffer[..n]).await?;
        }
        let digest: [u8; 16] = md5.finalize().into();
        if hex(&digest) != part.etag {
            return Err(S3Error::internal(format!(
                "part {number} of upload {upload_id} does not match its recorded MD5"
            )));
        }
        md5_of_md5s.update(digest);
    }
    out.flush().await?;
    out.sync_data().await?;
    drop(out);

    let meta = ObjectMeta {
        size: total,
        etag: format!("{}-{}", hex(&md5_of_md5s.finalize()), chosen.len()),
        last_modified_ms: now_ms(),
        ..upload.meta
    };
    let held = (fs::MULTIPART_DIR, upload_id.as_str());
    let meta = s
        .storage
        .commit_holding(bucket, key, temp, meta, Some(held))
        .await?;
    blocking(move || Ok(std::fs::remove_dir_all(dir)?)).await?;

    let mut out = String::new();
    xml::open_root(&mut out, "CompleteMultipartUploadResult");
    xml::element(&mut out, "Location", &req.resource);
    xml::element(&mut out, "Bucket", bucket);
    xml::element(&mut out, "Key", key);
    xml::element(&mut out, "ETag", &format!("\"{}\"", meta.etag));
    out.push_str("</CompleteMultipartUploadResult>");
    Ok(xml_ok(out))
}

pub(super) async fn abort(
    s: &Shared,
    bucket: &str,
    key: &str,
    req: &Request,
) -> Result<Response, S3Error> {
    let upload_id = req.param("uploadId").unwrap_or_default();
    let _guard = s.storage.write_lock(fs::MULTIPART_DIR, upload_id).await;
    let (dir, _) = load(&s.storage, bucket, key, upload_id).await?;
    blocking(move || Ok(std::fs::remove_dir_all(dir)?)).await?;
    Ok(super::exchange::no_content())
}

pub(super) async fn list_parts(
    s: &Shared,
    bucket: &str,
    key: &str,
    req: &Request,
) -> Result<Response, S3Error> {
    let upload_id = req.param("uploadId").unwrap_or_default();
    let (dir, _) = load(&s.storage, bucket, key, upload_id).await?;
    let marker: u32 = req
        .param("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max = req.max_param("max-parts")?;
    let all = parts(dir).await?;
    let after: Vec<_> = all.into_iter().filter(|(n, _)| *n > marker).collect();
    let truncated = after.len() > max;
    let page = &after[..after.len().min(max)];

    let mut out = String::new();
    xml::open_root(&mut out, "ListPartsResult");
    xml::element(&mut out, "Bucket", bucket);
    xml::element(&mut out, "Key", key);
    xml::element(&mut out, "UploadId", upload_id);
    xml::element(&mut out, "PartNumberMarker", &marker.to_string());
    if let Some((last, _)) = page.last() {
        xml::element(&mut out, "NextPartNumberMarker", &last.to_string());
    }
    xml::element(&mut out, "MaxParts", &max.to_string());
    xml::element(&mut out, "IsTruncated", &truncated.to_string());
    xml::element(&mut out, "StorageClass", "STANDARD");
    for (number, part) in page {
        out.push_str("<Part>");
        xml::element(&mut out, "PartNumber", &number.to_string());
        xml::element(&mut out, "LastModified", &iso8601(part.last_modified_ms));
        xml::element(&mut out, "ETag", &format!("\"{}\"", part.etag));
        xml::element(&mut out, "Size", &part.size.to_string());
        out.push_str("</Part>");
    }
    out.push_str("</ListPartsResult>");
    Ok(xml_ok(out))
}

/// Uploads in progress in `bucket`, by key then initiation time.
async fn uploads(storage: &Storage, bucket: &str) -> Result<Vec<(String, Upload)>, S3Error> {
    let dir = storage.root().join(fs::MULTIPART_DIR);
    let bucket = bucket.to_owned();
    blocking(move || {
        let mut uploads = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let Ok(id) = entry.file_name().into_string() else {
                continue;
            };
            // Completed or aborted meanwhile: skipped.
            let Ok(json) = std::fs::read(entry.path().join("upload.json")) else {
                continue;
            };
            let Ok(upload) = serde_json::from_slice::<Upload>(&json) else {
                continue;
            };
            if upload.bucket == bucket {
                uploads.push((id, upload));
            }
        }
        uploads.sort_by(|(a_id, a), (b_id, b)| {
            (&a.key, a.initiated_ms, a_id).cmp(&(&b.key, b.initiated_ms, b_id))
        });
        Ok(uploads)
    })
    .await
}

pub(super) async fn list_uploads(
    s: &Shared,
    bucket: &str,
    req: &Request,
) -> Result<Response, S3Error> {
    s.storage.bucket_dir(bucket).await?;
    let prefix = req.param("prefix").unwrap_or_default();
    let key_marker = req.param("key-marker").unwrap_or_default();
    let id_marker = req.param("upload-id-marker").unwrap_or_default();
    let max = req.max_param("max-uploads")?;
    let url = req.param("encoding-type") == Some("url");
    let encode = |text: &str| {
        if url {
            super::exchange::url_encode_key(text)
        } else {
            text.to_owned()
        }
    };
    let matching: Vec<_> = uploads(&s.storage, bucket)
        .await?
        .into_iter()
        .filter(|(id, u)| {
            u.key.starts_with(prefix)
                && (key_marker.is_empty()
                    || u.key.as_str() > key_marker
                    || (u.key == key_marker && !id_marker.is_empty() && id.as_str() > id_marker))
        })
        .collect();
    let truncated = matching.len() > max;
    let page = &matching[..matching.len().min(max)];

    let mut out = String::new();
    xml::open_root(&mut out, "ListMultipartUploadsResult");
    xml::element(&mut out, "Bucket", bucket);
    xml::element(&mut out, "KeyMarker", &encode(key_marker));
    xml::element(&mut out, "UploadIdMarker", id_marker);
    if let (true, Some((id, upload))) = (truncated, page.last()) {
        xml::element(&mut out, "NextKeyMarker", &encode(&upload.key));
        xml::element(&mut out, "NextUploadIdMarker", id);
    }
    xml::element(&mut out, "Prefix", &encode(prefix));
    if url {
        xml::element(&mut out, "EncodingType", "url");
    }
    xml::element(&mut out, "MaxUploads", &max.to_string());
    xml::element(&mut out, "IsTruncated", &truncated.to_string());
    for (id, upload) in page {
        out.push_str("<Upload>");
        xml::element(&mut out, "Key", &encode(&upload.key));
        xml::element(&mut out, "UploadId", id);
        xml::element(&mut out, "Initiated", &iso8601(upload.initiated_ms));
        xml::element(&mut out, "StorageClass", "STANDARD");
        out.push_str("</Upload>");
    }
    out.push_str("</ListMultipartUploadsResult>");
    Ok(xml_ok(out))
}

/// Removes every upload in progress into `bucket` (when the bucket is deleted).
pub(super) async fn abort_all(storage: &Storage, bucket: &str) -> Result<(), S3Error> {
    let root = storage.root().join(fs::MULTIPART_DIR);
    for (id, _) in uploads(storage, bucket).await? {
        let dir = root.join(id);
        blocking(move || match std::fs::remove_dir_all(dir) {
            Err(e) if !fs::absent(&e) => Err(e.into()),
            _ => Ok(()),
        })
        .await?;
    }
    Ok(())
}

pub(super) fn now_ms() -> i64 {
    fluxer_core::time::Timestamp::now().unix_ms()
}

pub(super) fn iso8601(ms: i64) -> String {
    fluxer_core::time::Timestamp::from_unix_ms(ms).to_iso8601()
}
