//! New-IP authorization, as upstream: a password login (without two-factor authentication) from an
//! address the account has not used waits for the owner to approve it from their email.
//!
//! The login answers 403 `IP_AUTHORIZATION_REQUIRED` with a `ticket`; the email carries a link to
//! `{web}/authorize-ip#token=...`. Opening it (`POST /auth/authorize-ip`) remembers the address and
//! opens the session the login asked for; the waiting client collects it by polling
//! (`GET /auth/ip-authorization/poll?ticket=`) within a minute. The email can be sent once more, 30
//! seconds after the login at the earliest. Tickets live 15 minutes, in the cache port as upstream
//! keeps them.
//!
//! Addresses count as seen once they registered the account, passed this check or undid an email
//! change from the link; `DELETE /users/@me/authorized-ips` forgets them all. Instances turn the
//! check on or off (`auth.ip_authorization`; on when the instance can send email). Accounts with
//! two-factor authentication skip it, as upstream: the second factor already proves the owner.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::ClientInfo;
use super::{Actor, Fluxer};
use crate::error::{Error, Result, Unknown};
use crate::id::UserId;
use crate::model::User;
use crate::ports::PrivateDocument;
use crate::secret::{hash_token, random_base62, to_hex};
use crate::time::Timestamp;

const TICKET_TTL: Duration = Duration::from_secs(15 * 60);
const RESULT_TTL: Duration = Duration::from_secs(60);
/// Upstream's wait before the email may be sent again (and the value it reports at login).
const RESEND_AFTER_SECS: i64 = 30;

/// A login waiting for approval (in the cache, under its ticket).
#[derive(Serialize, Deserialize)]
struct PendingLogin {
    user_id: UserId,
    ip: String,
    os: Option<String>,
    browser: Option<String>,
    token_hash: String,
    created_at: Timestamp,
    resent: bool,
}

/// An approved login waiting to be collected (in the cache, under its ticket).
#[derive(Serialize, Deserialize)]
struct ApprovedLogin {
    token: String,
    user_id: UserId,
}

/// An address the account has used (a private document keyed by [`ip_key`]).
#[derive(Serialize, Deserialize)]
struct AuthorizedIp {
    ip: String,
    authorized_at: Timestamp,
}

/// `GET /auth/ip-authorization/poll`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpAuthorizationPoll {
    /// Whether the owner approved the login.
    pub completed: bool,
    /// The new session's token, once approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Its account, once approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
}

/// The canonical text of an address (`::ffff:1.2.3.4` is `1.2.3.4`); unparsable text is kept.
fn canonical_ip(ip: &str) -> String {
    match ip.trim().parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        Ok(v4) => v4.to_string(),
        Err(_) => ip.trim().to_owned(),
    }
}

/// The document key of an address: the first 8 bytes of its SHA-256. The document keeps the
/// address itself, so a collision could only ask for approval again, never skip it.
fn ip_key(ip: &str) -> u64 {
    let digest = hash_token(ip);
    u64::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
    ])
}

fn ticket_key(ticket: &str) -> String {
    format!("ip-auth-ticket:{ticket}")
}

fn token_key(token_hash: &str) -> String {
    format!("ip-auth-token:{token_hash}")
}

fn result_key(ticket: &str) -> String {
    format!("ip-auth-result:{ticket}")
}

fn encode(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))
}

fn invalid_ticket() -> Error {
    Error::field(
        "ticket",
        "INVALID_OR_EXPIRED_AUTHORIZATION_TICKET",
        "Invalid or expired authorization ticket.",
    )
}

fn invalid_token() -> Error {
    Error::field(
        "token",
        "INVALID_OR_EXPIRED_AUTHORIZATION_TOKEN",
        "Invalid or expired authorization token.",
    )
}

impl Fluxer {
    /// Remembers `ip` as one the account has used.
    pub(crate) async fn remember_ip(&self, user: UserId, ip: Option<&str>) -> Result<()> {
        let Some(ip) = ip.map(canonical_ip).filter(|ip| !ip.is_empty()) else {
            return Ok(());
        };
        let record = AuthorizedIp {
            ip: ip.clone(),
            authorized_at: self.now(),
        };
        self.save_doc(
            user,
            PrivateDocument::AuthorizedIp,
            ip_key(&ip),
            Some(&record),
        )
        .await
    }

    async fn ip_is_known(&self, user: UserId, ip: &str) -> Result<bool> {
        let record: Option<AuthorizedIp> = self
            .load_doc(user, PrivateDocument::AuthorizedIp, ip_key(ip))
            .await?;
        Ok(record.is_some_and(|r| r.ip == ip))
    }

    /// At login, after the password: `Ok(())` when the address may log in now, else the approval
    /// is set up (ticket, email) and the login answers `IP_AUTHORIZATION_REQUIRED`. Logins whose
    /// address the host does not know are let through.
    pub(crate) async fn check_login_ip(&self, user: &User, client: &ClientInfo) -> Result<()> {
        if !self.config().require_ip_authorization || user.mfa_enabled() {
            return Ok(());
        }
        let Some(email) = user.email.clone() else {
            return Ok(());
        };
        let Some(ip) = client.ip.as_deref().map(canonical_ip) else {
            return Ok(());
        };
        if self.ip_is_known(user.id, &ip).await? {
            return Ok(());
        }
        let ticket = random_base62(32);
        let token = random_base62(64);
        let token_hash = to_hex(&hash_token(&token));
        let pending = PendingLogin {
            user_id: user.id,
            ip: ip.clone(),
            os: client.os.clone(),
            browser: client.browser.clone(),
            token_hash: token_hash.clone(),
            created_at: self.now(),
            resent: false,
        };
        let cache = &self.ports().cache;
        cache
            .set(&ticket_key(&ticket), &encode(&pending)?, Some(TICKET_TTL))
            .await?;
        cache
            .set(&token_key(&token_hash), ticket.as_bytes(), Some(TICKET_TTL))
            .await?;
        self.send_ip_authorization_email(user, &email, &token, &ip)
            .await?;
        Err(Error::IpAuthorizationRequired {
            ticket,
            email,
            resend_available_in: RESEND_AFTER_SECS as u64,
        })
    }

    async fn send_ip_authorization_email(
        &self,
        user: &User,
        email: &str,
        token: &str,
        ip: &str,
    ) -> Result<()> {
        let link = format!(
            "{}/authorize-ip#token={token}",
            self.config().web_url.trim_end_matches('/')
        );
        self.send_email(super::emails::ip_authorization(
            email,
            &user.username,
            ip,
            &link,
        ))
        .await
    }

    /// `POST /auth/authorize-ip`: the owner approves from the emailed link. The address is
    /// remembered and the login's session opened, for the waiting client to collect.
    pub async fn authorize_ip(&self, token: &str) -> Result<()> {
        if token.is_empty() || token.len() > 128 {
            return Err(invalid_token());
        }
        let cache = &self.ports().cache;
        let token_hash = to_hex(&hash_token(token));
        let ticket = cache
            .get(&token_key(&token_hash))
            .await?
            .and_then(|raw| String::from_utf8(raw).ok())
            .ok_or_else(invalid_token)?;
        let pending: PendingLogin = cache
            .get(&ticket_key(&ticket))
            .await?
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .filter(|p: &PendingLogin| p.token_hash == token_hash)
            .ok_or_else(invalid_token)?;
        // The link works once: whoever removes it first approves.
        if !cache.delete(&token_key(&token_hash)).await? {
            return Err(invalid_token());
        }
        let user = self
            .store()
            .get_user(pending.user_id)
            .await?
            .filter(|u| u.deleted_at.is_none())
            .ok_or(Error::Unknown(Unknown::User))?;
        self.remember_ip(user.id, Some(&pending.ip)).await?;
        self.cancel_account_deletion(&user).await?;
        let client = ClientInfo {
            ip: Some(pending.ip),
            os: pending.os,
            browser: pending.browser,
        };
        let session = self.open_session(user.id, &client).await?;
        let approved = ApprovedLogin {
            token: session,
            user_id: user.id,
        };
        // The result first, then the ticket: a poll in between must not find neither.
        cache
            .set(&result_key(&ticket), &encode(&approved)?, Some(RESULT_TTL))
            .await?;
        cache.delete(&ticket_key(&ticket)).await?;
        Ok(())
    }

    /// `GET /auth/ip-authorization/poll`: whether the login was approved, and then its session.
    pub async fn poll_ip_authorization(&self, ticket: &str) -> Result<IpAuthorizationPoll> {
        if ticket.is_empty() || ticket.len() > 128 {
            return Err(invalid_ticket());
        }
        let cache = &self.ports().cache;
        if let Some(raw) = cache.get(&result_key(ticket)).await? {
            let approved: ApprovedLogin =
                serde_json::from_slice(&raw).map_err(|e| Error::Internal(e.to_string()))?;
            return Ok(IpAuthorizationPoll {
                completed: true,
                token: Some(approved.token),
                user_id: Some(approved.user_id),
            });
        }
        if cache.get(&ticket_key(ticket)).await?.is_none() {
            return Err(invalid_ticket());
        }
        Ok(IpAuthorizationPoll {
            completed: false,
            token: None,
            user_id: None,
        })
    }

    /// `POST /auth/ip-authorization/resend`: the email once more, 30 seconds after the login at
    /// the earliest, and only once.
    pub async fn resend_ip_authorization(&self, ticket: &str) -> Result<()> {
        if ticket.is_empty() || ticket.len() > 128 {
            return Err(invalid_ticket());
        }
        let cache = &self.ports().cache;
        let mut pending: PendingLogin = cache
            .get(&ticket_key(ticket))
            .await?
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(invalid_ticket)?;
        if pending.resent {
            return Err(Error::Throttled {
                code: "IP_AUTHORIZATION_RESEND_LIMIT_EXCEEDED",
                message: "The authorization email was already sent again.".to_owned(),
            });
        }
        let waited_ms = self.now().ms_since(pending.created_at);
        if waited_ms < RESEND_AFTER_SECS * 1000 {
            return Err(Error::TooSoon {
                code: "IP_AUTHORIZATION_RESEND_COOLDOWN",
                message: "Wait before asking for the email again.".to_owned(),
                retry_after_ms: (RESEND_AFTER_SECS * 1000 - waited_ms) as u64,
            });
        }
        let user = self
            .store()
            .get_user(pending.user_id)
            .await?
            .ok_or_else(invalid_ticket)?;
        let email = user.email.clone().ok_or_else(invalid_ticket)?;
        // A new link replaces the old one, whose token was only ever sent by email.
        let token = random_base62(64);
        let token_hash = to_hex(&hash_token(&token));
        // An approval that took the old link first wins: the ticket is done.
        if !cache.delete(&token_key(&pending.token_hash)).await? {
            return Err(invalid_ticket());
        }
        pending.token_hash = token_hash.clone();
        pending.resent = true;
        let left = TICKET_TTL.saturating_sub(Duration::from_millis(waited_ms.max(0) as u64));
        let left = left.max(Duration::from_secs(1));
        cache
            .set(&ticket_key(ticket), &encode(&pending)?, Some(left))
            .await?;
        cache
            .set(&token_key(&token_hash), ticket.as_bytes(), Some(left))
            .await?;
        self.send_ip_authorization_email(&user, &email, &token, &pending.ip)
            .await
    }

    /// `DELETE /users/@me/authorized-ips` (sudo mode): every address must be approved again.
    pub async fn forget_authorized_ips(
        &self,
        actor: &Actor,
        sudo: &super::SudoProof,
    ) -> Result<()> {
        self.require_sudo_proof(actor, sudo).await?;
        let known = self
            .store()
            .list_private_documents(actor.id(), PrivateDocument::AuthorizedIp)
            .await?;
        for (key, _) in known {
            self.store()
                .put_private_document(actor.id(), PrivateDocument::AuthorizedIp, key, None)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::canonical_ip;

    #[test]
    fn addresses_are_compared_in_one_form() {
        assert_eq!(canonical_ip("::ffff:203.0.113.9"), "203.0.113.9");
        assert_eq!(canonical_ip(" 203.0.113.9 "), "203.0.113.9");
        assert_eq!(canonical_ip("2001:DB8::1"), "2001:db8::1");
        assert_eq!(canonical_ip("not an address"), "not an address");
    }
}
