//! TOTP (RFC 6238) over HMAC-SHA1, 6 digits, 30-second steps, ±1 step of clock drift.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use hmac::{Hmac, Mac};
use sha1::Sha1;

const STEP_SECS: i64 = 30;
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random 160-bit secret, base32 (no padding), as authenticator apps expect.
pub(crate) fn generate_secret() -> String {
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    base32_encode(&bytes)
}

pub(crate) fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub(crate) fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let v = BASE32.iter().position(|x| *x == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// The code for a counter (RFC 4226 HOTP).
fn hotp(key: &[u8], counter: u64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return u32::MAX;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let bin = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    bin % 1_000_000
}

/// The current code for a base32 secret at Unix time `unix_secs`.
pub fn totp_code(secret_b32: &str, unix_secs: i64) -> Option<String> {
    let key = base32_decode(secret_b32)?;
    Some(format!("{:06}", hotp(&key, (unix_secs / STEP_SECS) as u64)))
}

/// Whether `code` is valid for the secret at `unix_secs`, allowing one step of drift either way.
pub(crate) fn verify(secret_b32: &str, code: &str, unix_secs: i64) -> bool {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(key) = base32_decode(secret_b32) else {
        return false;
    };
    let step = unix_secs / STEP_SECS;
    (-1..=1).any(|d| {
        let expected = format!("{:06}", hotp(&key, (step + d) as u64));
        super::tokens::secrets_equal(expected.as_bytes(), code.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, secret "12345678901234567890", 8-digit codes truncated to 6.
        let secret = base32_encode(b"12345678901234567890");
        assert_eq!(totp_code(&secret, 59).unwrap(), "287082");
        assert_eq!(totp_code(&secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(totp_code(&secret, 1_234_567_890).unwrap(), "005924");
        assert_eq!(totp_code(&secret, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn verify_allows_one_step_of_drift() {
        let secret = generate_secret();
        let now = 1_700_000_000;
        let code = totp_code(&secret, now - 30).unwrap();
        assert!(verify(&secret, &code, now));
        let old = totp_code(&secret, now - 90).unwrap();
        assert!(!verify(&secret, &old, now) || old == totp_code(&secret, now).unwrap());
        assert!(!verify(&secret, "12345", now));
        assert!(!verify(&secret, "abcdef", now));
    }

    #[test]
    fn base32_round_trips() {
        let bytes = b"any bytes at all!";
        assert_eq!(base32_decode(&base32_encode(bytes)).unwrap(), bytes);
        assert!(base32_decode("not*base32").is_none());
    }
}
