"""The LiveKit side of the voice tests, built on LiveKit's official Python server SDK (livekit-api).

Usage: livekit_server.py PORT_FILE API_KEY API_SECRET

Listens on 127.0.0.1 (a free port, written to PORT_FILE) and serves:
  POST /verify        {token}: verifies a token we minted with the SDK's TokenVerifier; answers its
                      claims (identity, metadata, video grants, exp, nbf) or {ok: false, error}.
  POST /sign-webhook  {event, room, identity}: a webhook as LiveKit sends it, its body a protobuf
                      WebhookEvent in JSON, signed by the SDK's AccessToken with the body's sha256;
                      answers {body, authorization}.
  POST /twirp/livekit.RoomService/<Method>: LiveKit's room service, as far as checking goes: the
                      Bearer token must verify with the SDK and grant roomAdmin on the body's room.
                      Every call is recorded.
  GET  /calls         the recorded room service calls: [{method, body, ok, error}].
"""

import base64
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol import models, webhook

PORT_FILE, API_KEY, API_SECRET = sys.argv[1], sys.argv[2], sys.argv[3]
CALLS = []
LOCK = threading.Lock()


def verify(token):
    try:
        claims = api.TokenVerifier(API_KEY, API_SECRET).verify(token)
    except Exception as e:  # noqa: BLE001 - the answer says why
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    raw = jwt.decode(token, options={"verify_signature": False})
    video = claims.video
    return {
        "ok": True,
        "identity": claims.identity,
        "metadata": claims.metadata,
        "exp": raw.get("exp"),
        "nbf": raw.get("nbf"),
        "now": int(time.time()),
        "video": {
            "room": video.room,
            "room_join": video.room_join,
            "room_admin": video.room_admin,
            "can_publish": video.can_publish,
            "can_subscribe": video.can_subscribe,
            "can_publish_sources": video.can_publish_sources,
        },
    }


def sign_webhook(event, room, identity):
    ev = webhook.WebhookEvent(
        event=event,
        room=models.Room(name=room),
        id="EV_" + hashlib.sha1(f"{event}{room}{identity}{time.time()}".encode()).hexdigest()[:12],
        created_at=int(time.time()),
    )
    if identity:
        ev.participant.CopyFrom(models.ParticipantInfo(identity=identity))
    body = MessageToJson(ev)
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(API_KEY, API_SECRET).with_sha256(digest).to_jwt()
    return {"body": body, "authorization": token}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n).decode() if n else ""

    def do_GET(self):
        if self.path == "/calls":
            with LOCK:
                self.reply(200, list(CALLS))
        else:
            self.reply(404, {})

    def do_POST(self):
        raw = self.body()
        if self.path == "/verify":
            self.reply(200, verify(json.loads(raw)["token"]))
        elif self.path == "/sign-webhook":
            req = json.loads(raw)
            self.reply(200, sign_webhook(req["event"], req["room"], req.get("identity", "")))
        elif self.path.startswith("/twirp/livekit.RoomService/"):
            method = self.path.rsplit("/", 1)[1]
            call = {"method": method, "body": None, "ok": False, "error": None}
            try:
                call["body"] = json.loads(raw)
                auth = self.headers.get("authorization", "")
                if not auth.startswith("Bearer "):
                    raise ValueError("no Bearer token")
                claims = api.TokenVerifier(API_KEY, API_SECRET).verify(auth[len("Bearer "):])
                if not claims.video.room_admin:
                    raise ValueError("the token does not grant roomAdmin")
                if claims.video.room != call["body"].get("room"):
                    raise ValueError(f"the token is for room {claims.video.room!r}")
                if self.headers.get("content-type") != "application/json":
                    raise ValueError("not JSON")
                call["ok"] = True
            except Exception as e:  # noqa: BLE001 - recorded for the test to read
                call["error"] = f"{type(e).__name__}: {e}"
            with LOCK:
                CALLS.append(call)
            if call["ok"]:
                self.reply(200, {})
            else:
                self.reply(401, {"code": "unauthenticated", "msg": call["error"]})
        else:
            self.reply(404, {})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os  # noqa: E402

os.replace(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
