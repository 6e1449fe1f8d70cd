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
    /// A mailer with an empty outbox.
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
        // With no SMTP server, the log is how an operator hands a user the link to verify or reset.
        let links = links_in(&email.text);
        let codes = codes_in(&email.text);
        tracing::info!(to = %email.to, subject = %email.subject, links = ?links, codes = ?codes, "email not sent: no SMTP server configured");
        Ok(())
    }
}

/// The verification codes (`XXXX-XXXX`, upper-case letters and digits) in an email's text.
fn codes_in(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter(|w| {
            w.len() == 9
                && w.as_bytes()[4] == b'-'
                && w.bytes()
                    .enumerate()
                    .all(|(i, b)| i == 4 || b.is_ascii_uppercase() || b.is_ascii_digit())
        })
        .collect()
}

/// The http(s) links in an email's text.
fn links_in(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .filter_map(|w| w.find("http").map(|i| &w[i..]))
        .filter(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>']))
        .collect()
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

    #[test]
    fn codes_are_found_in_the_text() {
        let text = "Hi,\n\nEnter this code:\n\n    AB12-CD34\n\nnot-this nor ab12-cd34.";
        assert_eq!(codes_in(text), ["AB12-CD34"]);
    }

    #[test]
    fn links_are_found_in_the_text() {
        let text =
            "Hi,\n\nVerify here: http://127.0.0.1:8080/verify#token=abc.\n(https://x.test/r?t=1)";
        assert_eq!(
            links_in(text),
            [
                "http://127.0.0.1:8080/verify#token=abc",
                "https://x.test/r?t=1"
            ]
        );
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
