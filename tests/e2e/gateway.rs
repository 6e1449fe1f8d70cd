//! A gateway client for the end-to-end suites: connect, identify, and wait for frames.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn next(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a gateway frame within 20 s")
            .expect("the connection is open")
            .expect("a valid frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

pub(crate) async fn next_dispatch(ws: &mut Ws, event: &str) -> Value {
    loop {
        let frame = next(ws).await;
        if frame["t"] == event {
            return frame;
        }
    }
}

pub(crate) async fn identify(gateway: &str, token: &str) -> Ws {
    identify_ready(gateway, token).await.0
}

/// Connects and identifies; the session and its READY frame.
pub(crate) async fn identify_ready(gateway: &str, token: &str) -> (Ws, Value) {
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{gateway}/gateway?v=1&encoding=json"))
            .await
            .expect("connect to the gateway");
    assert_eq!(next(&mut ws).await["op"], 10);
    ws.send(Message::Text(
        json!({ "op": 2, "d": { "token": token, "properties": { "os": "linux" } } })
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let ready = next_dispatch(&mut ws, "READY").await;
    (ws, ready)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
