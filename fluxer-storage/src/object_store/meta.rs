//! What the adapter records about each object, and where it falls back to the store's own report.

use fluxer_core::ports::BlobMeta;
use fluxer_core::time::Timestamp;
use object_store::{Attribute, AttributeValue, Attributes, ObjectMeta};
use serde::{Deserialize, Serialize};

/// User metadata names (`x-amz-meta-...` on S3).
const ETAG: &str = "fluxer-etag";
const CONTENT_TYPE: &str = "fluxer-content-type";
const MODIFIED_MS: &str = "fluxer-modified-ms";

/// Recorded at write time; a sidecar holds it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Recorded {
    /// The size written; lets a reader notice a sidecar left behind by an interrupted overwrite. Not
    /// kept in attributes, which travel with their object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// MD5 hex of the content.
    pub etag: String,
    pub content_type: Option<String>,
    pub last_modified_ms: i64,
}

impl Recorded {
    /// The attributes a put sends. The content type goes out twice: as the object's own (so the store
    /// serves it) and as metadata (so its absence is told apart from a store default).
    pub(super) fn to_attributes(&self) -> Attributes {
        let mut attributes = Attributes::new();
        attributes.insert(metadata(ETAG), self.etag.clone().into());
        attributes.insert(
            metadata(MODIFIED_MS),
            self.last_modified_ms.to_string().into(),
        );
        if let Some(content_type) = &self.content_type {
            attributes.insert(Attribute::ContentType, content_type.clone().into());
            attributes.insert(metadata(CONTENT_TYPE), content_type.clone().into());
        }
        attributes
    }

    /// What a put through this adapter left in the attributes, or `None` for an object written by
    /// another tool.
    pub(super) fn from_attributes(attributes: &Attributes) -> Option<Self> {
        let value = |name| attributes.get(&metadata(name)).map(AttributeValue::as_ref);
        let etag = value(ETAG)?;
        let last_modified_ms = value(MODIFIED_MS)?.parse().ok()?;
        Some(Self {
            size: None,
            etag: etag.to_owned(),
            content_type: value(CONTENT_TYPE).map(str::to_owned),
            last_modified_ms,
        })
    }
}

fn metadata(name: &'static str) -> Attribute {
    Attribute::Metadata(name.into())
}

/// The meta of an object without the adapter's records, from what the store reports: its etag (an MD5
/// on S3 for single-request uploads; inode, time and size on a filesystem) reduced to hex digits, and
/// its content type if it keeps one.
pub(super) fn described_by_store(
    key: &str,
    object: &ObjectMeta,
    attributes: &Attributes,
) -> BlobMeta {
    let modified_ms = object.last_modified.timestamp_millis();
    let etag: String = object
        .e_tag
        .as_deref()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let etag = if etag.is_empty() {
        format!("{:x}{modified_ms:x}", object.size)
    } else {
        etag
    };
    BlobMeta {
        key: key.to_owned(),
        size: object.size,
        content_type: attributes
            .get(&Attribute::ContentType)
            .map(|value| value.as_ref().to_owned()),
        etag,
        last_modified: Timestamp::from_unix_ms(modified_ms),
    }
}
