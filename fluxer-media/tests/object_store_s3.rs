//! The blob conformance suite against `fluxer_storage`'s `ObjectBlobStore` in its S3 configuration
//! (object_store's AmazonS3 client), talking to this crate's S3 endpoint served in-process under `/s3`.
//! One fresh endpoint and directory per case.

use std::sync::Arc;

use async_trait::async_trait;
use fluxer_core::ports::{BlobFolderUsage, BlobMeta, BlobStore, PortResult};
use fluxer_media::s3::{S3Config, S3Credentials, S3Service};
use fluxer_storage::object_store::{ObjectBlobStore, S3BlobConfig};

const ACCESS_KEY: &str = "conformance";
const SECRET: &str = "conformance-secret";
const BUCKET: &str = "blobs";

/// An `ObjectBlobStore` on a private S3 endpoint, which stops (and whose directory goes) with it.
struct EndpointBlobStore {
    blobs: ObjectBlobStore,
    config: S3BlobConfig,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _root: tempfile::TempDir,
}

impl EndpointBlobStore {
    async fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        let service = S3Service::new(S3Config {
            root: root.path().to_owned(),
            region: "us-east-1".into(),
            credentials: vec![S3Credentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET.into(),
            }],
            buckets: vec![BUCKET.into()],
            max_object_bytes: 16 * 1024 * 1024,
        })
        .unwrap();
        let app = axum::Router::new().nest("/s3", service.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let config = S3BlobConfig {
            endpoint: format!("http://127.0.0.1:{port}/s3"),
            region: "us-east-1".into(),
            bucket: BUCKET.into(),
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET.into(),
            allow_http: true,
        };
        Self {
            blobs: ObjectBlobStore::s3(config.clone()).unwrap(),
            config,
            server,
            _root: root,
        }
    }
}

impl Drop for EndpointBlobStore {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[async_trait]
impl BlobStore for EndpointBlobStore {
    async fn put(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: Option<&str>,
    ) -> PortResult<BlobMeta> {
        self.blobs.put(key, bytes, content_type).await
    }
    async fn get(&self, key: &str) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        self.blobs.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        start: u64,
        end: u64,
    ) -> PortResult<Option<(BlobMeta, Vec<u8>)>> {
        self.blobs.get_range(key, start, end).await
    }
    async fn head(&self, key: &str) -> PortResult<Option<BlobMeta>> {
        self.blobs.head(key).await
    }
    async fn delete(&self, key: &str) -> PortResult<bool> {
        self.blobs.delete(key).await
    }
    async fn list(&self, prefix: &str) -> PortResult<Vec<BlobMeta>> {
        self.blobs.list(prefix).await
    }
    async fn usage(&self) -> PortResult<Vec<BlobFolderUsage>> {
        self.blobs.usage().await
    }
}

fluxer_core::blob_conformance_tests!(async {
    Arc::new(EndpointBlobStore::start().await) as Arc<dyn BlobStore>
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_are_the_md5_s3_reports() {
    let store = EndpointBlobStore::start().await;
    let meta = store.put("a", b"abc".to_vec(), None).await.unwrap();
    assert_eq!(meta.etag, "900150983cd24fb0d6963f7d28e17f72");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_an_error_not_a_miss() {
    let store = EndpointBlobStore::start().await;
    assert_eq!(store.blobs.head("x").await.unwrap(), None);
    let intruder = ObjectBlobStore::s3(S3BlobConfig {
        secret_access_key: "not-the-secret".into(),
        ..store.config.clone()
    })
    .unwrap();
    assert!(intruder.head("x").await.is_err());
    assert!(intruder.put("x", b"x".to_vec(), None).await.is_err());
    assert_eq!(store.blobs.head("x").await.unwrap(), None);
}
