//! The example requests of AWS's "Signature Version 4 for Amazon S3" documentation, with their
//! published signatures.

use axum::http::{HeaderMap, HeaderValue, Method};
use sha2::{Digest, Sha256};

use super::*;

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z, the date of every example.
const EXAMPLE_TIME: i64 = 1_369_353_600;

fn verifier() -> Verifier {
    Verifier::new(
        "us-east-1".into(),
        [(ACCESS_KEY.to_owned(), SECRET.to_owned())],
    )
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn authorization(signed_headers: &str, signature: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,\
         SignedHeaders={signed_headers},Signature={signature}"
    )
}

fn verify(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    now: i64,
) -> Result<Payload, S3Error> {
    verifier().verify(
        &SignedRequest {
            method,
            raw_path: path,
            raw_query: query,
            headers,
        },
        now,
    )
}

fn get_object_headers(signature: &str) -> HeaderMap {
    headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        (
            "authorization",
            &authorization("host;range;x-amz-content-sha256;x-amz-date", signature),
        ),
    ])
}

const GET_OBJECT_SIGNATURE: &str =
    "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn get_object_example() {
    let headers = get_object_headers(GET_OBJECT_SIGNATURE);
    let payload = verify(&Method::GET, "/test.txt", "", &headers, EXAMPLE_TIME).unwrap();
    assert!(matches!(payload, Payload::Sha256(_)));
}

#[test]
fn put_object_example() {
    let body = b"Welcome to Amazon S3.";
    let body_hash = hex(&Sha256::digest(body));
    assert_eq!(
        body_hash,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    let headers = headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", &body_hash),
        (
            "authorization",
            &authorization(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        ),
    ]);
    // The path as sent (`$` unescaped) and as canonicalized (`%24`) both verify.
    for path in ["/test$file.text", "/test%24file.text"] {
        let payload = verify(&Method::PUT, path, "", &headers, EXAMPLE_TIME).unwrap();
        assert!(
            matches!(payload, Payload::Sha256(hash) if hash == <[u8; 32]>::from(Sha256::digest(body)))
        );
    }
}

#[test]
fn get_bucket_lifecycle_example() {
    let headers = headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        (
            "authorization",
            &authorization(
                "host;x-amz-content-sha256;x-amz-date",
                "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            ),
        ),
    ]);
    verify(&Method::GET, "/", "lifecycle", &headers, EXAMPLE_TIME).unwrap();
}

#[test]
fn list_objects_example() {
    let headers = headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        (
            "authorization",
            &authorization(
                "host;x-amz-content-sha256;x-amz-date",
                "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            ),
        ),
    ]);
    verify(
        &Method::GET,
        "/",
        "max-keys=2&prefix=J",
        &headers,
        EXAMPLE_TIME,
    )
    .unwrap();
    // The query order on the wire does not matter.
    verify(
        &Method::GET,
        "/",
        "prefix=J&max-keys=2",
        &headers,
        EXAMPLE_TIME,
    )
    .unwrap();
}

const PRESIGNED_QUERY: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256\
    &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
    &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
    &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn presigned_url_example_and_its_expiry() {
    let headers = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
    let at = |now| verify(&Method::GET, "/test.txt", PRESIGNED_QUERY, &headers, now);
    assert!(matches!(at(EXAMPLE_TIME + 60).unwrap(), Payload::Unsigned));
    assert!(at(EXAMPLE_TIME + 86_400).is_ok());
    let expired = at(EXAMPLE_TIME + 86_401).unwrap_err();
    assert_eq!(
        (expired.code, expired.status.as_u16()),
        ("AccessDenied", 403)
    );
    let early = at(EXAMPLE_TIME - MAX_CLOCK_SKEW_SECS - 1).unwrap_err();
    assert_eq!(early.code, "AccessDenied");
    // Another path under the same signature.
    let other = verify(
        &Method::GET,
        "/other.txt",
        PRESIGNED_QUERY,
        &headers,
        EXAMPLE_TIME,
    );
    assert_eq!(other.unwrap_err().code, "SignatureDoesNotMatch");
}

#[test]
fn tampering_is_refused() {
    // Another signature, another range, another method.
    let mut signature = GET_OBJECT_SIGNATURE.to_owned();
    signature.replace_range(0..1, "e");
    let forged = get_object_headers(&signature);
    let err = verify(&Method::GET, "/test.txt", "", &forged, EXAMPLE_TIME).unwrap_err();
    assert_eq!(
        (err.code, err.status.as_u16()),
        ("SignatureDoesNotMatch", 403)
    );

    let mut headers = get_object_headers(GET_OBJECT_SIGNATURE);
    headers.insert("range", HeaderValue::from_static("bytes=0-99"));
    let err = verify(&Method::GET, "/test.txt", "", &headers, EXAMPLE_TIME).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");

    let headers = get_object_headers(GET_OBJECT_SIGNATURE);
    let err = verify(&Method::DELETE, "/test.txt", "", &headers, EXAMPLE_TIME).unwrap_err();
    assert_eq!(err.code, "SignatureDoesNotMatch");

    // A wrong secret for the right key.
    let wrong = Verifier::new(
        "us-east-1".into(),
        [(ACCESS_KEY.to_owned(), "not-the-secret".to_owned())],
    );
    let request = SignedRequest {
        method: &Method::GET,
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    assert_eq!(
        wrong.verify(&request, EXAMPLE_TIME).unwrap_err().code,
        "SignatureDoesNotMatch"
    );
}

#[test]
fn unknown_keys_skew_and_anonymous_requests_are_refused() {
    let headers = get_object_headers(GET_OBJECT_SIGNATURE);
    let stranger = Verifier::new(
        "us-east-1".into(),
        [("OTHER".to_owned(), SECRET.to_owned())],
    );
    let request = SignedRequest {
        method: &Method::GET,
        raw_path: "/test.txt",
        raw_query: "",
        headers: &headers,
    };
    assert_eq!(
        stranger.verify(&request, EXAMPLE_TIME).unwrap_err().code,
        "InvalidAccessKeyId"
    );
    let late = EXAMPLE_TIME + MAX_CLOCK_SKEW_SECS + 1;
    let err = verify(&Method::GET, "/test.txt", "", &headers, late).unwrap_err();
    assert_eq!(
        (err.code, err.status.as_u16()),
        ("RequestTimeTooSkewed", 403)
    );
    assert!(verify(&Method::GET, "/test.txt", "", &headers, late - 2).is_ok());

    let other_region = Verifier::new(
        "eu-west-1".into(),
        [(ACCESS_KEY.to_owned(), SECRET.to_owned())],
    );
    assert_eq!(
        other_region
            .verify(&request, EXAMPLE_TIME)
            .unwrap_err()
            .code,
        "AuthorizationHeaderMalformed"
    );

    let anonymous = HeaderMap::new();
    let err = verify(&Method::GET, "/test.txt", "", &anonymous, EXAMPLE_TIME).unwrap_err();
    assert_eq!((err.code, err.status.as_u16()), ("AccessDenied", 403));
}

/// The request of AWS's chunked upload example, its body's chunk signatures, and its payload check.
pub(in super::super) fn streaming_example() -> (Payload, [&'static str; 3]) {
    let headers = headers(&[
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", STREAMING_SIGNED),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
        (
            "authorization",
            &authorization(
                "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
                 x-amz-decoded-content-length;x-amz-storage-class",
                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
            ),
        ),
    ]);
    let payload = verify(
        &Method::PUT,
        "/examplebucket/chunkObject.txt",
        "",
        &headers,
        EXAMPLE_TIME,
    )
    .unwrap();
    let signatures = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];
    (payload, signatures)
}

#[test]
fn streaming_upload_example() {
    let (payload, signatures) = streaming_example();
    let Payload::Chunked {
        signer: Some(mut signer),
        trailer: false,
    } = payload
    else {
        panic!("expected a signed chunked payload, got {payload:?}");
    };
    let chunk = |len: usize| <[u8; 32]>::from(Sha256::digest(vec![b'a'; len]));
    assert_eq!(signer.next_chunk(&chunk(65536)), signatures[0]);
    assert_eq!(signer.next_chunk(&chunk(1024)), signatures[1]);
    assert_eq!(signer.next_chunk(&chunk(0)), signatures[2]);
}

#[test]
fn canonical_forms() {
    assert_eq!(canonical_path("/a%20b/c+d/%7e$"), "/a%20b/c%2Bd/~%24");
    assert_eq!(
        canonical_query("b=2&a=x%20y&uploads&a=1", None),
        "a=1&a=x%20y&b=2&uploads="
    );
    assert_eq!(uri_encode("a/b c+é"), "a%2Fb%20c%2B%C3%A9");
    assert_eq!(parse_amz_date("20130524T000000Z"), Some(EXAMPLE_TIME));
    assert_eq!(format_amz_date(EXAMPLE_TIME), "20130524T000000Z");
    assert_eq!(parse_amz_date("20131324T000000Z"), None);
    assert_eq!(parse_amz_date("2013-05-24T00:00:00Z"), None);
}
