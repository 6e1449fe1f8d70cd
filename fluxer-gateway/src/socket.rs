//! The WebSocket under a gateway connection: the HTTP/1.1 upgrade, and writes that keep no buffer.
//!
//! tungstenite copies every frame it sends into a buffer of its own and never shrinks it, so a
//! connection kept the capacity of the largest frame it ever sent (its READY, which grows with the
//! user's guilds) for as long as it lived. The gateway's own frames are written here instead: the
//! frames of one batch are laid out in one buffer, written with one call, and the buffer is freed.
//! tungstenite still reads, answers pings and sends the close frame; its buffer is flushed before
//! each write of ours, so no frame of its can be cut by one of ours, and once a write of ours is cut
//! (it failed or timed out) the connection sends nothing more, not even a close frame.

use axum::extract::FromRequestParts;
use axum::http::header::{self, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::SinkExt;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// A gateway connection's socket.
pub(crate) type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// A request to open a WebSocket (RFC 6455 over HTTP/1.1), checked as it arrives.
pub(crate) struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

fn has_token(parts: &Parts, name: header::HeaderName, token: &str) -> bool {
    parts.headers.get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let refuse = |status: StatusCode, why: &'static str| (status, why).into_response();
        if parts.method != Method::GET {
            return Err(refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                "a WebSocket is opened with GET",
            ));
        }
        if !has_token(parts, header::CONNECTION, "upgrade") {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "Connection header did not include 'upgrade'",
            ));
        }
        if !has_token(parts, header::UPGRADE, "websocket") {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`Upgrade` header did not include 'websocket'",
            ));
        }
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION) != Some(&HeaderValue::from_static("13"))
        {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Version` header did not include '13'",
            ));
        }
        let Some(key) = parts.headers.get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "`Sec-WebSocket-Key` header missing",
            ));
        };
        let Some(on_upgrade) = parts.extensions.remove::<OnUpgrade>() else {
            return Err(refuse(
                StatusCode::UPGRADE_REQUIRED,
                "WebSocket request couldn't be upgraded since no upgrade state was present",
            ));
        };
        Ok(Upgrade { key, on_upgrade })
    }
}

impl Upgrade {
    /// Answers 101 and runs `callback` on the socket once the connection has switched protocols
    /// (nothing runs if the upgrade fails: the client went away).
    pub(crate) fn on_upgrade<F, Fut>(self, config: WebSocketConfig, callback: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Upgrade { key, on_upgrade } = self;
        tokio::spawn(async move {
            let Ok(upgraded) = on_upgrade.await else {
                return;
            };
            let socket = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config),
            )
            .await;
            callback(socket).await;
        });
        let accept = derive_accept_key(key.as_bytes());
        let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

/// A close frame with the gateway's `code` and `reason`.
pub(crate) fn close_message(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// A data frame's payload: UTF-8 text, or bytes (a `zlib-stream` chunk).
pub(crate) enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

impl Payload {
    fn opcode(&self) -> u8 {
        match self {
            Payload::Text(_) => 0x1,
            Payload::Binary(_) => 0x2,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Payload::Text(text) => text.as_bytes(),
            Payload::Binary(bytes) => bytes,
        }
    }
}

/// Frames laid out for one write: each a final, unmasked frame (a server's, RFC 6455 section 5.2).
#[derive(Default)]
pub(crate) struct Frames(Vec<u8>);

impl Frames {
    pub(crate) fn push(&mut self, payload: &Payload) {
        let bytes = payload.bytes();
        let len = bytes.len();
        self.0.reserve(len + 10);
        self.0.push(0x80 | payload.opcode());
        if len < 126 {
            self.0.push(len as u8);
        } else if let Ok(short) = u16::try_from(len) {
            self.0.push(126);
            self.0.extend_from_slice(&short.to_be_bytes());
        } else {
            self.0.push(127);
            self.0.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.0.extend_from_slice(bytes);
    }

    /// Writes the frames: first what tungstenite still holds (a pong), then these, then flushes.
    pub(crate) async fn write(self, socket: &mut Socket) -> std::io::Result<()> {
        socket.flush().await.map_err(std::io::Error::other)?;
        let io = socket.get_mut();
        io.write_all(&self.0).await?;
        io.flush().await
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::FromRequestParts;
    use axum::http::{Request, StatusCode};

    use super::{Frames, Payload, Upgrade};

    async fn refusal(request: Request<()>) -> StatusCode {
        let (mut parts, ()) = request.into_parts();
        match Upgrade::from_request_parts(&mut parts, &()).await {
            Ok(_) => StatusCode::SWITCHING_PROTOCOLS,
            Err(response) => response.status(),
        }
    }

    #[tokio::test]
    async fn only_a_complete_websocket_handshake_is_upgraded() {
        let handshake = |version: &str| {
            Request::get("/gateway")
                .header("connection", "keep-alive, Upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", version)
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        };
        let plain = Request::get("/gateway").body(()).unwrap();
        assert_eq!(refusal(plain).await, StatusCode::BAD_REQUEST);
        let old_version = handshake("8").body(()).unwrap();
        assert_eq!(refusal(old_version).await, StatusCode::BAD_REQUEST);
        let mut post = handshake("13").body(()).unwrap();
        *post.method_mut() = axum::http::Method::POST;
        assert_eq!(refusal(post).await, StatusCode::METHOD_NOT_ALLOWED);
        // Complete, but on a connection hyper cannot hand over (no upgrade state).
        let complete = handshake("13").body(()).unwrap();
        assert_eq!(refusal(complete).await, StatusCode::UPGRADE_REQUIRED);
    }

    #[test]
    fn frames_carry_rfc_6455_headers() {
        let mut frames = Frames::default();
        frames.push(&Payload::Text("hi".into()));
        frames.push(&Payload::Binary(vec![7; 300]));
        frames.push(&Payload::Text("x".repeat(70_000)));
        let b = &frames.0;
        assert_eq!(&b[..4], &[0x81, 2, b'h', b'i']);
        assert_eq!(&b[4..8], &[0x82, 126, 1, 44]);
        assert!(b[8..308].iter().all(|&x| x == 7));
        assert_eq!(&b[308..318], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(b.len(), 318 + 70_000);
    }
}
