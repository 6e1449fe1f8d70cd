"""Drives Fluxer's S3 endpoint with boto3, a real AWS client.

Usage: boto3_suite.py <endpoint-url> <access-key-id> <secret-access-key>

Prints "ok <check>" per passed check and exits 0; any failure raises (non-zero exit). Exits 3 when
boto3 is missing.
"""

import hashlib
import io
import os
import sys
import time
import urllib.error
import urllib.request

try:
    import boto3
    import botocore
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as e:
    print(f"boto3 is not installed ({e}): pip install -r tests/requirements.txt", file=sys.stderr)
    sys.exit(3)

MIB = 1024 * 1024
BUCKET = "suite"


def ok(name):
    print(f"ok {name}", flush=True)


def client(endpoint, key, secret):
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=config,
    )


def error_code(call):
    """The S3 error code (or HTTP status for HEAD) of a call expected to fail."""
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("the call was expected to fail")


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def buckets(s3):
    s3.create_bucket(Bucket=BUCKET)
    s3.head_bucket(Bucket=BUCKET)
    assert BUCKET in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] in (None, "us-east-1")
    assert error_code(lambda: s3.create_bucket(Bucket=BUCKET))[0] == "BucketAlreadyOwnedByYou"
    assert error_code(lambda: s3.head_bucket(Bucket="missing-bucket")) == ("404", 404)
    assert error_code(lambda: s3.list_objects_v2(Bucket="missing-bucket"))[0] == "NoSuchBucket"
    ok("create, head, list and locate a bucket")


def objects(s3):
    body = b"hello, fluxer \xe2\x9c\xa8"
    put = s3.put_object(
        Bucket=BUCKET,
        Key="docs/hello.txt",
        Body=body,
        ContentType="text/plain; charset=utf-8",
        Metadata={"owner": "alice", "purpose": "suite"},
    )
    md5 = hashlib.md5(body).hexdigest()
    assert put["ETag"] == f'"{md5}"', put["ETag"]

    got = s3.get_object(Bucket=BUCKET, Key="docs/hello.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain; charset=utf-8"
    assert got["Metadata"] == {"owner": "alice", "purpose": "suite"}, got["Metadata"]
    assert got["ETag"] == f'"{md5}"'

    head = s3.head_object(Bucket=BUCKET, Key="docs/hello.txt")
    assert head["ContentLength"] == len(body), head["ContentLength"]
    assert head["ETag"] == f'"{md5}"'
    assert head["Metadata"]["owner"] == "alice"
    ok("put, get and head an object with its type and metadata")

    assert error_code(lambda: s3.get_object(Bucket=BUCKET, Key="docs/missing"))[0] == "NoSuchKey"
    assert error_code(lambda: s3.head_object(Bucket=BUCKET, Key="docs/missing")) == ("404", 404)
    assert error_code(lambda: s3.get_object(Bucket=BUCKET, Key="docs/hello.txt", IfNoneMatch=f'"{md5}"')) == ("304", 304)
    assert error_code(lambda: s3.get_object(Bucket=BUCKET, Key="docs/hello.txt", IfMatch='"0000"'))[0] == "PreconditionFailed"
    assert s3.get_object(Bucket=BUCKET, Key="docs/hello.txt", IfMatch=f'"{md5}"')["Body"].read() == body
    ok("missing keys and conditional gets")

    ranged = s3.get_object(Bucket=BUCKET, Key="docs/hello.txt", Range="bytes=7-12")
    assert ranged["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert ranged["Body"].read() == body[7:13]
    assert ranged["ContentRange"] == f"bytes 7-12/{len(body)}", ranged["ContentRange"]
    suffix = s3.get_object(Bucket=BUCKET, Key="docs/hello.txt", Range="bytes=-3")["Body"].read()
    assert suffix == body[-3:]
    code, status = error_code(lambda: s3.get_object(Bucket=BUCKET, Key="docs/hello.txt", Range="bytes=1000-"))
    assert (code, status) == ("InvalidRange", 416), (code, status)
    ok("ranged gets")

    s3.copy_object(Bucket=BUCKET, Key="copies/hello.txt", CopySource={"Bucket": BUCKET, "Key": "docs/hello.txt"})
    copied = s3.get_object(Bucket=BUCKET, Key="copies/hello.txt")
    assert copied["Body"].read() == body
    assert copied["Metadata"]["owner"] == "alice"
    assert copied["ContentType"] == "text/plain; charset=utf-8"
    s3.copy_object(
        Bucket=BUCKET,
        Key="copies/replaced.txt",
        CopySource=f"{BUCKET}/docs/hello.txt",
        MetadataDirective="REPLACE",
        ContentType="text/markdown",
        Metadata={"owner": "bob"},
    )
    replaced = s3.head_object(Bucket=BUCKET, Key="copies/replaced.txt")
    assert replaced["ContentType"] == "text/markdown" and replaced["Metadata"] == {"owner": "bob"}
    ok("copy an object, keeping or replacing its metadata")

    tricky = "odd keys/a b+c&d=é?#%.txt"
    s3.put_object(Bucket=BUCKET, Key=tricky, Body=b"odd")
    assert s3.get_object(Bucket=BUCKET, Key=tricky)["Body"].read() == b"odd"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="odd keys/")["Contents"]]
    assert listed == [tricky], listed
    ok("keys with spaces, reserved and non-ASCII characters")


def listing(s3):
    keys = ["list/a.txt", "list/b.txt", "list/c.txt", "list/sub/d.txt", "list/sub/e.txt", "list/z/f.txt"]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())

    grouped = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", Delimiter="/")
    assert [o["Key"] for o in grouped["Contents"]] == keys[:3]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["list/sub/", "list/z/"]
    assert grouped["KeyCount"] == 5 and not grouped["IsTruncated"]
    assert grouped["Contents"][0]["Size"] == len(b"list/a.txt")
    ok("list with a prefix and a delimiter")

    seen, pages, token = [], 0, None
    while True:
        args = {"Bucket": BUCKET, "Prefix": "list/", "MaxKeys": 2}
        if token:
            args["ContinuationToken"] = token
        page = s3.list_objects_v2(**args)
        pages += 1
        assert page["KeyCount"] <= 2
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys and pages == 3, (seen, pages)

    paginator = s3.get_paginator("list_objects_v2")
    grouped_pages = list(paginator.paginate(Bucket=BUCKET, Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 2}))
    contents = [o["Key"] for p in grouped_pages for o in p.get("Contents", [])]
    prefixes = [c["Prefix"] for p in grouped_pages for c in p.get("CommonPrefixes", [])]
    assert contents == keys[:3] and prefixes == ["list/sub/", "list/z/"], (contents, prefixes)

    after = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", StartAfter="list/b.txt")
    assert [o["Key"] for o in after["Contents"]] == keys[2:]
    ok("paginate with MaxKeys=2 and continuation tokens")

    v1 = s3.list_objects(Bucket=BUCKET, Prefix="list/", MaxKeys=4)
    assert [o["Key"] for o in v1["Contents"]] == keys[:4] and v1["IsTruncated"]
    v1_rest = s3.list_objects(Bucket=BUCKET, Prefix="list/", Marker=v1["Contents"][-1]["Key"])
    assert [o["Key"] for o in v1_rest["Contents"]] == keys[4:]
    ok("list objects (v1) with a marker")


def deletes(s3):
    s3.delete_object(Bucket=BUCKET, Key="list/a.txt")
    assert error_code(lambda: s3.head_object(Bucket=BUCKET, Key="list/a.txt")) == ("404", 404)
    s3.delete_object(Bucket=BUCKET, Key="list/a.txt")  # Deleting twice succeeds.
    result = s3.delete_objects(
        Bucket=BUCKET,
        Delete={"Objects": [{"Key": "list/b.txt"}, {"Key": "list/sub/d.txt"}, {"Key": "list/never"}]},
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["list/b.txt", "list/never", "list/sub/d.txt"]
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="list/")["Contents"]]
    assert left == ["list/c.txt", "list/sub/e.txt", "list/z/f.txt"], left
    ok("delete one object and a batch")


def multipart(s3):
    data = os.urandom(15 * MIB)
    key = "big/fifteen.bin"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="application/x-test")
    upload_id = upload["UploadId"]
    in_progress = s3.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in in_progress] == [(key, upload_id)]
    parts = []
    for number in range(1, 4):
        chunk = data[(number - 1) * 5 * MIB : number * 5 * MIB]
        part = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk)
        assert part["ETag"] == f'"{hashlib.md5(chunk).hexdigest()}"'
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    listed = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in listed] == [(1, 5 * MIB), (2, 5 * MIB), (3, 5 * MIB)]
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    digests = b"".join(hashlib.md5(data[i : i + 5 * MIB]).digest() for i in range(0, len(data), 5 * MIB))
    expected_etag = f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert done["ETag"] == expected_etag, (done["ETag"], expected_etag)
    got = s3.get_object(Bucket=BUCKET, Key=key)
    body = got["Body"].read()
    assert len(body) == len(data) and hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    assert got["ETag"] == expected_etag and got["ContentType"] == "application/x-test"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    ok("a 3-part multipart upload of 15 MiB round-trips byte-exact")

    aborted = s3.create_multipart_upload(Bucket=BUCKET, Key="big/aborted.bin")["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key="big/aborted.bin", UploadId=aborted, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=BUCKET, Key="big/aborted.bin", UploadId=aborted)
    assert error_code(lambda: s3.list_parts(Bucket=BUCKET, Key="big/aborted.bin", UploadId=aborted))[0] == "NoSuchUpload"
    small = s3.create_multipart_upload(Bucket=BUCKET, Key="big/small.bin")["UploadId"]
    small_parts = [
        {"PartNumber": n, "ETag": s3.upload_part(Bucket=BUCKET, Key="big/small.bin", UploadId=small, PartNumber=n, Body=b"tiny")["ETag"]}
        for n in (1, 2)
    ]
    code = error_code(lambda: s3.complete_multipart_upload(Bucket=BUCKET, Key="big/small.bin", UploadId=small, MultipartUpload={"Parts": small_parts}))[0]
    assert code == "EntityTooSmall", code
    s3.abort_multipart_upload(Bucket=BUCKET, Key="big/small.bin", UploadId=small)
    ok("abort an upload; parts under 5 MiB are refused")

    # boto3's managed transfer: parallel multipart upload and ranged download.
    transfer = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_fileobj(io.BytesIO(data[: 11 * MIB]), BUCKET, "big/managed.bin", Config=transfer)
    out = io.BytesIO()
    s3.download_fileobj(BUCKET, "big/managed.bin", out, Config=transfer)
    assert out.getvalue() == data[: 11 * MIB]
    ok("managed transfer upload and download")


def chunked(endpoint, key, secret):
    """Newer SDKs send uploads as aws-chunked bodies with a trailing checksum; over plain HTTP boto3
    puts the checksum in a header instead, so this moves it to the trailer as it does over HTTPS."""
    s3 = client(endpoint, key, secret)

    def checksum_in_trailer(params, **kwargs):
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        assert isinstance(algorithm, dict), algorithm
        algorithm["in"] = "trailer"

    s3.meta.events.register("before-call.s3.PutObject", checksum_in_trailer)
    data = os.urandom(2 * MIB + 12345)
    s3.put_object(Bucket=BUCKET, Key="chunked/upload.bin", Body=io.BytesIO(data), ChecksumAlgorithm="CRC32")
    got = s3.get_object(Bucket=BUCKET, Key="chunked/upload.bin")
    assert got["Body"].read() == data
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert "ContentEncoding" not in got, got.get("ContentEncoding")
    ok("an aws-chunked upload with a trailing checksum")


def presigned(s3):
    s3.put_object(Bucket=BUCKET, Key="shared/photo.jpg", Body=b"jpeg bytes", ContentType="image/jpeg")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "shared/photo.jpg"}, ExpiresIn=60)
    status, body = http_get(url)
    assert (status, body) == (200, b"jpeg bytes"), (status, body)
    forged = url.replace("shared/photo.jpg", "shared/other.jpg")
    status, body = http_get(forged)
    assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)
    ok("a presigned GET works")

    expiring = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "shared/photo.jpg"}, ExpiresIn=1)
    time.sleep(2)
    status, body = http_get(expiring)
    assert status == 403 and b"<Code>AccessDenied</Code>" in body, (status, body)
    ok("an expired presigned GET is refused with 403")

    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "shared/upload.txt"}, ExpiresIn=60)
    request = urllib.request.Request(put_url, data=b"via presigned put", method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=BUCKET, Key="shared/upload.txt")["Body"].read() == b"via presigned put"
    ok("a presigned PUT works")


def refusals(endpoint, key):
    wrong = client(endpoint, key, "not-the-secret")
    code, status = error_code(wrong.list_buckets)
    assert (code, status) == ("SignatureDoesNotMatch", 403), (code, status)
    stranger = client(endpoint, "NOT-A-KEY", "whatever")
    assert error_code(stranger.list_buckets)[0] == "InvalidAccessKeyId"
    status, body = http_get(endpoint + f"/{BUCKET}/docs/hello.txt")
    assert status == 403 and b"AccessDenied" in body, (status, body)
    ok("a wrong secret, an unknown key and anonymous requests are refused")


def cleanup(s3):
    assert error_code(lambda: s3.delete_bucket(Bucket=BUCKET))[0] == "BucketNotEmpty"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": objects, "Quiet": True})
    s3.delete_bucket(Bucket=BUCKET)
    assert BUCKET not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    ok("empty and delete the bucket")


def main():
    endpoint, key, secret = sys.argv[1:4]
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}", flush=True)
    s3 = client(endpoint, key, secret)
    buckets(s3)
    objects(s3)
    listing(s3)
    deletes(s3)
    multipart(s3)
    chunked(endpoint, key, secret)
    presigned(s3)
    refusals(endpoint, key)
    cleanup(s3)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    main()
