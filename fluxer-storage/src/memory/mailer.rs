//! Mailers that do not send: an outbox for tests and a log line for instances without SMTP.

use std::sync::Mutex;

use async_trait::async_trait;
use fluxer_core::ports::{Email, Mailer, PortResult};

use super::lock;

/// Keeps every email in an outbox tests can read.
#[derive(Default)]
pub struct MemoryMailer {
    outbox: Mutex<Vec<Email>>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        lock(&self.outbox).clone()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> PortResult<()> {
        lock(&self.outbox).push(email.clone());
        Ok(())
    }
}

/// Logs that an email would be sent: recipient and subject, never the body (it holds one-time links).
/// The monolith's default when no SMTP server is configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &Email) -> PortResult<()> {
        tracing::info!(to = %email.to, subject = %email.subject, "email not sent: no SMTP server configured");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(n: u32) -> Email {
        Email {
            to: format!("user{n}@example.test"),
            subject: format!("subject {n}"),
            text: "body".to_owned(),
            html: None,
        }
    }

    #[tokio::test]
    async fn outbox_keeps_emails_in_order() {
        let mailer = MemoryMailer::new();
        assert!(mailer.sent().is_empty());
        mailer.send(&email(1)).await.unwrap();
        mailer.send(&email(2)).await.unwrap();
        assert_eq!(mailer.sent(), vec![email(1), email(2)]);
    }

    #[tokio::test]
    async fn log_mailer_accepts_everything() {
        LogMailer.send(&email(1)).await.unwrap();
    }
}
