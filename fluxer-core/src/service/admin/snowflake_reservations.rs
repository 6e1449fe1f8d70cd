//! Snowflake reservations (`/admin/snowflake-reservations/{add,list,delete}`): an email address
//! staff promised a particular user ID to. Whoever registers with that address gets that ID (as
//! upstream's registration does), unless an account already has it. Kept as instance documents
//! ([`PrivateDocument::SnowflakeReservation`], keyed by a hash of the address).
//!
//! Upstream refuses these routes on a self-hosted instance; here they work, since an operator
//! moving accounts from elsewhere may want people to keep their IDs.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AdminAction, AdminPrincipal};
use crate::error::{Error, Result};
use crate::id::UserId;
use crate::model::acl;
use crate::ports::PrivateDocument;
use crate::service::Fluxer;
use crate::time::Timestamp;
use crate::validation::is_valid_email;

/// Most reservations kept (upstream lists at most 1000).
pub const MAX_SNOWFLAKE_RESERVATIONS: usize = 1000;

/// One reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnowflakeReservation {
    /// The address, lower-cased.
    pub email: String,
    /// The user ID promised to it.
    pub snowflake: UserId,
    /// When staff last set it.
    pub updated_at: Timestamp,
}

fn reservation_key(email: &str) -> u64 {
    let digest = Sha256::digest(format!("snowflake-reservation:{email}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 1
}

fn normalize_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    if is_valid_email(&email) {
        Ok(email)
    } else {
        Err(Error::field(
            "email",
            "EMAIL_TYPE_INVALID_EMAIL",
            "Not a well formed email address.",
        ))
    }
}

impl Fluxer {
    /// Every reservation, by email (`instance:snowflake_reservation:view`).
    pub async fn list_snowflake_reservations(
        &self,
        who: &AdminPrincipal,
    ) -> Result<Vec<SnowflakeReservation>> {
        who.require(acl::INSTANCE_SNOWFLAKE_RESERVATION_VIEW)?;
        let mut all: Vec<SnowflakeReservation> = self
            .instance_docs::<SnowflakeReservation>(PrivateDocument::SnowflakeReservation)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        all.sort_by(|a, b| a.email.cmp(&b.email));
        Ok(all)
    }

    /// Reserves `snowflake` for whoever registers with `email`, replacing that address's
    /// reservation (`instance:snowflake_reservation:manage`). Refused: an ID an account already
    /// has, or one another address holds (400 on `snowflake`).
    pub async fn add_snowflake_reservation(
        &self,
        who: &AdminPrincipal,
        email: &str,
        snowflake: UserId,
    ) -> Result<()> {
        who.require(acl::INSTANCE_SNOWFLAKE_RESERVATION_MANAGE)?;
        let email = normalize_email(email)?;
        let taken = |message: &str| Error::field("snowflake", "SNOWFLAKE_TAKEN", message);
        if snowflake.get() == 0 {
            return Err(Error::field(
                "snowflake",
                "SNOWFLAKE_TYPE_INVALID",
                "Not a valid snowflake.",
            ));
        }
        if self.store().get_user(snowflake).await?.is_some() {
            return Err(taken("An account already has this ID."));
        }
        let existing = self
            .instance_docs::<SnowflakeReservation>(PrivateDocument::SnowflakeReservation)
            .await?;
        if existing
            .iter()
            .any(|(_, r)| r.snowflake == snowflake && r.email != email)
        {
            return Err(taken("This ID is reserved for another address."));
        }
        let replaces = existing.iter().any(|(_, r)| r.email == email);
        if !replaces && existing.len() >= MAX_SNOWFLAKE_RESERVATIONS {
            return Err(Error::rejected(
                "MAX_SNOWFLAKE_RESERVATIONS",
                "Too many snowflake reservations.",
            ));
        }
        let reservation = SnowflakeReservation {
            email: email.clone(),
            snowflake,
            updated_at: self.now(),
        };
        self.put_instance_doc(
            PrivateDocument::SnowflakeReservation,
            reservation_key(&email),
            Some(&reservation),
        )
        .await?;
        self.record_admin_action(
            who,
            AdminAction::new("snowflake_reservation.add", "snowflake_reservation", &email)
                .with("snowflake", snowflake),
        )
        .await
    }

    /// Lifts `email`'s reservation (`instance:snowflake_reservation:manage`); lifting one that
    /// does not exist is not an error, but is logged.
    pub async fn delete_snowflake_reservation(
        &self,
        who: &AdminPrincipal,
        email: &str,
    ) -> Result<()> {
        who.require(acl::INSTANCE_SNOWFLAKE_RESERVATION_MANAGE)?;
        let email = normalize_email(email)?;
        let key = reservation_key(&email);
        let existed = self
            .instance_doc::<SnowflakeReservation>(PrivateDocument::SnowflakeReservation, key)
            .await?;
        self.put_instance_doc::<SnowflakeReservation>(
            PrivateDocument::SnowflakeReservation,
            key,
            None,
        )
        .await?;
        self.record_admin_action(
            who,
            AdminAction::new(
                "snowflake_reservation.delete",
                "snowflake_reservation",
                &email,
            )
            .with(
                "snowflake",
                existed.map_or_else(|| "none".to_owned(), |r| r.snowflake.to_string()),
            ),
        )
        .await
    }

    /// The ID a new account registering with `email` (lower-cased) gets: its reservation's,
    /// unless an account has that ID already; else a fresh one.
    pub(crate) async fn user_id_for_registration(&self, email: &str) -> Result<UserId> {
        let reserved = self
            .instance_doc::<SnowflakeReservation>(
                PrivateDocument::SnowflakeReservation,
                reservation_key(email),
            )
            .await?
            .filter(|r| r.email == email);
        if let Some(r) = reserved
            && self.store().get_user(r.snowflake).await?.is_none()
        {
            return Ok(r.snowflake);
        }
        Ok(self.next_id())
    }
}
