//! A failing adapter's error reaches the log with its adapter and every cause, while the client
//! sees only Fluxer's generic 500.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::response::IntoResponse;
use fluxer_api::ApiError;
use fluxer_core::Error;
use fluxer_core::model::User;
use fluxer_core::ports::UserRepository;
use fluxer_storage::memory::MemoryStore;

/// A log sink the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_storage_failure_logs_its_adapter_and_cause_and_answers_a_generic_500() {
    // A real adapter failing: the in-memory store refuses a second user with the same ID.
    let store = MemoryStore::new();
    let user = User::new(fluxer_core::id::UserId::new(42), "someone".to_owned(), None);
    store.create_user(&user).await.unwrap();
    let failure = store.create_user(&user).await.unwrap_err();

    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let response = tracing::subscriber::with_default(subscriber, || {
        ApiError::from(Error::from(failure)).into_response()
    });

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("storage failure: memory failed: user 42 exists"),
        "the log line has the whole chain: {logged}"
    );
    assert_eq!(response.status(), 500);
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("INTERNAL_SERVER_ERROR") && !body.contains("memory"),
        "{body}"
    );
}
