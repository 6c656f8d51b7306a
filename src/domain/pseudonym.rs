//! Participant references are pseudonymised before they are stored: a keyed HMAC-SHA256, so
//! that the same person gets the same pseudonym within a project (the rules need that) while
//! nobody without the key can recover or test a reference.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// 128 bits of the HMAC, as 32 hex characters.
pub fn pseudonymise(key: &[u8], project_id: &str, participant_ref: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(project_id.as_bytes());
    mac.update(&[0x1f]);
    mac.update(participant_ref.trim().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_per_project_and_key_and_never_the_reference() {
        let a = pseudonymise(b"key-one", "prj_1", "NHS-123");
        assert_eq!(a, pseudonymise(b"key-one", "prj_1", " NHS-123 "));
        assert_ne!(a, pseudonymise(b"key-two", "prj_1", "NHS-123"));
        assert_ne!(a, pseudonymise(b"key-one", "prj_2", "NHS-123"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("123"));
    }
}
