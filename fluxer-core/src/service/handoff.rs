//! Logging in a desktop app through the browser ("handoff", `/auth/handoff/*`), as upstream.
//!
//! The app asks for a code (`XXXX-XXXX`, 5 minutes) and shows it; the user opens the web app, where
//! they are logged in, and types the code there. The web app sends the code with its own session
//! token; the server opens a *new* session for the same account and parks its token under the code.
//! The app polls the code's status and takes the token once: a completed handoff reads as expired
//! afterwards. The state lives in the cache port (shared by every node), as upstream keeps it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Fluxer;
use super::auth::ClientInfo;
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::secret::{hash_token, random_string};
use crate::time::Timestamp;

/// Upstream's alphabet: no `I`, `L`, `O`, `0` or `1`, which people misread.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;
const HANDOFF_TTL_MS: i64 = 5 * 60 * 1000;

/// `POST /auth/handoff/initiate`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffStarted {
    /// The code to show, `XXXX-XXXX`.
    pub code: String,
    /// When it stops working.
    pub expires_at: Timestamp,
}

/// `GET /auth/handoff/{code}/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum HandoffStatus {
    /// Nobody has entered the code yet.
    Pending,
    /// The code was entered: here is the new session, handed out this once.
    Completed {
        /// The new session's token.
        token: String,
        /// Its account.
        user_id: UserId,
    },
    /// Unknown, cancelled, already collected, or past its 5 minutes.
    Expired,
}

/// What the cache keeps while the code waits.
#[derive(Serialize, Deserialize)]
struct PendingHandoff {
    created_at: Timestamp,
}

/// What the cache keeps once the code was entered.
#[derive(Serialize, Deserialize)]
struct CompletedHandoff {
    token: String,
    user_id: UserId,
}

/// Uppercase, without dashes and spaces; `None` unless 8 characters of the alphabet remain.
fn normalize(code: &str) -> Option<String> {
    if code.len() > 32 {
        return None;
    }
    let normalized: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (normalized.len() == CODE_LEN && normalized.bytes().all(|b| CODE_ALPHABET.contains(&b)))
        .then_some(normalized)
}

fn invalid_code() -> Error {
    Error::rejected("INVALID_HANDOFF_CODE", "The handoff code is invalid.")
}

fn pending_key(code: &str) -> String {
    format!("desktop-handoff:{code}")
}

fn completed_key(code: &str) -> String {
    format!("desktop-handoff-token:{code}")
}

fn ttl(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1) as u64)
}

impl Fluxer {
    /// Starts a handoff: a fresh code, valid 5 minutes.
    pub async fn initiate_handoff(&self) -> Result<HandoffStarted> {
        let code = random_string(CODE_ALPHABET, CODE_LEN);
        let now = self.now();
        let pending = serde_json::to_vec(&PendingHandoff { created_at: now })
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.ports()
            .cache
            .set(&pending_key(&code), &pending, Some(ttl(HANDOFF_TTL_MS)))
            .await?;
        Ok(HandoffStarted {
            code: format!("{}-{}", &code[..4], &code[4..]),
            expires_at: now.plus_ms(HANDOFF_TTL_MS),
        })
    }

    /// Enters a code from a logged-in browser: `token` is that browser's session and must belong
    /// to `user_id`. A new session for the same account is parked for the app to collect.
    pub async fn complete_handoff(
        &self,
        code: &str,
        token: &str,
        user_id: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let code = normalize(code).ok_or_else(invalid_code)?;
        let actor = self.authenticate(token).await?;
        if actor.session.is_none() {
            // A bot token cannot log a person in.
            return Err(Error::Unauthorized);
        }
        if actor.id().to_string() != user_id {
            return Err(Error::rejected(
                "SESSION_TOKEN_MISMATCH",
                "The token does not belong to this user.",
            ));
        }
        let cache = &self.ports().cache;
        let pending = cache
            .get(&pending_key(&code))
            .await?
            .and_then(|raw| serde_json::from_slice::<PendingHandoff>(&raw).ok())
            .ok_or_else(invalid_code)?;
        let remaining = HANDOFF_TTL_MS - self.now().ms_since(pending.created_at);
        if remaining <= 0 {
            return Err(Error::rejected(
                "HANDOFF_CODE_EXPIRED",
                "The handoff code has expired.",
            ));
        }
        // Claiming the code first means two browsers entering it cannot both open a session.
        if !cache.delete(&pending_key(&code)).await? {
            return Err(invalid_code());
        }
        let session = self.open_session(actor.id(), client).await?;
        let completed = serde_json::to_vec(&CompletedHandoff {
            token: session,
            user_id: actor.id(),
        })
        .map_err(|e| Error::Internal(e.to_string()))?;
        cache
            .set(&completed_key(&code), &completed, Some(ttl(remaining)))
            .await?;
        Ok(())
    }

    /// Where a code stands. A completed handoff gives its token to the first caller only.
    pub async fn handoff_status(&self, code: &str) -> Result<HandoffStatus> {
        let code = normalize(code).ok_or_else(invalid_code)?;
        let cache = &self.ports().cache;
        if let Some(raw) = cache.get(&completed_key(&code)).await?
            // Whoever deletes the entry owns it; a concurrent poll sees it gone.
            && cache.delete(&completed_key(&code)).await?
        {
            let done: CompletedHandoff =
                serde_json::from_slice(&raw).map_err(|e| Error::Internal(e.to_string()))?;
            return Ok(HandoffStatus::Completed {
                token: done.token,
                user_id: done.user_id,
            });
        }
        if cache.get(&pending_key(&code)).await?.is_some() {
            return Ok(HandoffStatus::Pending);
        }
        Ok(HandoffStatus::Expired)
    }

    /// Cancels a code, entered or not. A session already opened for it and not collected is ended.
    pub async fn cancel_handoff(&self, code: &str) -> Result<()> {
        let code = normalize(code).ok_or_else(invalid_code)?;
        let cache = &self.ports().cache;
        cache.delete(&pending_key(&code)).await?;
        if let Some(raw) = cache.get(&completed_key(&code)).await?
            && cache.delete(&completed_key(&code)).await?
            && let Ok(done) = serde_json::from_slice::<CompletedHandoff>(&raw)
        {
            self.store()
                .delete_session(&hash_token(&done.token))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn codes_are_read_the_way_people_type_them() {
        assert_eq!(normalize("abcd-ef23").as_deref(), Some("ABCDEF23"));
        assert_eq!(normalize(" ABCD EF23 ").as_deref(), Some("ABCDEF23"));
        // O, I, 0 and 1 are not in the alphabet; lengths must match.
        assert_eq!(normalize("ABCD-EFO1"), None);
        assert_eq!(normalize("ABCD-EF2"), None);
        assert_eq!(normalize("ABCD-EF234"), None);
        assert_eq!(normalize(&"A".repeat(100)), None);
    }
}
