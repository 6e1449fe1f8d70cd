//! Clients for load: an HTTP/1.1 keep-alive connection (the harness's client opens one connection
//! per request, too slow for tens of thousands), and a gateway WebSocket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// One keep-alive connection; requests go one after the other.
pub(crate) struct KeepAlive {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
}

impl KeepAlive {
    pub(crate) fn connect(addr: &str) -> KeepAlive {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        // A request that never answers fails the test instead of hanging it.
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        KeepAlive {
            writer: stream.try_clone().unwrap(),
            reader: BufReader::new(stream),
            host: addr.to_owned(),
        }
    }

    fn write(&mut self, method: &str, path: &str, token: Option<&str>, body: &[u8]) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        if let Some(t) = token {
            head.push_str(&format!("Authorization: {t}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        self.writer.write_all(&request).expect("send the request");
    }

    /// Sends a request and hangs up `after` it, without reading the answer: the server's handler
    /// is cancelled wherever it is by then.
    pub(crate) fn hang_up(
        mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
        after: Duration,
    ) {
        self.write(method, path, token, body);
        std::thread::sleep(after);
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }

    /// Sends a request and reads its answer: status and body.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        self.write(method, path, token, body);
        let mut line = String::new();
        self.reader
            .read_line(&mut line)
            .expect("an answer within 60 s (a stalled server never answers)");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {line:?}"));
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("headers");
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("a content length");
            }
        }
        let mut reply = vec![0u8; length];
        self.reader.read_exact(&mut reply).expect("the body");
        (status, reply)
    }
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next JSON frame, or the close code (`None`: closed without one).
pub(crate) async fn next(ws: &mut Ws) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a gateway frame within 30 s");
        match message {
            Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// Reads frames until the server closes; its close code (`None`: closed without one).
pub(crate) async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match next(ws).await {
            Ok(_) => continue,
            Err(code) => return code,
        }
    }
}

pub(crate) async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send a gateway frame");
}

/// Connects to the gateway and identifies; returns once READY has arrived.
pub(crate) async fn identify(addr: &str, token: &str) -> Ws {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/gateway?v=1&encoding=json"))
            .await
            .expect("connect to the gateway");
    assert_eq!(next(&mut ws).await.unwrap()["op"], 10);
    send(
        &mut ws,
        json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux" } } }),
    )
    .await;
    loop {
        let frame = next(&mut ws).await.expect("READY");
        if frame["t"] == "READY" {
            return ws;
        }
    }
}
