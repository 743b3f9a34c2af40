use std::fmt;

use super::AccountId;

/// The longest id we accept. Stripe's are 66 characters today (`cs_test_` + 58); the bound leaves
/// room for growth while keeping a 10 KB query string from reaching the database or Stripe.
const MAX_LEN: usize = 255;

/// A Checkout Session id: `cs_test_…` or `cs_live_…` followed by ASCII alphanumerics.
///
/// Every id that comes from outside (a URL, a webhook payload, a queue message) is parsed into this
/// type before it is used, so nothing downstream sees `../../etc/passwd`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckoutSessionId(String);

/// Why a string is not a Checkout Session id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSessionId {
    #[error("the session id is empty")]
    Empty,
    #[error("the session id is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the session id must start with cs_test_ or cs_live_")]
    BadPrefix,
    #[error("the session id may only contain letters and digits after its prefix")]
    BadCharacters,
}

impl CheckoutSessionId {
    pub fn parse(raw: &str) -> Result<Self, InvalidSessionId> {
        if raw.is_empty() {
            return Err(InvalidSessionId::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(InvalidSessionId::TooLong);
        }
        let rest = raw
            .strip_prefix("cs_test_")
            .or_else(|| raw.strip_prefix("cs_live_"))
            .ok_or(InvalidSessionId::BadPrefix)?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InvalidSessionId::BadCharacters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_live(&self) -> bool {
        self.0.starts_with("cs_live_")
    }

    /// The 64-bit key of the session's transaction-scoped advisory lock.
    ///
    /// The first eight bytes of SHA-256 of the id: stable across processes, builds and
    /// languages (unlike `std`'s `DefaultHasher`, which is seeded per process), so a worker and
    /// the landing page always contend for the same lock.
    pub fn advisory_lock_key(&self) -> i64 {
        lock_key(self.0.as_bytes())
    }

    /// The lock key of this session on `account` (`None`: the platform). The platform's is
    /// [`Self::advisory_lock_key`] unchanged, so processes of an older release take the same
    /// lock during a rolling deploy; a connected account's hashes `acct_…/cs_…`, so that two
    /// accounts' sessions never wait for each other.
    pub fn advisory_lock_key_on(&self, account: Option<&AccountId>) -> i64 {
        match account {
            None => self.advisory_lock_key(),
            Some(account) => lock_key(format!("{account}/{}", self.0).as_bytes()),
        }
    }
}

/// The first eight bytes of SHA-256 of `bytes`, as a signed 64-bit advisory lock key.
fn lock_key(bytes: &[u8]) -> i64 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

impl fmt::Display for CheckoutSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CheckoutSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckoutSessionId({})", self.0)
    }
}

impl AsRef<str> for CheckoutSessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> serde::Deserialize<'de> for CheckoutSessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for CheckoutSessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_and_live_ids_parse() {
        let id = CheckoutSessionId::parse(
            "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY",
        )
        .unwrap();
        assert!(!id.is_live());
        assert!(CheckoutSessionId::parse("cs_live_abc123")
            .unwrap()
            .is_live());
    }

    #[test]
    fn malformed_ids_are_rejected_with_a_reason() {
        assert_eq!(CheckoutSessionId::parse(""), Err(InvalidSessionId::Empty));
        assert_eq!(
            CheckoutSessionId::parse("../../etc/passwd"),
            Err(InvalidSessionId::BadPrefix)
        );
        assert_eq!(
            CheckoutSessionId::parse("cs_test_"),
            Err(InvalidSessionId::BadCharacters)
        );
        assert_eq!(
            CheckoutSessionId::parse("cs_test_abc;drop"),
            Err(InvalidSessionId::BadCharacters)
        );
        assert_eq!(
            CheckoutSessionId::parse("cs_test_abc\u{e9}"),
            Err(InvalidSessionId::BadCharacters)
        );
        assert_eq!(
            CheckoutSessionId::parse("pi_123"),
            Err(InvalidSessionId::BadPrefix)
        );
        let long = format!("cs_test_{}", "a".repeat(10_000));
        assert_eq!(
            CheckoutSessionId::parse(&long),
            Err(InvalidSessionId::TooLong)
        );
    }

    #[test]
    fn the_lock_key_is_stable_and_distinguishes_ids() {
        let a = CheckoutSessionId::parse("cs_test_a").unwrap();
        let b = CheckoutSessionId::parse("cs_test_b").unwrap();
        assert_eq!(a.advisory_lock_key(), a.clone().advisory_lock_key());
        assert_ne!(a.advisory_lock_key(), b.advisory_lock_key());
        // Pinned so that a change of hash (which would let old and new processes take
        // different locks during a rolling deploy) fails loudly.
        assert_eq!(a.advisory_lock_key(), -5_710_581_009_908_104_400);
    }

    #[test]
    fn each_account_locks_its_own_session_and_the_platform_keeps_its_key() {
        let id = CheckoutSessionId::parse("cs_test_a").unwrap();
        let a = AccountId::parse("acct_a").unwrap();
        let b = AccountId::parse("acct_b").unwrap();
        assert_eq!(id.advisory_lock_key_on(None), id.advisory_lock_key());
        assert_ne!(id.advisory_lock_key_on(Some(&a)), id.advisory_lock_key());
        assert_ne!(
            id.advisory_lock_key_on(Some(&a)),
            id.advisory_lock_key_on(Some(&b))
        );
        assert_eq!(
            id.advisory_lock_key_on(Some(&a)),
            id.advisory_lock_key_on(Some(&a.clone()))
        );
    }

    #[test]
    fn deserializing_parses() {
        let ok: CheckoutSessionId = serde_json::from_str("\"cs_test_abc\"").unwrap();
        assert_eq!(ok.as_str(), "cs_test_abc");
        assert!(serde_json::from_str::<CheckoutSessionId>("\"cus_123\"").is_err());
    }
}
