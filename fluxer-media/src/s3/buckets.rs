//! Bucket operations: `ListBuckets`, `CreateBucket`, `DeleteBucket`, `HeadBucket`,
//! `GetBucketLocation`, `GetBucketVersioning`, and `ListObjectsV2` / `ListObjects`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::S3Error;
use super::exchange::{Request, Shared, no_content, set_header, url_encode_key, xml_ok};
use super::fs::{self, blocking, valid_bucket_name};
use super::listing::{self, After};
use super::multipart::{self, iso8601};
use super::xml;

/// The owner reported in listings: this server has one tenant.
const OWNER_ID: &str = "fluxer";

/// The largest `CreateBucket` body (a `CreateBucketConfiguration`).
const MAX_CREATE_BODY: usize = 64 * 1024;

pub(super) async fn list_buckets(s: &Shared) -> Result<Response, S3Error> {
    let root = s.storage.root().to_owned();
    let buckets = blocking(move || {
        let mut buckets = Vec::new();
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let stat = entry.metadata()?;
            if !stat.is_dir() || !valid_bucket_name(&name) {
                continue;
            }
            let created = stat.created().or_else(|_| stat.modified())?;
            let created_ms = created
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            buckets.push((name, created_ms));
        }
        buckets.sort();
        Ok(buckets)
    })
    .await?;
    let mut out = String::new();
    xml::open_root(&mut out, "ListAllMyBucketsResult");
    owner(&mut out);
    out.push_str("<Buckets>");
    for (name, created_ms) in buckets {
        out.push_str("<Bucket>");
        xml::element(&mut out, "Name", &name);
        xml::element(&mut out, "CreationDate", &iso8601(created_ms));
        out.push_str("</Bucket>");
    }
    out.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml_ok(out))
}

fn owner(out: &mut String) {
    out.push_str("<Owner>");
    xml::element(out, "ID", OWNER_ID);
    xml::element(out, "DisplayName", OWNER_ID);
    out.push_str("</Owner>");
}

pub(super) async fn create_bucket(
    s: &Shared,
    bucket: &str,
    mut req: Request,
) -> Result<Response, S3Error> {
    if !valid_bucket_name(bucket) {
        return Err(S3Error::invalid_bucket_name());
    }
    // The optional `CreateBucketConfiguration` names a region: it must be this one.
    let body = req.body.read_all(MAX_CREATE_BODY).await?;
    if !body.is_empty() {
        let config = xml::parse(&body)?;
        if let Some(constraint) = config.child_text("LocationConstraint")
            && !constraint.is_empty()
            && constraint != s.region
        {
            return Err(S3Error::new(
                StatusCode::BAD_REQUEST,
                "IllegalLocationConstraintException",
                format!(
                    "The {constraint} location constraint is incompatible for the region specific \
                     endpoint this request was sent to."
                ),
            ));
        }
    }
    match tokio::fs::create_dir(s.storage.root().join(bucket)).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(S3Error::bucket_exists());
        }
        Err(e) => return Err(e.into()),
    }
    let mut response = Response::new(Body::empty());
    set_header(&mut response, "location", &format!("/{bucket}"));
    Ok(response)
}

pub(super) async fn delete_bucket(s: &Shared, bucket: &str) -> Result<Response, S3Error> {
    let dir = s.storage.bucket_dir(bucket).await?;
    let meta_dir = s.storage.root().join(fs::META_DIR).join(bucket);
    let (data, meta) = (dir.clone(), meta_dir.clone());
    if !blocking(move || Ok(listing::is_empty(&data, &meta)?)).await? {
        return Err(S3Error::bucket_not_empty());
    }
    multipart::abort_all(&s.storage, bucket).await?;
    blocking(move || {
        // Only empty directories remain.
        std::fs::remove_dir_all(&dir)?;
        match std::fs::remove_dir_all(&meta_dir) {
            Err(e) if !fs::absent(&e) => Err(e.into()),
            _ => Ok(()),
        }
    })
    .await?;
    Ok(no_content())
}

pub(super) async fn head_bucket(s: &Shared, bucket: &str) -> Result<Response, S3Error> {
    s.storage.bucket_dir(bucket).await?;
    let mut response = Response::new(Body::empty());
    set_header(&mut response, "x-amz-bucket-region", &s.region);
    Ok(response)
}

pub(super) async fn location(s: &Shared, bucket: &str) -> Result<Response, S3Error> {
    s.storage.bucket_dir(bucket).await?;
    let mut out = String::new();
    xml::open_root(&mut out, "LocationConstraint");
    // S3 reports us-east-1 as an empty constraint.
    if s.region != "us-east-1" {
        xml::escape_into(&mut out, &s.region);
    }
    out.push_str("</LocationConstraint>");
    Ok(xml_ok(out))
}

pub(super) async fn versioning(s: &Shared, bucket: &str) -> Result<Response, S3Error> {
    s.storage.bucket_dir(bucket).await?;
    let mut out = String::new();
    // Never versioned: an empty configuration.
    xml::open_root(&mut out, "VersioningConfiguration");
    out.push_str("</VersioningConfiguration>");
    Ok(xml_ok(out))
}

/// `ListObjectsV2` when `v2`, else `ListObjects`.
pub(super) async fn list_objects(
    s: &Shared,
    bucket: &str,
    req: &Request,
    v2: bool,
) -> Result<Response, S3Error> {
    let dir = s.storage.bucket_dir(bucket).await?;
    let meta_dir = s.storage.root().join(fs::META_DIR).join(bucket);
    let prefix = req.param("prefix").unwrap_or_default().to_owned();
    let delimiter = req
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let max = req.max_param("max-keys")?;
    let url = match req.param("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    let encode = |text: &str| {
        if url {
            url_encode_key(text)
        } else {
            text.to_owned()
        }
    };
    let marker = if v2 {
        req.param("start-after")
    } else {
        req.param("marker")
    };
    let marker = marker.unwrap_or_default().to_owned();
    let token = req.param("continuation-token").filter(|_| v2);
    let after = match token {
        Some(token) => After::from_token(token)?,
        None => After::from_marker(&marker, &prefix, delimiter.as_deref()),
    };

    let page = {
        let (prefix, delimiter) = (prefix.clone(), delimiter.clone());
        blocking(move || {
            Ok(listing::list(
                &dir,
                &meta_dir,
                &prefix,
                delimiter.as_deref(),
                after,
                max,
            )?)
        })
        .await?
    };

    let mut out = String::new();
    xml::open_root(&mut out, "ListBucketResult");
    xml::element(&mut out, "Name", bucket);
    xml::element(&mut out, "Prefix", &encode(&prefix));
    if let Some(delimiter) = &delimiter {
        xml::element(&mut out, "Delimiter", &encode(delimiter));
    }
    xml::element(&mut out, "MaxKeys", &max.to_string());
    if url {
        xml::element(&mut out, "EncodingType", "url");
    }
    if v2 {
        xml::element(&mut out, "KeyCount", &page.len().to_string());
        if let Some(token) = token {
            xml::element(&mut out, "ContinuationToken", token);
        }
        if let Some(next) = &page.next {
            xml::element(&mut out, "NextContinuationToken", &next.token());
        }
        if !marker.is_empty() {
            xml::element(&mut out, "StartAfter", &encode(&marker));
        }
    } else {
        xml::element(&mut out, "Marker", &encode(&marker));
        if let Some(After::Key(next) | After::Prefix(next)) = &page.next {
            xml::element(&mut out, "NextMarker", &encode(next));
        }
    }
    xml::element(&mut out, "IsTruncated", &page.next.is_some().to_string());
    let with_owner = !v2 || req.param("fetch-owner") == Some("true");
    for (key, meta) in &page.objects {
        out.push_str("<Contents>");
        xml::element(&mut out, "Key", &encode(key));
        xml::element(&mut out, "LastModified", &iso8601(meta.last_modified_ms));
        xml::element(&mut out, "ETag", &format!("\"{}\"", meta.etag));
        xml::element(&mut out, "Size", &meta.size.to_string());
        if with_owner {
            owner(&mut out);
        }
        xml::element(&mut out, "StorageClass", "STANDARD");
        out.push_str("</Contents>");
    }
    for common in &page.common_prefixes {
        out.push_str("<CommonPrefixes>");
        xml::element(&mut out, "Prefix", &encode(common));
        out.push_str("</CommonPrefixes>");
    }
    out.push_str("</ListBucketResult>");
    Ok(xml_ok(out))
}
