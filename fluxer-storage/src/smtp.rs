//! SMTP mail on lettre: a pooled async transport with STARTTLS, implicit TLS or plain (for a relay on
//! loopback), and optional authentication. Messages go out as `multipart/alternative` (plain text and
//! HTML) when the email has an HTML part.

use async_trait::async_trait;
use fluxer_core::StoreError;
use fluxer_core::ports::{Email, Mailer, PortResult};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Upgrade with STARTTLS (port 587), refusing servers that cannot.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host or a test sink.
    None,
}

/// An SMTP server and the sender address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpConfig {
    /// The server's host name (also the name its TLS certificate is checked against).
    pub host: String,
    /// The server's port: as a rule 587 for STARTTLS, 465 for implicit TLS.
    pub port: u16,
    /// STARTTLS when absent.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// Authenticate as this user; only when `password` is set too.
    #[serde(default)]
    pub username: Option<String>,
    /// The password of `username`; without both, no authentication.
    #[serde(default)]
    pub password: Option<String>,
    /// `Fluxer <no-reply@example.com>`.
    pub from: String,
    /// Seconds to wait for the server.
    #[serde(default = "SmtpConfig::default_timeout")]
    pub timeout_secs: u64,
}

impl SmtpConfig {
    fn default_timeout() -> u64 {
        30
    }
}

/// Sends email over SMTP.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

fn backend(e: impl Into<fluxer_core::error::BoxError>) -> StoreError {
    StoreError::backend_of("smtp", e)
}

impl SmtpMailer {
    /// Builds the transport (connections open lazily, on the first email).
    pub fn new(config: &SmtpConfig) -> PortResult<SmtpMailer> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| backend(format!("bad sender address {:?}: {e}", config.from)))?;
        let builder = match config.security {
            SmtpSecurity::Starttls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                    .map_err(backend)?
            }
            SmtpSecurity::Tls => {
                AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(backend)?
            }
            SmtpSecurity::None => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            }
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(std::time::Duration::from_secs(config.timeout_secs)));
        if let (Some(user), Some(pass)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> PortResult<()> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| backend(format!("bad recipient address: {e}")))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&email.subject);
        let message = match &email.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                html.clone(),
            )),
            None => builder.body(email.text.clone()),
        }
        .map_err(backend)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            // A 5xx reply (no such mailbox, domain refuses mail): sending again cannot succeed.
            Err(e) if e.is_permanent() => Err(StoreError::Refused {
                adapter: "smtp",
                reason: e.to_string(),
            }),
            Err(e) => Err(backend(e)),
        }
    }
}
