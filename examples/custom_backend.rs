//! Plugging in your own backend: implement a port trait and hand it to `Ports`. Here, a mailer that
//! drops emails into a folder (as an outbox for a separate sender) and an event bus wrapper that audits
//! every dispatch before passing it on. Storage, cache, presence, queue, search and blobs plug in the
//! same way; each has a conformance suite in `fluxer_core::testing` that a new backend should pass.
//!
//! ```sh
//! cargo run --example custom_backend
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use fluxer::core::StoreError;
use fluxer::core::ports::{
    Dispatch, Email, EventBus, Mailer, PortResult, Subscription, SystemClock,
};
use fluxer::core::service::{Argon2Hasher, Config, Fluxer, Ports, RegisterRequest};
use fluxer::storage::memory::{InProcessEventBus, MemoryCache, MemoryStore};

/// Writes each email as a `.eml`-like text file.
struct FolderMailer {
    dir: PathBuf,
    written: AtomicUsize,
}

#[async_trait]
impl Mailer for FolderMailer {
    async fn send(&self, email: &Email) -> PortResult<()> {
        let n = self.written.fetch_add(1, Ordering::SeqCst);
        let body = format!(
            "To: {}\nSubject: {}\n\n{}",
            email.to, email.subject, email.text
        );
        std::fs::write(self.dir.join(format!("{n:06}.eml")), body).map_err(StoreError::backend)
    }
}

/// Counts dispatches per event name, then delegates to the real bus.
struct AuditedBus {
    inner: InProcessEventBus,
    seen: std::sync::Mutex<Vec<&'static str>>,
}

#[async_trait]
impl EventBus for AuditedBus {
    async fn publish(&self, dispatch: Dispatch) -> PortResult<()> {
        self.seen
            .lock()
            .map_err(|e| StoreError::backend_of("audited-bus", e.to_string()))?
            .push(dispatch.event.as_str());
        self.inner.publish(dispatch).await
    }

    async fn subscribe(&self, capacity: usize) -> PortResult<Box<dyn Subscription>> {
        self.inner.subscribe(capacity).await
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("fluxer-outbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mailer = Arc::new(FolderMailer {
        dir: dir.clone(),
        written: AtomicUsize::new(0),
    });
    let bus = Arc::new(AuditedBus {
        inner: InProcessEventBus::new(),
        seen: Default::default(),
    });
    let fluxer = Fluxer::new(
        Ports {
            store: Arc::new(MemoryStore::new()),
            events: bus.clone(),
            mailer: mailer.clone(),
            cache: Arc::new(MemoryCache::new()),
            clock: Arc::new(SystemClock),
            hasher: Arc::new(Argon2Hasher::default()),
            queue: None,
            search: None,
            blobs: None,
            media: None,
            presence: None,
            unfurler: None,
            gif_providers: Vec::new(),
            domain_probe: None,
            bluesky: None,
            push: None,
            sso: None,
            webauthn: None,
            voice: None,
            voice_states: None,
        },
        Config::default(),
    );
    fluxer
        .register(RegisterRequest {
            email: Some("new@example.com".into()),
            username: Some("newcomer".into()),
            password: Some("a long enough password".into()),
            ..Default::default()
        })
        .await?;
    println!("verification email written to {}", dir.display());
    println!("{}", std::fs::read_to_string(dir.join("000000.eml"))?);
    println!(
        "events published: {:?}",
        bus.seen.lock().map_err(|e| e.to_string())?
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
