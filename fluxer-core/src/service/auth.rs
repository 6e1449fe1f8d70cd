//! Registration, login (with TOTP second factor), sessions, email verification and password reset.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Unknown};
use crate::id::UserId;
use crate::model::{ActionToken, ActionTokenKind, AuthSession, User};
use crate::ports::{Dispatch, EventKind, SessionsRevoked, Topic, conflict, is_conflict};
use crate::validation::{Validator, is_valid_email, is_valid_username};

use super::tokens::{BotToken, SessionToken, hash_token, random_base62, secrets_equal};
use super::{Actor, Fluxer, totp};

const SESSION_TOUCH_INTERVAL_MS: i64 = 5 * 60 * 1000;
const VERIFY_EMAIL_TTL_SECS: i64 = 24 * 3600;
const RESET_PASSWORD_TTL_SECS: i64 = 3600;
const MFA_TICKET_TTL_SECS: i64 = 5 * 60;

/// `POST /auth/register`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegisterRequest {
    /// Required. Trimmed and lowercased; must be well formed (at most 254 bytes) and not registered
    /// yet (`EMAIL_ALREADY_REGISTERED`).
    pub email: Option<String>,
    /// 1 to 32 of letters, digits, `_` and `.`. Absent: derived from `global_name`, else from the
    /// email's local part. A random free discriminator goes with it.
    pub username: Option<String>,
    /// Display name, 1 to 32 characters.
    pub global_name: Option<String>,
    /// Required, 8 to 256 characters.
    pub password: Option<String>,
    /// `YYYY-MM-DD`, a real day from 1900 on, at least 13 years ago (`DATE_OF_BIRTH_TOO_YOUNG`).
    /// Optional.
    pub date_of_birth: Option<String>,
    /// Agreement to the terms: an explicit `false` is refused; absent is accepted.
    #[serde(default)]
    pub consent: Option<bool>,
    /// An invite code, required when the instance is invite-only.
    #[serde(default)]
    pub invite_code: Option<String>,
    /// Client details recorded on the session.
    #[serde(skip)]
    pub client: ClientInfo,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoginRequest {
    /// The account's email; trimmed and lowercased before the lookup.
    pub email: String,
    /// The password. A wrong password and an unknown email fail alike (`INVALID_CREDENTIALS`).
    pub password: String,
    /// Client details recorded on the session.
    #[serde(skip)]
    pub client: ClientInfo,
}

/// Where a session was opened from.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    /// The client's IP address, when the host knows it.
    pub ip: Option<String>,
    /// The operating system, as guessed from the user agent.
    pub os: Option<String>,
    /// The browser or library, as guessed from the user agent.
    pub browser: Option<String>,
}

/// The result of a login: a session, or a second factor to provide.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum LoginOutcome {
    /// Logged in: a new session.
    Session {
        /// The session token, for the `Authorization` header.
        token: String,
        /// The account that logged in.
        user_id: UserId,
    },
    /// The password was right but the account has a second factor: finish with
    /// `POST /auth/login/mfa/totp` or `POST /auth/login/mfa/webauthn`.
    Mfa {
        /// Always `true`.
        mfa: bool,
        /// One-time ticket to send back with the TOTP code; expires after 5 minutes.
        ticket: String,
        /// The second factors accepted: `totp`, `webauthn`.
        allowed_methods: Vec<&'static str>,
        /// Always `false`: SMS codes are not supported.
        sms: bool,
        /// Whether a TOTP (or backup) code is accepted.
        totp: bool,
        /// Whether a WebAuthn assertion is accepted.
        webauthn: bool,
    },
}

/// A session as listed in `GET /auth/sessions`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionInfo {
    /// The session's public handle (hex of the first 16 bytes of the token hash), for
    /// `POST /auth/sessions/logout`.
    pub id_hash: String,
    /// `{ "platform", "os", "browser", "location" }`; `platform` repeats `os` and `location` is
    /// always null.
    pub client_info: serde_json::Value,
    /// When the session was last used, updated at most every 5 minutes.
    pub approx_last_used_at: crate::time::Timestamp,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// A fresh TOTP secret for the client to show as a QR code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TotpSetup {
    /// The base32 secret to enter into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/Fluxer:{username}?secret=...&issuer=Fluxer`, for a QR code.
    pub uri: String,
}

/// Upstream's default minimum age to hold an account.
const MINIMUM_AGE: i32 = 13;

/// A date of birth is `YYYY-MM-DD`, a real calendar day, and at least [`MINIMUM_AGE`] years before
/// `today` (upstream's rule and message).
pub(crate) fn validate_date_of_birth(v: &mut Validator, dob: &str, today: time::Date) {
    let parts: Vec<&str> = dob.split('-').collect();
    let date = match parts[..] {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            let (y, m, d) = if digits(y) && digits(m) && digits(d) {
                (
                    y.parse::<i32>().ok(),
                    m.parse::<u8>().ok(),
                    d.parse::<u8>().ok(),
                )
            } else {
                (None, None, None)
            };
            match (y, m, d) {
                (Some(y), Some(m), Some(d)) => time::Month::try_from(m)
                    .ok()
                    .and_then(|m| time::Date::from_calendar_date(y, m, d).ok()),
                _ => None,
            }
        }
        _ => None,
    };
    let Some(date) = date.filter(|d| d.year() >= 1900) else {
        v.error(
            "date_of_birth",
            "INVALID_DATE_OF_BIRTH_FORMAT",
            "Not a valid date (YYYY-MM-DD).",
        );
        return;
    };
    let mut age = today.year() - date.year();
    if (today.month() as u8, today.day()) < (date.month() as u8, date.day()) {
        age -= 1;
    }
    if age < MINIMUM_AGE {
        v.error(
            "date_of_birth",
            "DATE_OF_BIRTH_TOO_YOUNG",
            format!("You must be at least {MINIMUM_AGE} years old to create an account"),
        );
    }
}

fn validate_password(v: &mut Validator, path: &str, password: &str) {
    v.length(path, password, 8, 256);
}

impl Fluxer {
    /// Creates an account and opens its first session.
    pub async fn register(&self, req: RegisterRequest) -> Result<LoginOutcome> {
        self.require_local_auth().await?;
        let mut v = Validator::new();
        let email = req.email.as_deref().map(|e| e.trim().to_lowercase());
        match &email {
            Some(e) if !is_valid_email(e) => v.error(
                "email",
                "EMAIL_TYPE_INVALID_EMAIL",
                "Not a well formed email address.",
            ),
            None => v.error("email", "BASE_TYPE_REQUIRED", "This field is required."),
            _ => {}
        }
        match &req.password {
            Some(p) => validate_password(&mut v, "password", p),
            None => v.error("password", "BASE_TYPE_REQUIRED", "This field is required."),
        }
        if let Some(u) = &req.username
            && !is_valid_username(u)
        {
            v.error(
                "username",
                "USERNAME_INVALID_CHARACTERS",
                "Usernames may use letters, numbers, _ and . (1-32).",
            );
        }
        v.opt_length("global_name", req.global_name.as_deref(), 1, 32);
        if let Some(dob) = &req.date_of_birth {
            let today = time::OffsetDateTime::from_unix_timestamp(self.now().unix_secs())
                .map_or(time::Date::MIN, |t| t.date());
            validate_date_of_birth(&mut v, dob, today);
        }
        if req.consent == Some(false) {
            v.error(
                "consent",
                "BASE_TYPE_REQUIRED",
                "You must agree to the terms.",
            );
        }
        v.finish()?;
        let (Some(email), Some(password)) = (email, req.password) else {
            return Err(Error::Internal("validated fields missing".into()));
        };
        self.check_registration(&email, req.invite_code.as_deref())
            .await?;
        let username = req
            .username
            .clone()
            .unwrap_or_else(|| derive_username(req.global_name.as_deref().unwrap_or(&email)));
        if self.store().find_user_by_email(&email).await?.is_some() {
            return Err(Error::field(
                "email",
                "EMAIL_ALREADY_REGISTERED",
                "Email is already registered.",
            ));
        }
        let password_hash = self.ports().hasher.hash(&password).await?;
        let user = User {
            global_name: req.global_name.clone(),
            password_hash: Some(password_hash),
            date_of_birth: req.date_of_birth.clone(),
            pending_review: self.manual_review_active().await?,
            ..User::new(
                self.user_id_for_registration(&email).await?,
                username,
                Some(email.clone()),
            )
        };
        let user = self.insert_user_with_free_discriminator(user).await?;
        self.index_user_later(user.id).await;
        self.send_verification_email(&user, false).await?;
        self.remember_ip(user.id, req.client.ip.as_deref()).await?;
        let token = self.open_session(user.id, &req.client).await?;
        Ok(LoginOutcome::Session {
            token,
            user_id: user.id,
        })
    }

    /// Creates a staff account with a verified email, for an operator bootstrapping an instance.
    pub async fn create_operator(
        &self,
        email: &str,
        username: &str,
        password: &str,
    ) -> Result<User> {
        let email = email.trim().to_lowercase();
        let mut v = Validator::new();
        v.check(
            is_valid_email(&email),
            "email",
            "EMAIL_TYPE_INVALID_EMAIL",
            "Not a well formed email address.",
        );
        v.check(
            is_valid_username(username),
            "username",
            "USERNAME_INVALID_CHARACTERS",
            "Usernames may use letters, numbers, _ and . (1-32).",
        );
        validate_password(&mut v, "password", password);
        v.finish()?;
        let user = User {
            flags: crate::model::STAFF_FLAG,
            // Every admin ACL: the operator's first account grants the others theirs.
            acls: vec![crate::model::acl::WILDCARD.to_owned()],
            email_verified: true,
            password_hash: Some(self.ports().hasher.hash(password).await?),
            ..User::new(self.next_id(), username.to_owned(), Some(email))
        };
        self.insert_user_with_free_discriminator(user).await
    }

    /// Inserts a user, picking a random free discriminator for its username.
    pub(crate) async fn insert_user_with_free_discriminator(&self, mut user: User) -> Result<User> {
        for attempt in 0..32u32 {
            user.discriminator = random_discriminator(attempt);
            match self.store().create_user(&user).await {
                Ok(()) => return Ok(user),
                Err(e) if is_conflict(&e, conflict::USER_TAG) => continue,
                Err(e) if is_conflict(&e, conflict::USER_EMAIL) => {
                    return Err(Error::field(
                        "email",
                        "EMAIL_ALREADY_REGISTERED",
                        "Email is already registered.",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::field(
            "username",
            "USERNAME_TOO_MANY_USERS",
            "Too many users have this username.",
        ))
    }

    /// Checks email and password; opens a session or asks for the second factor.
    pub async fn login(&self, req: LoginRequest) -> Result<LoginOutcome> {
        self.require_local_auth().await?;
        let email = req.email.trim().to_lowercase();
        let user = self.store().find_user_by_email(&email).await?;
        let Some(user) = user.filter(|u| u.deleted_at.is_none()) else {
            // Spend the same time as a real check so timing does not reveal which emails exist.
            let _ = self.ports().hasher.hash(&req.password).await;
            return Err(Error::InvalidCredentials);
        };
        let Some(phc) = &user.password_hash else {
            return Err(Error::InvalidCredentials);
        };
        if !self.ports().hasher.verify(&req.password, phc).await? {
            return Err(Error::InvalidCredentials);
        }
        self.check_account_standing(&user).await?;
        self.check_login_ip(&user, &req.client).await?;
        if user.mfa_enabled() {
            let ticket = self
                .issue_action_token(ActionTokenKind::MfaTicket, user.id, MFA_TICKET_TTL_SECS)
                .await?;
            let mut allowed_methods = Vec::new();
            if user.totp_enabled() {
                allowed_methods.push("totp");
            }
            if user.webauthn {
                allowed_methods.push("webauthn");
            }
            return Ok(LoginOutcome::Mfa {
                mfa: true,
                ticket,
                allowed_methods,
                sms: false,
                totp: user.totp_enabled(),
                webauthn: user.webauthn,
            });
        }
        self.cancel_account_deletion(&user).await?;
        let token = self.open_session(user.id, &req.client).await?;
        Ok(LoginOutcome::Session {
            token,
            user_id: user.id,
        })
    }

    /// Completes a login with a TOTP code and the ticket `login` returned.
    pub async fn login_totp(
        &self,
        ticket: &str,
        code: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome> {
        self.require_local_auth().await?;
        let token = self
            .store()
            .take_action_token(ActionTokenKind::MfaTicket, &hash_token(ticket), self.now())
            .await?
            .ok_or_else(|| {
                Error::field(
                    "ticket",
                    "INVALID_MFA_TICKET",
                    "The login ticket is invalid or expired.",
                )
            })?;
        let user = self
            .store()
            .get_user(token.user_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        let secret = user.totp_secret.as_deref().ok_or(Error::InvalidMfaCode)?;
        if !totp::verify(secret, code, self.now().unix_secs())
            && !self.consume_backup_code(user.id, code).await?
        {
            return Err(Error::InvalidMfaCode);
        }
        self.cancel_account_deletion(&user).await?;
        let token = self.open_session(user.id, &client).await?;
        Ok(LoginOutcome::Session {
            token,
            user_id: user.id,
        })
    }

    pub(crate) async fn open_session(&self, user: UserId, client: &ClientInfo) -> Result<String> {
        // Every way in (password, second factor, passkey, SSO) ends here: staff bans hold for all.
        let account = self
            .store()
            .get_user(user)
            .await?
            .ok_or(Error::Unauthorized)?;
        self.check_account_standing(&account).await?;
        let token = SessionToken::generate();
        let now = self.now();
        self.store()
            .create_session(&AuthSession {
                token_hash: hash_token(&token.0),
                user_id: user,
                created_at: now,
                last_used_at: now,
                client_os: client.os.clone(),
                client_browser: client.browser.clone(),
                client_ip: client.ip.clone(),
            })
            .await?;
        // Keep the newest sessions within the limit.
        let sessions = self.store().list_sessions(user).await?;
        let excess = sessions
            .len()
            .saturating_sub(self.limits().await?.sessions_per_user);
        for old in sessions.iter().take(excess) {
            self.store().delete_session(&old.token_hash).await?;
        }
        Ok(token.0)
    }

    /// Resolves an `Authorization` header value: a bare session token, `Bot <token>`, or
    /// `Bearer <token>` (an OAuth2 access token, whose actor carries its scopes).
    pub async fn authenticate(&self, header: &str) -> Result<Actor> {
        if header.len() > 512 || header != header.trim() || header.is_empty() {
            return Err(Error::Unauthorized);
        }
        if let Some(raw) = header.strip_prefix("Bot ") {
            return self.authenticate_bot(raw).await;
        }
        if let Some(raw) = header.strip_prefix("Bearer ") {
            return self.authenticate_bearer(raw).await;
        }
        if !SessionToken::looks_valid(header) {
            // Tolerate a bot token sent bare (some libraries omit the prefix on the gateway).
            if BotToken::parse(header).is_some() {
                return self.authenticate_bot(header).await;
            }
            return Err(Error::Unauthorized);
        }
        self.authenticate_session(header).await
    }

    /// Resolves a login session token (`flx_...`), touching the session now and then.
    pub(crate) async fn authenticate_session(&self, token: &str) -> Result<Actor> {
        let hash = hash_token(token);
        let (session, user) = self
            .store()
            .get_session_user(&hash)
            .await?
            .filter(|(_, u)| u.deleted_at.is_none())
            .ok_or(Error::Unauthorized)?;
        let now = self.now();
        if now.ms_since(session.last_used_at) > SESSION_TOUCH_INTERVAL_MS {
            self.store().touch_session(&hash, now).await?;
        }
        Ok(Actor {
            user,
            session: Some(hash),
            reason: None,
            oauth2: None,
        })
    }

    /// Resolves a bot token (`{application_id}.{secret}`), comparing the secret in constant time.
    pub async fn authenticate_bot(&self, raw: &str) -> Result<Actor> {
        let token = BotToken::parse(raw).ok_or(Error::Unauthorized)?;
        let app = self
            .store()
            .get_application(token.application_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        let (Some(stored), Some(bot_id)) = (app.bot_token_hash, app.bot_user_id) else {
            return Err(Error::Unauthorized);
        };
        if !secrets_equal(&stored, &token.secret_hash()) {
            return Err(Error::Unauthorized);
        }
        let user = self
            .store()
            .get_user(bot_id)
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok(Actor {
            user,
            session: None,
            reason: None,
            oauth2: None,
        })
    }

    /// Ends the caller's current session.
    pub async fn logout(&self, actor: &Actor) -> Result<()> {
        if let Some(hash) = &actor.session {
            self.store().delete_session(hash).await?;
            self.revoke_gateway_sessions(actor.id(), SessionsRevoked::these([hash]))
                .await;
        }
        Ok(())
    }

    /// Ends the gateway sessions of `user` that `revoked` covers, on every node. Call it after the
    /// credentials are gone from the store, so a session that identifies meanwhile is refused.
    /// Logs the user out: every login session but `keep` (the caller's, when given) ends, here and
    /// on the gateway.
    pub(crate) async fn end_sessions(&self, user: UserId, keep: Option<&[u8; 32]>) -> Result<()> {
        match keep {
            None => {
                self.store().delete_user_sessions(user).await?;
            }
            Some(keep) => {
                for session in self.store().list_sessions(user).await? {
                    if session.token_hash != *keep {
                        self.store().delete_session(&session.token_hash).await?;
                    }
                }
            }
        }
        self.revoke_gateway_sessions(user, SessionsRevoked::all_but(keep))
            .await;
        Ok(())
    }

    pub(crate) async fn revoke_gateway_sessions(&self, user: UserId, revoked: SessionsRevoked) {
        self.emit(Dispatch::new(
            EventKind::SessionsRevoked,
            Topic::User(user),
            &revoked,
        ))
        .await;
    }

    /// The caller's login sessions, oldest first (`GET /auth/sessions`).
    pub async fn list_sessions(&self, actor: &Actor) -> Result<Vec<SessionInfo>> {
        let sessions = self.store().list_sessions(actor.id()).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionInfo {
                id_hash: s.id_hash(),
                client_info: serde_json::json!({
                    "platform": s.client_os,
                    "os": s.client_os,
                    "browser": s.client_browser,
                    "location": null,
                }),
                approx_last_used_at: s.last_used_at,
                current: actor.session.as_ref() == Some(&s.token_hash),
            })
            .collect())
    }

    /// Ends the caller's sessions whose `id_hash` is listed.
    pub async fn logout_sessions(&self, actor: &Actor, id_hashes: &[String]) -> Result<u64> {
        let mut v = Validator::new();
        v.count("session_id_hashes", id_hashes.len(), 100);
        v.finish()?;
        let mut ended = Vec::new();
        for s in self.store().list_sessions(actor.id()).await? {
            if id_hashes.iter().any(|h| *h == s.id_hash())
                && self.store().delete_session(&s.token_hash).await?
            {
                ended.push(s.token_hash);
            }
        }
        if !ended.is_empty() {
            self.revoke_gateway_sessions(actor.id(), SessionsRevoked::these(&ended))
                .await;
        }
        Ok(ended.len() as u64)
    }

    /// Stores a new one-time token (hashed) and returns it in the clear, for a link or a ticket.
    async fn issue_action_token(
        &self,
        kind: ActionTokenKind,
        user: UserId,
        ttl_secs: i64,
    ) -> Result<String> {
        let token = random_base62(64);
        self.store()
            .create_action_token(&ActionToken {
                kind,
                token_hash: hash_token(&token),
                user_id: user,
                expires_at: self.now().plus_secs(ttl_secs),
            })
            .await?;
        Ok(token)
    }

    pub(crate) async fn send_verification_email(&self, user: &User, changed: bool) -> Result<()> {
        let Some(email) = &user.email else {
            return Ok(());
        };
        let token = self
            .issue_action_token(ActionTokenKind::VerifyEmail, user.id, VERIFY_EMAIL_TTL_SECS)
            .await?;
        let link = format!("{}/verify#token={token}", self.config().web_url);
        let mail = if changed {
            super::emails::email_changed(email, &user.username, &link)
        } else {
            super::emails::verify_email(email, &user.username, &link)
        };
        self.send_email(mail).await
    }

    /// Sends a new verification email to the caller.
    pub async fn resend_verification(&self, actor: &Actor) -> Result<()> {
        if actor.user.email_verified {
            return Err(Error::rejected(
                "EMAIL_ALREADY_VERIFIED",
                "Your email is already verified.",
            ));
        }
        self.send_verification_email(&actor.user, false).await
    }

    /// Marks the account's email verified (`POST /auth/verify`).
    pub async fn verify_email(&self, token: &str) -> Result<()> {
        let t = self
            .store()
            .take_action_token(ActionTokenKind::VerifyEmail, &hash_token(token), self.now())
            .await?
            .ok_or_else(|| {
                Error::field(
                    "token",
                    "INVALID_EMAIL_VERIFICATION_TOKEN",
                    "The verification link is invalid or expired.",
                )
            })?;
        let mut user = self
            .store()
            .get_user(t.user_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        user.email_verified = true;
        self.store().update_user(&user).await?;
        self.emit_user_update(&user).await;
        Ok(())
    }

    /// Emails a password-reset link if the address has an account. Answers the same either way.
    pub async fn forgot_password(&self, email: &str) -> Result<()> {
        self.require_local_auth().await?;
        let email = email.trim().to_lowercase();
        if !is_valid_email(&email) {
            return Err(Error::field(
                "email",
                "EMAIL_TYPE_INVALID_EMAIL",
                "Not a well formed email address.",
            ));
        }
        let Some(user) = self.store().find_user_by_email(&email).await? else {
            return Ok(());
        };
        self.send_password_reset(&user, &email).await
    }

    /// Emails `user` a password-reset link at `email`.
    pub(crate) async fn send_password_reset(&self, user: &User, email: &str) -> Result<()> {
        let token = self
            .issue_action_token(
                ActionTokenKind::ResetPassword,
                user.id,
                RESET_PASSWORD_TTL_SECS,
            )
            .await?;
        let link = format!("{}/reset#token={token}", self.config().web_url);
        self.send_email(super::emails::reset_password(email, &user.username, &link))
            .await?;
        Ok(())
    }

    /// Sets a new password with a reset token, ends every session and opens a new one.
    pub async fn reset_password(
        &self,
        token: &str,
        password: &str,
        client: ClientInfo,
    ) -> Result<LoginOutcome> {
        self.require_local_auth().await?;
        let mut v = Validator::new();
        validate_password(&mut v, "password", password);
        v.finish()?;
        let t = self
            .store()
            .take_action_token(
                ActionTokenKind::ResetPassword,
                &hash_token(token),
                self.now(),
            )
            .await?
            .ok_or_else(|| {
                Error::field(
                    "token",
                    "INVALID_PASSWORD_RESET_TOKEN",
                    "The reset link is invalid or expired.",
                )
            })?;
        let mut user = self
            .store()
            .get_user(t.user_id)
            .await?
            .ok_or(Error::Unknown(Unknown::User))?;
        user.password_hash = Some(self.ports().hasher.hash(password).await?);
        user.password_changed_at = Some(self.now());
        // Following the link proves the mailbox too.
        user.email_verified = true;
        self.store().update_user(&user).await?;
        self.end_sessions(user.id, None).await?;
        let token = self.open_session(user.id, &client).await?;
        Ok(LoginOutcome::Session {
            token,
            user_id: user.id,
        })
    }

    /// Checks the caller's password for a sensitive action ("sudo mode").
    pub(crate) async fn require_password(
        &self,
        actor: &Actor,
        password: Option<&str>,
    ) -> Result<()> {
        let Some(phc) = &actor.user.password_hash else {
            return Ok(());
        };
        let Some(password) = password else {
            return Err(Error::field(
                "password",
                "BASE_TYPE_REQUIRED",
                "Enter your password to continue.",
            ));
        };
        if self.ports().hasher.verify(password, phc).await? {
            Ok(())
        } else {
            Err(Error::field(
                "password",
                "PASSWORD_INCORRECT",
                "Password is incorrect.",
            ))
        }
    }

    /// A fresh TOTP secret and its `otpauth://` URI.
    pub fn totp_setup(&self, actor: &Actor) -> TotpSetup {
        let secret = totp::generate_secret();
        let uri = format!(
            "otpauth://totp/Fluxer:{}?secret={secret}&issuer=Fluxer",
            actor.user.username
        );
        TotpSetup { secret, uri }
    }

    /// Turns on TOTP with a secret the client generated and a code proving the app has it.
    pub async fn enable_totp(
        &self,
        actor: &Actor,
        secret: &str,
        code: &str,
        password: Option<&str>,
    ) -> Result<(User, Vec<super::BackupCode>)> {
        self.require_password(actor, password).await?;
        if actor.user.totp_enabled() {
            return Err(Error::rejected(
                "MFA_ALREADY_ENABLED",
                "Two-factor authentication is already enabled.",
            ));
        }
        let secret = secret.trim().replace(' ', "").to_uppercase();
        if totp::base32_decode(&secret).is_none_or(|k| k.len() < 10) {
            return Err(Error::field(
                "secret",
                "INVALID_TOTP_SECRET",
                "The secret must be base32, at least 80 bits.",
            ));
        }
        if !totp::verify(&secret, code, self.now().unix_secs()) {
            return Err(Error::InvalidMfaCode);
        }
        let mut user = actor.user.clone();
        user.totp_secret = Some(secret);
        self.store().update_user(&user).await?;
        let codes = self.issue_backup_codes(user.id).await?;
        self.emit_user_update(&user).await;
        Ok((user, codes))
    }

    /// Turns TOTP off; needs a current code.
    pub async fn disable_totp(&self, actor: &Actor, code: &str) -> Result<User> {
        let Some(secret) = &actor.user.totp_secret else {
            return Err(Error::rejected(
                "MFA_NOT_ENABLED",
                "Two-factor authentication is not enabled.",
            ));
        };
        if !totp::verify(secret, code, self.now().unix_secs()) {
            return Err(Error::InvalidMfaCode);
        }
        let mut user = actor.user.clone();
        user.totp_secret = None;
        self.store().update_user(&user).await?;
        self.drop_backup_codes(user.id).await?;
        self.emit_user_update(&user).await;
        Ok(user)
    }
}

/// Latin letters with marks, and their plain forms: what a display name's accents become in a
/// username.
const FOLDS: &[(&str, char)] = &[
    ("àáâãäåāăą", 'a'),
    ("çćĉċč", 'c'),
    ("ďđ", 'd'),
    ("èéêëēĕėęě", 'e'),
    ("ĝğġģ", 'g'),
    ("ĥħ", 'h'),
    ("ìíîïĩīĭįı", 'i'),
    ("ĵ", 'j'),
    ("ķ", 'k'),
    ("ĺļľŀł", 'l'),
    ("ñńņňŉ", 'n'),
    ("òóôõöøōŏő", 'o'),
    ("ŕŗř", 'r'),
    ("śŝşš", 's'),
    ("ţťŧ", 't'),
    ("ùúûüũūŭůűų", 'u'),
    ("ŵ", 'w'),
    ("ýÿŷ", 'y'),
    ("źżž", 'z'),
];

/// The username a display name suggests (`POST /auth/username-suggestions`), as upstream:
/// accents dropped, spaces, dashes and dots as `_`, other characters left out, at most 32; `None`
/// when nothing is left.
pub fn suggest_username(global_name: &str) -> Option<String> {
    let mut out = String::new();
    let mut gap = false;
    for c in global_name.trim().chars() {
        let lower = c.to_lowercase().next().unwrap_or(c);
        let c = match FOLDS.iter().find(|(from, _)| from.contains(lower)) {
            Some((_, plain)) if c.is_uppercase() => plain.to_ascii_uppercase(),
            Some((_, plain)) => *plain,
            None => c,
        };
        if c.is_whitespace() || c == '-' || c == '.' {
            gap = true;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        if gap && !out.is_empty() {
            out.push('_');
        }
        gap = false;
        out.push(c);
    }
    let out: String = out.chars().take(32).collect();
    (!out.is_empty()).then_some(out)
}

/// A username from free text: allowed characters only, 1..=32, never empty.
pub(crate) fn derive_username(source: &str) -> String {
    let base = source.split('@').next().unwrap_or(source);
    let name: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .take(32)
        .collect();
    if name.is_empty() {
        "user".to_owned()
    } else {
        name.to_lowercase()
    }
}

/// A random discriminator in 1..=9999 (the attempt number only varies the draw).
fn random_discriminator(attempt: u32) -> u16 {
    let raw = random_base62(4);
    let n = raw.bytes().fold(attempt, |acc, b| {
        acc.wrapping_mul(131).wrapping_add(u32::from(b))
    });
    (n % 9999 + 1) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_suggested_from_display_names() {
        assert_eq!(
            suggest_username("  Zoë Ångström ").as_deref(),
            Some("Zoe_Angstrom")
        );
        assert_eq!(
            suggest_username("dr. who-knows").as_deref(),
            Some("dr_who_knows")
        );
        assert_eq!(suggest_username("日本 ☃"), None);
        assert_eq!(suggest_username(&"x".repeat(40)).map(|s| s.len()), Some(32));
    }

    #[test]
    fn dates_of_birth_are_real_days_and_old_enough() {
        let today = time::Date::from_calendar_date(2026, time::Month::December, 4).unwrap();
        let codes = |dob: &str| {
            let mut v = Validator::new();
            validate_date_of_birth(&mut v, dob, today);
            match v.finish() {
                Ok(()) => Vec::new(),
                Err(Error::InvalidForm(errors)) => errors.into_iter().map(|e| e.code).collect(),
                Err(e) => panic!("{e}"),
            }
        };
        assert!(codes("2000-02-29").is_empty());
        assert!(codes("2013-12-04").is_empty(), "13 today");
        assert_eq!(codes("2013-12-05"), ["DATE_OF_BIRTH_TOO_YOUNG"]);
        assert_eq!(codes("2030-01-01"), ["DATE_OF_BIRTH_TOO_YOUNG"]);
        for bad in [
            "9999-99-99",
            "2001-02-29",
            "2000-13-01",
            "2000-1-01",
            "20000101",
            "",
            "1899-12-31",
            "+200-01-01",
            "2000-01-0a",
        ] {
            assert_eq!(codes(bad), ["INVALID_DATE_OF_BIRTH_FORMAT"], "{bad}");
        }
    }

    #[test]
    fn derives_usernames() {
        assert_eq!(derive_username("Alice.Smith@example.com"), "alice.smith");
        assert_eq!(derive_username("!!!"), "user");
        assert!(derive_username(&"a".repeat(50)).len() <= 32);
    }

    #[test]
    fn discriminators_in_range() {
        for i in 0..200 {
            let d = random_discriminator(i);
            assert!((1..=9999).contains(&d));
        }
    }
}
