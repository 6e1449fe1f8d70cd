use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Sends email (SMTP in production; a log or an in-memory outbox elsewhere).
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> PortResult<()>;
}
