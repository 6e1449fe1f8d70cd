"""The e2e suite's Web Push service: a push service on loopback that checks what a real one checks
and decrypts what only the browser could, with implementations independent of the server's
(`cryptography` for the P-256 keys and the ES256 signature, `http_ece` for RFC 8291).

Usage: push_service.py PORT_FILE. It listens on 127.0.0.1 (a free port, written to PORT_FILE) and
serves:
- POST /subscribers/{name}: makes a subscriber (a P-256 key pair and a 16-byte auth secret, as a
  browser does) and answers its PushSubscription JSON: {endpoint, keys: {p256dh, auth}}.
- POST /push/{name}: the push endpoint. It validates the VAPID header (RFC 8292: `vapid t=JWT,
  k=key`; ES256 signature by k; aud = this service's origin; exp in the future and at most 24 h
  away), decrypts the aes128gcm body with the subscriber's private key, records the result and
  answers 201; a subscriber marked gone answers 410.
- POST /gone/{name}: marks a subscriber gone.
- POST /flaky/{name}: the subscriber's next two pushes are answered 429, then 503 (checked all
  the same).
- GET /received: every push so far: [{name, status, ok, error, vapid_key, headers, payload}].
"""

import base64
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

lock = threading.Lock()
subscribers = {}
gone = set()
flaky = {}
received = []


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check_vapid(header, origin):
    """The VAPID header's public key (base64url) when the token is valid for `origin`."""
    if not header.startswith("vapid "):
        raise ValueError(f"not a vapid authorization: {header[:20]}")
    params = dict(
        part.strip().split("=", 1) for part in header[len("vapid "):].split(",")
    )
    token, key = params["t"], params["k"]
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    head, claims, signature = token.split(".")
    if json.loads(unb64url(head)).get("alg") != "ES256":
        raise ValueError("alg is not ES256")
    raw = unb64url(signature)
    if len(raw) != 64:
        raise ValueError("an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the VAPID signature does not verify") from None
    claims = json.loads(unb64url(claims))
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    now = time.time()
    if not now < claims.get("exp", 0) <= now + 24 * 3600:
        raise ValueError(f"exp {claims.get('exp')} out of range")
    if not str(claims.get("sub", "")):
        raise ValueError("no sub")
    return key


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def origin(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def do_GET(self):
        if self.path == "/received":
            with lock:
                return self.answer(200, list(received))
        self.answer(404)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        kind, _, name = self.path.strip("/").partition("/")
        if kind == "subscribers":
            private = ec.generate_private_key(ec.SECP256R1())
            auth = os.urandom(16)
            public = private.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            with lock:
                subscribers[name] = (private, auth)
            return self.answer(200, {
                "endpoint": f"{self.origin()}/push/{name}",
                "keys": {"p256dh": b64url(public), "auth": b64url(auth)},
            })
        if kind == "gone":
            with lock:
                gone.add(name)
            return self.answer(204)
        if kind == "flaky":
            with lock:
                flaky[name] = [429, 503]
            return self.answer(204)
        if kind != "push":
            return self.answer(404)
        with lock:
            is_gone = name in gone
            subscriber = subscribers.get(name)
            failures = flaky.get(name) or []
            failure = failures.pop(0) if failures else None
        record = {"name": name, "ok": False, "error": None, "vapid_key": None,
                  "headers": {k.lower(): v for k, v in self.headers.items()}, "payload": None}
        status = 201
        try:
            if subscriber is None:
                raise ValueError("unknown subscriber")
            record["vapid_key"] = check_vapid(self.headers.get("Authorization", ""), self.origin())
            if self.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            if not self.headers.get("TTL", "").isdigit():
                raise ValueError("no TTL")
            private, auth = subscriber
            plain = http_ece.decrypt(body, private_key=private, auth_secret=auth,
                                     version="aes128gcm")
            record["payload"] = json.loads(plain)
            record["ok"] = True
        except Exception as e:  # recorded for the test to show
            record["error"] = f"{type(e).__name__}: {e}"
            status = 400
        if is_gone:
            status = 410
        elif failure and status < 400:
            status = failure
        record["status"] = status
        with lock:
            received.append(record)
        self.answer(status, None if status < 400 else {"error": record["error"] or "gone"})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
