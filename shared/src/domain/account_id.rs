use std::fmt;

/// The longest account id we accept; Stripe's are 21 characters today (`acct_` + 16).
const MAX_LEN: usize = 255;

/// A connected account's id (Stripe Connect): `acct_` followed by ASCII alphanumerics.
///
/// An event Stripe delivers for a connected account names it in `account`; its Checkout Session
/// is then retrieved with the `Stripe-Account` header, and its order is keyed by account and
/// session. Wherever an account is optional, `None` is the platform's own account.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// Why a string is not an account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAccountId {
    #[error("the account id is empty")]
    Empty,
    #[error("the account id is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the account id must start with acct_")]
    BadPrefix,
    #[error("the account id may only contain letters and digits after acct_")]
    BadCharacters,
}

impl AccountId {
    pub fn parse(raw: &str) -> Result<Self, InvalidAccountId> {
        if raw.is_empty() {
            return Err(InvalidAccountId::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(InvalidAccountId::TooLong);
        }
        let rest = raw
            .strip_prefix("acct_")
            .ok_or(InvalidAccountId::BadPrefix)?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(InvalidAccountId::BadCharacters);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How an optional account is stored: the platform (`None`) as the empty string, so that the
/// unique key `(account, session_id)` also holds for the platform's sessions (a NULL would
/// never conflict with another NULL).
pub fn stored(account: Option<&AccountId>) -> &str {
    account.map_or("", AccountId::as_str)
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_id_parses() {
        let id = AccountId::parse("acct_1032D82eZvKYlo2C").unwrap();
        assert_eq!(id.as_str(), "acct_1032D82eZvKYlo2C");
        assert_eq!(stored(Some(&id)), "acct_1032D82eZvKYlo2C");
        assert_eq!(stored(None), "");
    }

    #[test]
    fn malformed_account_ids_are_rejected_with_a_reason() {
        assert_eq!(AccountId::parse(""), Err(InvalidAccountId::Empty));
        assert_eq!(
            AccountId::parse("cus_123"),
            Err(InvalidAccountId::BadPrefix)
        );
        assert_eq!(
            AccountId::parse("acct_"),
            Err(InvalidAccountId::BadCharacters)
        );
        assert_eq!(
            AccountId::parse("acct_1;DROP"),
            Err(InvalidAccountId::BadCharacters)
        );
        let long = format!("acct_{}", "a".repeat(300));
        assert_eq!(AccountId::parse(&long), Err(InvalidAccountId::TooLong));
    }
}
