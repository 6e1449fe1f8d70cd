//! Random secrets, their stored form and their comparison: what every token, lock and key of the
//! system is made of. A leaf module: adapters use it (lock tokens) without reaching into the
//! use-cases.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` random base62 characters from the OS RNG.
pub fn random_base62(len: usize) -> String {
    random_string(BASE62, len)
}

/// `len` random characters of `alphabet` (ASCII, 1 to 256 symbols) from the OS RNG. Rejection
/// sampling keeps them uniform: bytes at or above the largest multiple of the alphabet's size
/// would favour its first symbols, so they are drawn again.
pub fn random_string(alphabet: &[u8], len: usize) -> String {
    assert!(
        (1..=256).contains(&alphabet.len()),
        "alphabet of 1 to 256 symbols"
    );
    let size = alphabet.len();
    let accept_below = 256 - 256 % size;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            if usize::from(b) < accept_below && out.len() < len {
                out.push(alphabet[usize::from(b) % size] as char);
            }
        }
    }
    out
}

/// SHA-256 of a token, the form in which tokens are stored and looked up.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two secrets.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// `bytes` random bytes from the OS RNG, as lowercase hex (session IDs, lock tokens).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    to_hex(&buf)
}

/// Bytes as lowercase hex (digests in cache keys and stored tokens).
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_have_their_length_and_alphabet_and_differ() {
        let a = random_base62(40);
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_base62(40));
        let code = random_string(b"AB2", 300);
        assert_eq!(code.len(), 300);
        assert!(code.bytes().all(|b| b"AB2".contains(&b)));
        assert!(code.contains('A') && code.contains('B') && code.contains('2'));
        let h = random_hex(16);
        assert_eq!(h.len(), 32);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(secrets_equal(b"same", b"same") && !secrets_equal(b"same", b"diff"));
        assert_eq!(hash_token("x"), hash_token("x"));
    }
}
