//! Acceptance test of the S3 endpoint with boto3, a real AWS client: the endpoint runs in-process,
//! mounted under `/s3` like in the monolith, and `tests/s3/boto3_suite.py` drives it.
//!
//! Needs `python3` with boto3: `python3 -m pip install -r tests/requirements.txt`.
//! Without them the test fails (it is never skipped).

use std::path::Path;
use std::time::Duration;

use fluxer_media::s3::{S3Config, S3Credentials, S3Service};

const ACCESS_KEY: &str = "fluxer-test-key";
const SECRET: &str = "fluxer-test-secret/with+odd=chars";

/// The checks the suite prints, in order.
const CHECKS: &[&str] = &[
    "create, head, list and locate a bucket",
    "put, get and head an object with its type and metadata",
    "missing keys and conditional gets",
    "ranged gets",
    "copy an object, keeping or replacing its metadata",
    "keys with spaces, reserved and non-ASCII characters",
    "list with a prefix and a delimiter",
    "paginate with MaxKeys=2 and continuation tokens",
    "list objects (v1) with a marker",
    "delete one object and a batch",
    "a 3-part multipart upload of 15 MiB round-trips byte-exact",
    "abort an upload; parts under 5 MiB are refused",
    "managed transfer upload and download",
    "an aws-chunked upload with a trailing checksum",
    "a presigned GET works",
    "an expired presigned GET is refused with 403",
    "a presigned PUT works",
    "a wrong secret, an unknown key and anonymous requests are refused",
    "empty and delete the bucket",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_suite_passes() {
    let root = tempfile::tempdir().unwrap();
    let service = S3Service::new(S3Config {
        root: root.path().to_owned(),
        region: "us-east-1".into(),
        credentials: vec![S3Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET.into(),
        }],
        buckets: Vec::new(),
        max_object_bytes: 64 * 1024 * 1024,
    })
    .unwrap();
    let app = axum::Router::new().nest("/s3", service.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/boto3_suite.py");
    let endpoint = format!("http://127.0.0.1:{port}/s3");
    let run = tokio::process::Command::new("python3")
        .arg(&script)
        .args([&endpoint, ACCESS_KEY, SECRET])
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(300), run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!(
            "could not run python3 ({e}): this test needs python3 with boto3 \
             (python3 -m pip install -r tests/requirements.txt)"
        ),
        Err(_) => panic!("the boto3 suite did not finish within 5 minutes"),
    };
    server.abort();

    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert_ne!(
        output.status.code(),
        Some(3),
        "boto3 is missing: python3 -m pip install -r tests/requirements.txt\n{stderr}"
    );
    assert!(
        output.status.success(),
        "the boto3 suite failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    let passed: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("ok "))
        .collect();
    assert_eq!(passed, CHECKS, "the suite's checks");
    assert!(stdout.contains("all checks passed"));
}
