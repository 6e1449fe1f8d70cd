use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body, always sent.
    pub text: String,
    /// An HTML alternative to `text`, when there is one.
    pub html: Option<String>,
}

/// Sends email (SMTP in production; a log or an in-memory outbox elsewhere).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one email, returning once it is handed over (to the SMTP server, log or outbox). An
    /// error means it was not sent, and the `send_email` job that calls this may be retried.
    async fn send(&self, email: &Email) -> PortResult<()>;
}
