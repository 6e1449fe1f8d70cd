//! Password hashing (argon2id), behind a port so hosts can move the CPU-heavy work off their async
//! workers (the API wraps it in `spawn_blocking`).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use async_trait::async_trait;

use crate::error::{Error, Result};

/// Hashes and verifies passwords.
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// A PHC string (`$argon2id$v=19$...`).
    async fn hash(&self, password: &str) -> Result<String>;
    /// Whether `password` matches the PHC string `phc`; an error only when `phc` is unreadable.
    async fn verify(&self, password: &str, phc: &str) -> Result<bool>;
}

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane), computed inline.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: Params,
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Argon2Hasher {
            params: Params::new(19 * 1024, 2, 1, None).unwrap_or_default(),
        }
    }
}

impl Argon2Hasher {
    /// Cheaper parameters, for tests only.
    pub fn fast_for_tests() -> Self {
        Argon2Hasher {
            params: Params::new(256, 1, 1, None).unwrap_or_default(),
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes with a fresh random salt and returns the PHC string, blocking the thread while it
    /// works.
    pub fn hash_sync(&self, password: &str) -> Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    }

    /// Verifies with the parameters recorded in the PHC string (so old hashes keep working).
    pub fn verify_sync(&self, password: &str, phc: &str) -> Result<bool> {
        let parsed = PasswordHash::new(phc)
            .map_err(|e| Error::Internal(format!("stored password hash is corrupt: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String> {
        self.hash_sync(password)
    }

    async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        self.verify_sync(password, phc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let h = Argon2Hasher::fast_for_tests();
        let a = h.hash_sync("correct horse").unwrap();
        let b = h.hash_sync("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "salted");
        assert!(h.verify_sync("correct horse", &a).unwrap());
        assert!(!h.verify_sync("wrong", &a).unwrap());
        assert!(h.verify_sync("x", "not a phc string").is_err());
    }
}
