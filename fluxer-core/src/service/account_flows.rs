//! Changing one's email address or password with emailed codes, as upstream's clients do it
//! (`/users/@me/email-change/*`, `/users/@me/password-change/*`).
//!
//! **Email**: `start` sends a code to the current address when it is verified (else that step is
//! skipped), `verify-original` proves the code, `request-new` sends a code to the new address,
//! `verify-new` proves it and hands out an `email_token`, and `PATCH /users/@me {email_token}` (with
//! the password, "sudo mode") makes the change. The old address then gets a "this wasn't me" link
//! (`POST /auth/email-revert`, 48 hours) that puts it back with a new password and ends every session.
//!
//! **Password**: `start` sends a code to the account's address, `verify` proves it, `complete` sets
//! the new password and ends every other session. (Upstream ends the caller's too and sends a new
//! token over the gateway, `AUTH_SESSION_CHANGE`; its app hands that token to the gateway only, so
//! the next request logs the user out. Keeping the caller's session, as `PATCH /users/@me
//! {new_password}` does, keeps them in.)
//!
//! Codes are 8 characters (`XXXX-XXXX`, letters and digits), valid 10 minutes, resent no sooner than
//! 30 seconds after the last; each user gets at most 3 codes to the old address and 5 to new ones per
//! 15 minutes (3 + 3 for passwords). One ticket per flow and user is alive at a time (a new `start`
//! replaces it) and for a day at most.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::ClientInfo;
use super::{Actor, ContactChangeReason, Fluxer, SudoProof};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::model::{ActionToken, ActionTokenKind, User};
use crate::ports::PrivateDocument;
use crate::secret::{hash_token, random_base62, random_hex, secrets_equal};
use crate::time::Timestamp;
use crate::validation::{Validator, is_valid_email};

const CODE_TTL_MS: i64 = 10 * 60 * 1000;
const RESEND_AFTER_MS: i64 = 30 * 1000;
const TICKET_TTL_MS: i64 = 24 * 3600 * 1000;
const EMAIL_TOKEN_TTL_MS: i64 = 30 * 60 * 1000;
const REVERT_TTL_SECS: i64 = 48 * 3600;
const CODE_WINDOW: Duration = Duration::from_secs(15 * 60);

/// An email change in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmailTicket {
    ticket: String,
    created_at: Timestamp,
    require_original: bool,
    original_email: Option<String>,
    original_proof: Option<String>,
    original_code: Option<IssuedCode>,
    new_email: Option<String>,
    new_code: Option<IssuedCode>,
    completed: bool,
}

/// What a flow's ticket answers to.
trait Ticket: serde::de::DeserializeOwned {
    fn id(&self) -> &str;
    fn created_at(&self) -> Timestamp;
    fn completed(&self) -> bool;
}

impl Ticket for EmailTicket {
    fn id(&self) -> &str {
        &self.ticket
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn completed(&self) -> bool {
        self.completed
    }
}

impl Ticket for PasswordTicket {
    fn id(&self) -> &str {
        &self.ticket
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
    fn completed(&self) -> bool {
        self.completed
    }
}

/// A code sent by email.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IssuedCode {
    code: String,
    sent_at: Timestamp,
    expires_at: Timestamp,
}

/// A proven new address, waiting for `PATCH /users/@me`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EmailToken {
    token: String,
    new_email: String,
    expires_at: Timestamp,
}

/// A password change in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PasswordTicket {
    ticket: String,
    created_at: Timestamp,
    code: IssuedCode,
    proof: Option<String>,
    completed: bool,
}

/// `POST /users/@me/email-change/start`.
#[derive(Debug, Clone, Serialize)]
pub struct EmailChangeStart {
    /// The flow's ticket.
    pub ticket: String,
    /// Whether the current address must be proven first.
    pub require_original: bool,
    /// The current address.
    pub original_email: Option<String>,
    /// Given at once when the current address need not be proven.
    pub original_proof: Option<String>,
    /// When the code sent to the current address expires.
    pub original_code_expires_at: Option<Timestamp>,
    /// When a code can be sent again.
    pub resend_available_at: Option<Timestamp>,
}

/// `POST /users/@me/email-change/request-new`.
#[derive(Debug, Clone, Serialize)]
pub struct EmailChangeRequested {
    /// The flow's ticket.
    pub ticket: String,
    /// Where the code went.
    pub new_email: String,
    /// When it expires.
    pub new_code_expires_at: Timestamp,
    /// When it can be sent again.
    pub resend_available_at: Timestamp,
}

/// `POST /users/@me/password-change/start`.
#[derive(Debug, Clone, Serialize)]
pub struct PasswordChangeStart {
    /// The flow's ticket.
    pub ticket: String,
    /// When the code expires.
    pub code_expires_at: Timestamp,
    /// When it can be sent again.
    pub resend_available_at: Timestamp,
}

/// 8 random letters and digits as `XXXX-XXXX`.
fn verification_code() -> String {
    let raw = random_base62(64).to_ascii_uppercase();
    let code: String = raw
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect();
    format!("{}-{}", &code[..4], &code[4..])
}

/// A random UUID (v4), the form upstream gives tickets and proofs.
fn uuid() -> String {
    let hex = random_hex(16);
    let (a, rest) = hex.split_at(8);
    let (b, rest) = rest.split_at(4);
    let (_, rest) = rest.split_at(1);
    let (c, rest) = rest.split_at(3);
    let (_, d) = rest.split_at(1);
    let (d, e) = d.split_at(3);
    format!("{a}-{b}-4{c}-a{d}-{e}")
}

fn same(a: &str, b: &str) -> bool {
    secrets_equal(a.trim().as_bytes(), b.trim().as_bytes())
}

fn bad_ticket() -> Error {
    Error::field(
        "ticket",
        "INVALID_OR_EXPIRED_TICKET",
        "This ticket is invalid or has expired.",
    )
}

/// Checks a code against the one issued.
fn check_code(given: &str, issued: Option<&IssuedCode>, now: Timestamp) -> Result<()> {
    let Some(issued) = issued else {
        return Err(Error::field(
            "code",
            "VERIFICATION_CODE_NOT_ISSUED",
            "No code was sent yet.",
        ));
    };
    if issued.expires_at <= now {
        return Err(Error::field(
            "code",
            "VERIFICATION_CODE_EXPIRED",
            "This code has expired. Ask for a new one.",
        ));
    }
    if !same(given, &issued.code) {
        return Err(Error::field(
            "code",
            "INVALID_VERIFICATION_CODE",
            "This code is not right.",
        ));
    }
    Ok(())
}

/// 429 until `sent + 30 s`.
fn cooldown(sent: Option<Timestamp>, now: Timestamp) -> Result<()> {
    match sent {
        Some(at) if now.ms_since(at) < RESEND_AFTER_MS => Err(Error::RateLimited {
            retry_after_ms: (RESEND_AFTER_MS - now.ms_since(at)) as u64,
            global: false,
        }),
        _ => Ok(()),
    }
}

impl Fluxer {
    pub(super) async fn load_doc<T: serde::de::DeserializeOwned>(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
    ) -> Result<Option<T>> {
        let doc = self.store().get_private_document(user, kind, key).await?;
        Ok(doc.and_then(|d| serde_json::from_str(&d).ok()))
    }

    pub(super) async fn save_doc(
        &self,
        user: UserId,
        kind: PrivateDocument,
        key: u64,
        value: Option<&impl Serialize>,
    ) -> Result<()> {
        let data = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        self.store()
            .put_private_document(user, kind, key, data.as_deref())
            .await?;
        Ok(())
    }

    /// At most `max` codes per user and purpose per 15 minutes.
    async fn code_allowance(&self, purpose: &str, user: UserId, max: u64) -> Result<()> {
        let hit = self
            .ports()
            .cache
            .hit(&format!("{purpose}:{user}"), CODE_WINDOW)
            .await?;
        if hit.count > max {
            return Err(Error::RateLimited {
                retry_after_ms: hit.reset_after_ms,
                global: false,
            });
        }
        Ok(())
    }

    async fn email_ticket(&self, user: UserId, ticket: &str) -> Result<EmailTicket> {
        self.live_ticket(user, PrivateDocument::EmailChangeTicket, ticket)
            .await
    }

    /// The user's ticket of this kind, if it is `ticket`, a day old at most and not used yet.
    async fn live_ticket<T: Ticket>(
        &self,
        user: UserId,
        kind: PrivateDocument,
        ticket: &str,
    ) -> Result<T> {
        let found: Option<T> = self.load_doc(user, kind, 0).await?;
        let found = found
            .filter(|t| same(t.id(), ticket))
            .filter(|t| self.now().ms_since(t.created_at()) < TICKET_TTL_MS)
            .ok_or_else(bad_ticket)?;
        if found.completed() {
            return Err(Error::field(
                "ticket",
                "TICKET_ALREADY_COMPLETED",
                "This ticket was already used.",
            ));
        }
        Ok(found)
    }

    async fn save_email_ticket(&self, user: UserId, ticket: &EmailTicket) -> Result<()> {
        self.save_doc(user, PrivateDocument::EmailChangeTicket, 0, Some(ticket))
            .await
    }

    /// Emails a fresh code for `purpose` to `to`: not within 30 s of the `last` one, and within the
    /// user's allowance of codes for that purpose.
    async fn issue_code(
        &self,
        user: &User,
        to: &str,
        purpose: CodePurpose,
        last: Option<&IssuedCode>,
    ) -> Result<IssuedCode> {
        let now = self.now();
        cooldown(last.map(|c| c.sent_at), now)?;
        let (bucket, max) = purpose.allowance();
        self.code_allowance(bucket, user.id, max).await?;
        let code = verification_code();
        self.send_email(super::emails::verification_code(
            to,
            &user.username,
            purpose.subject(),
            purpose.intro(),
            &code,
        ))
        .await?;
        Ok(IssuedCode {
            code,
            sent_at: now,
            expires_at: now.plus_ms(CODE_TTL_MS),
        })
    }

    /// `POST /users/@me/email-change/start`.
    pub async fn start_email_change(&self, actor: &Actor) -> Result<EmailChangeStart> {
        actor.require_person("Bots have no email address.")?;
        let user = &actor.user;
        let unclaimed = user.password_hash.is_none();
        if user.email.is_none() && !unclaimed {
            return Err(Error::field(
                "email",
                "MUST_HAVE_EMAIL_TO_CHANGE_IT",
                "Add an email address first.",
            ));
        }
        let now = self.now();
        let require_original = user.email_verified && user.email.is_some();
        let mut ticket = EmailTicket {
            ticket: uuid(),
            created_at: now,
            require_original,
            original_email: user.email.clone(),
            original_proof: (!require_original).then(uuid),
            original_code: None,
            new_email: None,
            new_code: None,
            completed: false,
        };
        if let (true, Some(email)) = (require_original, &user.email) {
            let issued = self
                .issue_code(user, email, CodePurpose::OriginalEmail, None)
                .await?;
            ticket.original_code = Some(issued);
        }
        self.save_email_ticket(user.id, &ticket).await?;
        Ok(EmailChangeStart {
            ticket: ticket.ticket,
            require_original,
            original_email: ticket.original_email,
            original_proof: ticket.original_proof,
            original_code_expires_at: ticket.original_code.as_ref().map(|c| c.expires_at),
            resend_available_at: ticket
                .original_code
                .as_ref()
                .map(|c| c.sent_at.plus_ms(RESEND_AFTER_MS)),
        })
    }

    /// `POST /users/@me/email-change/resend-original`.
    pub async fn resend_email_change_original(&self, actor: &Actor, ticket: &str) -> Result<()> {
        actor.require_person("Bots have no email address.")?;
        let mut t = self.email_ticket(actor.id(), ticket).await?;
        if !t.require_original || t.original_proof.is_some() {
            return Err(Error::field(
                "ticket",
                "ORIGINAL_EMAIL_ALREADY_VERIFIED",
                "The current address is already proven.",
            ));
        }
        let email = t.original_email.clone().ok_or_else(|| {
            Error::field(
                "ticket",
                "NO_ORIGINAL_EMAIL_ON_RECORD",
                "There is no current address.",
            )
        })?;
        let issued = self
            .issue_code(
                &actor.user,
                &email,
                CodePurpose::OriginalEmail,
                t.original_code.as_ref(),
            )
            .await?;
        t.original_code = Some(issued);
        self.save_email_ticket(actor.id(), &t).await
    }

    /// `POST /users/@me/email-change/verify-original`: the proof that the current address is the
    /// caller's (the same proof again once given).
    pub async fn verify_email_change_original(
        &self,
        actor: &Actor,
        ticket: &str,
        code: &str,
    ) -> Result<String> {
        actor.require_person("Bots have no email address.")?;
        let mut t = self.email_ticket(actor.id(), ticket).await?;
        if !t.require_original {
            return Err(Error::field(
                "ticket",
                "ORIGINAL_VERIFICATION_NOT_REQUIRED",
                "The current address need not be proven.",
            ));
        }
        if let Some(proof) = &t.original_proof {
            return Ok(proof.clone());
        }
        check_code(code, t.original_code.as_ref(), self.now())?;
        let proof = uuid();
        t.original_proof = Some(proof.clone());
        self.save_email_ticket(actor.id(), &t).await?;
        Ok(proof)
    }

    fn check_proof(t: &EmailTicket, proof: &str) -> Result<()> {
        let Some(expected) = &t.original_proof else {
            return Err(Error::field(
                "ticket",
                "ORIGINAL_EMAIL_MUST_BE_VERIFIED_FIRST",
                "Prove the current address first.",
            ));
        };
        if !same(expected, proof) {
            return Err(Error::field(
                "original_proof",
                "INVALID_PROOF_TOKEN",
                "This proof is not right.",
            ));
        }
        Ok(())
    }

    /// `POST /users/@me/email-change/request-new`: sends a code to the new address.
    pub async fn request_email_change_new(
        &self,
        actor: &Actor,
        ticket: &str,
        new_email: &str,
        proof: &str,
    ) -> Result<EmailChangeRequested> {
        actor.require_person("Bots have no email address.")?;
        let mut t = self.email_ticket(actor.id(), ticket).await?;
        Self::check_proof(&t, proof)?;
        let new_email = new_email.trim();
        let mut v = Validator::new();
        v.check(
            !new_email.is_empty(),
            "new_email",
            "EMAIL_IS_REQUIRED",
            "Give the new address.",
        );
        v.check(
            new_email.is_empty() || is_valid_email(new_email),
            "new_email",
            "INVALID_EMAIL_ADDRESS",
            "Not a well formed email address.",
        );
        v.finish()?;
        let lower = new_email.to_lowercase();
        if t.original_email
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case(&lower))
        {
            return Err(Error::field(
                "new_email",
                "NEW_EMAIL_MUST_BE_DIFFERENT",
                "That is the current address.",
            ));
        }
        if self
            .store()
            .find_user_by_email(&lower)
            .await?
            .is_some_and(|u| u.id != actor.id())
        {
            return Err(Error::field(
                "new_email",
                "EMAIL_ALREADY_IN_USE",
                "Another account uses that address.",
            ));
        }
        let issued = self
            .issue_code(
                &actor.user,
                new_email,
                CodePurpose::NewEmail,
                t.new_code.as_ref(),
            )
            .await?;
        let requested = EmailChangeRequested {
            ticket: t.ticket.clone(),
            new_email: new_email.to_owned(),
            new_code_expires_at: issued.expires_at,
            resend_available_at: issued.sent_at.plus_ms(RESEND_AFTER_MS),
        };
        t.new_email = Some(new_email.to_owned());
        t.new_code = Some(issued);
        self.save_email_ticket(actor.id(), &t).await?;
        Ok(requested)
    }

    /// `POST /users/@me/email-change/resend-new`.
    pub async fn resend_email_change_new(&self, actor: &Actor, ticket: &str) -> Result<()> {
        actor.require_person("Bots have no email address.")?;
        let mut t = self.email_ticket(actor.id(), ticket).await?;
        let email = t.new_email.clone().ok_or_else(|| {
            Error::field(
                "ticket",
                "NO_NEW_EMAIL_REQUESTED",
                "No new address was given yet.",
            )
        })?;
        let issued = self
            .issue_code(
                &actor.user,
                &email,
                CodePurpose::NewEmail,
                t.new_code.as_ref(),
            )
            .await?;
        t.new_code = Some(issued);
        self.save_email_ticket(actor.id(), &t).await
    }

    /// `POST /users/@me/email-change/verify-new`: the `email_token` that `PATCH /users/@me` takes
    /// (valid 30 minutes, once).
    pub async fn verify_email_change_new(
        &self,
        actor: &Actor,
        ticket: &str,
        code: &str,
        proof: &str,
    ) -> Result<String> {
        actor.require_person("Bots have no email address.")?;
        let mut t = self.email_ticket(actor.id(), ticket).await?;
        Self::check_proof(&t, proof)?;
        let now = self.now();
        check_code(code, t.new_code.as_ref(), now)?;
        let new_email = t.new_email.clone().ok_or_else(bad_ticket)?;
        t.completed = true;
        self.save_email_ticket(actor.id(), &t).await?;
        let token = EmailToken {
            token: uuid(),
            new_email,
            expires_at: now.plus_ms(EMAIL_TOKEN_TTL_MS),
        };
        self.save_doc(
            actor.id(),
            PrivateDocument::EmailChangeToken,
            0,
            Some(&token),
        )
        .await?;
        Ok(token.token)
    }

    /// The new address an `email_token` proves (used once).
    pub(crate) async fn take_email_token(&self, user: UserId, token: &str) -> Result<String> {
        let found: Option<EmailToken> = self
            .load_doc(user, PrivateDocument::EmailChangeToken, 0)
            .await?;
        let found = found.filter(|t| same(&t.token, token)).ok_or_else(|| {
            Error::field(
                "email_token",
                "INVALID_EMAIL_TOKEN",
                "This email token is not valid.",
            )
        })?;
        self.save_doc(
            user,
            PrivateDocument::EmailChangeToken,
            0,
            None::<&EmailToken>,
        )
        .await?;
        if found.expires_at <= self.now() {
            return Err(Error::field(
                "email_token",
                "EMAIL_TOKEN_EXPIRED",
                "This email token has expired.",
            ));
        }
        Ok(found.new_email)
    }

    /// After an address changed: a "this wasn't me" link to the old one, valid 48 hours.
    pub(crate) async fn send_email_revert(&self, user: &User, old_email: &str, new_email: &str) {
        let token = random_base62(64);
        let hash = hash_token(&token);
        let saved = async {
            self.store()
                .create_action_token(&ActionToken {
                    kind: ActionTokenKind::EmailRevert,
                    token_hash: hash,
                    user_id: user.id,
                    expires_at: self.now().plus_secs(REVERT_TTL_SECS),
                })
                .await?;
            self.save_doc(
                user.id,
                PrivateDocument::EmailRevert,
                revert_key(&hash),
                Some(&json!({ "email": old_email })),
            )
            .await?;
            let link = format!(
                "{}/wasntme#token={token}",
                self.config().web_url.trim_end_matches('/')
            );
            self.send_email(super::emails::email_change_revert(
                old_email,
                &user.username,
                new_email,
                &link,
            ))
            .await
        };
        // Best effort: the change stands even when the notice cannot be sent.
        let _ = saved.await;
    }

    /// `POST /auth/email-revert`: puts the old address back, sets a new password, turns two-factor
    /// off and ends every session; a new session for the caller.
    pub async fn revert_email_change(
        &self,
        token: &str,
        password: &str,
        client: ClientInfo,
    ) -> Result<(UserId, String)> {
        let invalid = || {
            Error::field(
                "token",
                "INVALID_OR_EXPIRED_REVERT_TOKEN",
                "This link is invalid or has expired.",
            )
        };
        let mut v = Validator::new();
        v.length("password", password, 8, 256);
        v.finish()?;
        if token.len() != 64 {
            return Err(invalid());
        }
        let hash = hash_token(token);
        let found = self
            .store()
            .take_action_token(ActionTokenKind::EmailRevert, &hash, self.now())
            .await?
            .ok_or_else(invalid)?;
        let old: Option<serde_json::Value> = self
            .load_doc(
                found.user_id,
                PrivateDocument::EmailRevert,
                revert_key(&hash),
            )
            .await?;
        self.save_doc(
            found.user_id,
            PrivateDocument::EmailRevert,
            revert_key(&hash),
            None::<&()>,
        )
        .await?;
        let old_email = old
            .as_ref()
            .and_then(|o| o["email"].as_str())
            .ok_or_else(invalid)?
            .to_lowercase();
        let mut user = self
            .store()
            .get_user(found.user_id)
            .await?
            .ok_or_else(invalid)?;
        if user.bot || user.deleted_at.is_some() {
            return Err(invalid());
        }
        let before = user.clone();
        user.email = Some(old_email);
        user.email_verified = true;
        user.totp_secret = None;
        user.password_hash = Some(self.ports().hasher.hash(password).await?);
        user.password_changed_at = Some(self.now());
        self.store_user_with_new_email(&user, "token").await?;
        self.record_contact_changes(
            &before,
            &user,
            ContactChangeReason::UserRequested,
            Some(user.id),
        )
        .await?;
        self.drop_backup_codes(user.id).await?;
        self.end_sessions(user.id, None).await?;
        self.emit_user_update(&user).await;
        // Proving the old address vouches for where the owner is, as upstream counts it.
        self.remember_ip(user.id, client.ip.as_deref()).await?;
        let token = self.open_session(user.id, &client).await?;
        Ok((user.id, token))
    }

    /// "Sudo mode": the caller proves who they are again, with a current two-factor code when
    /// two-factor authentication is on, else with the password (an account without one passes).
    pub(crate) async fn require_sudo(
        &self,
        actor: &Actor,
        password: Option<&str>,
        mfa_code: Option<&str>,
    ) -> Result<()> {
        self.require_sudo_proof(actor, &SudoProof::password_or_code(password, mfa_code))
            .await
    }

    /// "Sudo mode" with any proof upstream takes: with a second factor on, a TOTP or backup code
    /// or a WebAuthn assertion (the password is not enough); without one, the password (an
    /// account without one passes).
    pub(crate) async fn require_sudo_proof(&self, actor: &Actor, proof: &SudoProof) -> Result<()> {
        let user = &actor.user;
        if !proof.is_empty() {
            // Against guessing with a stolen session: 10 tries per 15 minutes.
            self.code_allowance("sudo", user.id, 10).await?;
        }
        let wrong_factor =
            || Error::field("mfa_code", "INVALID_MFA_CODE", "Invalid two-factor code.");
        if user.mfa_enabled() {
            if proof.offers_webauthn() {
                let (Some(response), Some(challenge)) =
                    (&proof.webauthn_response, &proof.webauthn_challenge)
                else {
                    return Err(wrong_factor());
                };
                if !user.webauthn {
                    return Err(wrong_factor());
                }
                return match self
                    .verify_sudo_webauthn(user.id, response, challenge)
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(e) if e.is_client_error() => Err(wrong_factor()),
                    Err(e) => Err(e),
                };
            }
            let Some(code) = proof.mfa_code.as_deref() else {
                return Err(Error::SudoRequired { has_mfa: true });
            };
            let Some(secret) = &user.totp_secret else {
                return Err(wrong_factor());
            };
            if super::totp::verify(secret, code.trim(), self.now().unix_secs())
                || self.consume_backup_code(user.id, code).await?
            {
                return Ok(());
            }
            return Err(wrong_factor());
        }
        let Some(hash) = &user.password_hash else {
            return Ok(());
        };
        let Some(password) = proof.password.as_deref() else {
            return Err(Error::SudoRequired { has_mfa: false });
        };
        if self.ports().hasher.verify(password, hash).await? {
            Ok(())
        } else {
            Err(Error::field(
                "password",
                "INVALID_PASSWORD",
                "Password is incorrect.",
            ))
        }
    }

    async fn password_ticket(&self, user: UserId, ticket: &str) -> Result<PasswordTicket> {
        self.live_ticket(user, PrivateDocument::PasswordChangeTicket, ticket)
            .await
    }

    /// `POST /users/@me/password-change/start`: a code to the account's address.
    pub async fn start_password_change(&self, actor: &Actor) -> Result<PasswordChangeStart> {
        actor.require_person("Bots have no password.")?;
        let email = actor.user.email.clone().ok_or_else(|| {
            Error::field(
                "email",
                "MUST_HAVE_EMAIL_TO_CHANGE_IT",
                "Add an email address first.",
            )
        })?;
        let code = self
            .issue_code(&actor.user, &email, CodePurpose::Password, None)
            .await?;
        let ticket = PasswordTicket {
            ticket: uuid(),
            created_at: code.sent_at,
            code,
            proof: None,
            completed: false,
        };
        self.save_doc(
            actor.id(),
            PrivateDocument::PasswordChangeTicket,
            0,
            Some(&ticket),
        )
        .await?;
        Ok(PasswordChangeStart {
            ticket: ticket.ticket,
            code_expires_at: ticket.code.expires_at,
            resend_available_at: ticket.code.sent_at.plus_ms(RESEND_AFTER_MS),
        })
    }

    /// `POST /users/@me/password-change/resend`.
    pub async fn resend_password_change(&self, actor: &Actor, ticket: &str) -> Result<()> {
        actor.require_person("Bots have no password.")?;
        let mut t = self.password_ticket(actor.id(), ticket).await?;
        let email = actor.user.email.clone().ok_or_else(bad_ticket)?;
        t.code = self
            .issue_code(
                &actor.user,
                &email,
                CodePurpose::PasswordAgain,
                Some(&t.code),
            )
            .await?;
        self.save_doc(
            actor.id(),
            PrivateDocument::PasswordChangeTicket,
            0,
            Some(&t),
        )
        .await
    }

    /// `POST /users/@me/password-change/verify`: the proof `complete` takes (the same again once
    /// given).
    pub async fn verify_password_change(
        &self,
        actor: &Actor,
        ticket: &str,
        code: &str,
    ) -> Result<String> {
        actor.require_person("Bots have no password.")?;
        let mut t = self.password_ticket(actor.id(), ticket).await?;
        if let Some(proof) = &t.proof {
            return Ok(proof.clone());
        }
        check_code(code, Some(&t.code), self.now())?;
        let proof = uuid();
        t.proof = Some(proof.clone());
        self.save_doc(
            actor.id(),
            PrivateDocument::PasswordChangeTicket,
            0,
            Some(&t),
        )
        .await?;
        Ok(proof)
    }

    /// `POST /users/@me/password-change/complete`: sets the password and ends every other session
    /// (here and on the gateway); the caller's stays.
    pub async fn complete_password_change(
        &self,
        actor: &Actor,
        ticket: &str,
        proof: &str,
        new_password: &str,
    ) -> Result<()> {
        actor.require_person("Bots have no password.")?;
        let mut v = Validator::new();
        v.length("new_password", new_password, 8, 256);
        v.finish()?;
        let mut t = self.password_ticket(actor.id(), ticket).await?;
        if !t.proof.as_deref().is_some_and(|p| same(p, proof)) {
            return Err(Error::field(
                "verification_proof",
                "INVALID_PROOF_TOKEN",
                "Verify the code first.",
            ));
        }
        t.completed = true;
        self.save_doc(
            actor.id(),
            PrivateDocument::PasswordChangeTicket,
            0,
            Some(&t),
        )
        .await?;
        let mut user = self
            .store()
            .get_user(actor.id())
            .await?
            .ok_or_else(bad_ticket)?;
        user.password_hash = Some(self.ports().hasher.hash(new_password).await?);
        user.password_changed_at = Some(self.now());
        self.store().update_user(&user).await?;
        self.end_sessions(user.id, actor.session.as_ref()).await?;
        Ok(())
    }

    /// `GET /users/@me/sudo/mfa-methods`: which second factors sudo mode accepts from the caller.
    pub fn sudo_mfa_methods(&self, actor: &Actor) -> serde_json::Value {
        let user = &actor.user;
        json!({
            "totp": user.totp_enabled(),
            "sms": false,
            "webauthn": user.webauthn,
            "has_mfa": user.mfa_enabled(),
        })
    }
}

fn revert_key(hash: &[u8; 32]) -> u64 {
    u64::from_be_bytes(hash[..8].try_into().unwrap_or_default())
}

/// Which code an email carries.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CodePurpose {
    OriginalEmail,
    NewEmail,
    Password,
    /// A password change's code sent again (its own allowance).
    PasswordAgain,
}

impl CodePurpose {
    /// The rate-limit bucket and how many codes it allows per 15 minutes (upstream's).
    fn allowance(self) -> (&'static str, u64) {
        match self {
            CodePurpose::OriginalEmail => ("email_change:orig", 3),
            CodePurpose::NewEmail => ("email_change:new", 5),
            CodePurpose::Password => ("password_change:start", 3),
            CodePurpose::PasswordAgain => ("password_change:resend", 3),
        }
    }

    fn subject(self) -> &'static str {
        match self {
            CodePurpose::OriginalEmail => "Confirm your Fluxer email change",
            CodePurpose::NewEmail => "Verify your new Fluxer email",
            CodePurpose::Password | CodePurpose::PasswordAgain => {
                "Confirm your Fluxer password change"
            }
        }
    }

    fn intro(self) -> &'static str {
        match self {
            CodePurpose::OriginalEmail => {
                "Someone asked to change the email address of your account. Enter this code to confirm it was you."
            }
            CodePurpose::NewEmail => {
                "Enter this code to confirm this address for your Fluxer account."
            }
            CodePurpose::Password | CodePurpose::PasswordAgain => {
                "Someone asked to change the password of your account. Enter this code to confirm it was you."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_uuids_have_their_shapes() {
        let code = verification_code();
        assert_eq!(code.len(), 9);
        assert_eq!(&code[4..5], "-");
        assert!(
            code.chars()
                .all(|c| c == '-' || c.is_ascii_uppercase() || c.is_ascii_digit())
        );
        assert_ne!(verification_code(), verification_code());
        let id = uuid();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
    }

    #[test]
    fn codes_are_checked_for_issue_expiry_and_value() {
        let now = Timestamp::from_unix_ms(1_000_000);
        let issued = |expires_at: Timestamp| IssuedCode {
            code: "ABCD-1234".to_owned(),
            sent_at: now,
            expires_at,
        };
        let code = |e: Error| match e {
            Error::InvalidForm(errs) => errs[0].code,
            other => panic!("{other:?}"),
        };
        let live = issued(now.plus_ms(1));
        assert!(check_code(" ABCD-1234 ", Some(&live), now).is_ok());
        assert_eq!(
            code(check_code("x", None, now).unwrap_err()),
            "VERIFICATION_CODE_NOT_ISSUED"
        );
        assert_eq!(
            code(check_code("ABCD-1234", Some(&issued(now)), now).unwrap_err()),
            "VERIFICATION_CODE_EXPIRED"
        );
        assert_eq!(
            code(check_code("abcd-1234", Some(&live), now).unwrap_err()),
            "INVALID_VERIFICATION_CODE"
        );
        assert!(cooldown(Some(now.plus_ms(-29_000)), now).is_err());
        assert!(cooldown(Some(now.plus_ms(-30_000)), now).is_ok());
    }
}

/// `POST /users/@me/email-change/bounced/request-new`.
#[derive(Debug, Clone, Serialize)]
pub struct BouncedEmailRequested {
    /// The flow's ticket, for `resend-new` and `verify-new`.
    pub ticket: String,
    /// Where the code went.
    pub new_email: String,
    /// When it expires.
    pub new_code_expires_at: Timestamp,
    /// When it can be sent again.
    pub resend_available_at: Timestamp,
}

impl Fluxer {
    /// Stores a user whose address changed; another account holding the address by then is
    /// `EMAIL_ALREADY_IN_USE` on the field `path`.
    async fn store_user_with_new_email(&self, user: &User, path: &str) -> Result<()> {
        match self.store().update_user(user).await {
            Ok(()) => Ok(()),
            Err(e) if crate::ports::is_conflict(&e, crate::ports::conflict::USER_EMAIL) => {
                Err(Error::field(
                    path,
                    "EMAIL_ALREADY_IN_USE",
                    "Another account uses that address.",
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// When mail to a user's address is refused for good: the account is marked so its owner can
    /// replace the address without proving the dead one.
    pub(crate) async fn mark_email_bounced(&self, email: &str) -> Result<()> {
        let Some(mut user) = self
            .store()
            .find_user_by_email(&email.trim().to_lowercase())
            .await?
        else {
            return Ok(());
        };
        if user.email_bounced {
            return Ok(());
        }
        user.email_bounced = true;
        self.store().update_user(&user).await?;
        self.emit_user_update(&user).await;
        Ok(())
    }

    /// Only an account whose address bounced may replace it this way (403 `ACCESS_DENIED`).
    fn require_bounced(actor: &Actor) -> Result<()> {
        actor.require_person("Bots have no email address.")?;
        if !actor.user.email_bounced {
            return Err(Error::forbidden(
                "ACCESS_DENIED",
                "Your email address has not bounced.",
            ));
        }
        if actor.user.email.is_none() {
            return Err(Error::field(
                "email",
                "MUST_HAVE_EMAIL_TO_CHANGE_IT",
                "Add an email address first.",
            ));
        }
        Ok(())
    }

    /// `POST /users/@me/email-change/bounced/request-new`: a code to the replacement address; the
    /// bounced one is not asked to prove anything (mail to it cannot arrive).
    pub async fn request_bounced_email_replacement(
        &self,
        actor: &Actor,
        new_email: &str,
    ) -> Result<BouncedEmailRequested> {
        Self::require_bounced(actor)?;
        let proof = uuid();
        let ticket = EmailTicket {
            ticket: uuid(),
            created_at: self.now(),
            require_original: false,
            original_email: actor.user.email.clone(),
            original_proof: Some(proof.clone()),
            original_code: None,
            new_email: None,
            new_code: None,
            completed: false,
        };
        self.save_email_ticket(actor.id(), &ticket).await?;
        let requested = self
            .request_email_change_new(actor, &ticket.ticket, new_email, &proof)
            .await?;
        Ok(BouncedEmailRequested {
            ticket: requested.ticket,
            new_email: requested.new_email,
            new_code_expires_at: requested.new_code_expires_at,
            resend_available_at: requested.resend_available_at,
        })
    }

    /// `POST /users/@me/email-change/bounced/resend-new`.
    pub async fn resend_bounced_email_replacement(
        &self,
        actor: &Actor,
        ticket: &str,
    ) -> Result<()> {
        Self::require_bounced(actor)?;
        self.resend_email_change_new(actor, ticket).await
    }

    /// `POST /users/@me/email-change/bounced/verify-new`: the code proves the new address, which
    /// replaces the bounced one at once, verified.
    pub async fn verify_bounced_email_replacement(
        &self,
        actor: &Actor,
        ticket: &str,
        code: &str,
    ) -> Result<User> {
        Self::require_bounced(actor)?;
        let proof = self
            .email_ticket(actor.id(), ticket)
            .await?
            .original_proof
            .ok_or_else(bad_ticket)?;
        let token = self
            .verify_email_change_new(actor, ticket, code, &proof)
            .await?;
        let new_email = self.take_email_token(actor.id(), &token).await?;
        let mut user = actor.user.clone();
        user.email = Some(new_email.to_lowercase());
        user.email_verified = true;
        user.email_bounced = false;
        self.store_user_with_new_email(&user, "new_email").await?;
        self.record_contact_changes(
            &actor.user,
            &user,
            ContactChangeReason::UserRequested,
            Some(actor.id()),
        )
        .await?;
        self.emit_user_update(&user).await;
        self.index_user_later(user.id).await;
        Ok(user)
    }
}
