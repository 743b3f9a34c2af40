use std::fmt;

const MAX_LEN: usize = 255;

/// A Stripe Event id (`evt_…`). Used as the AMQP `message_id` and the audit-trail key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EventId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event id is `evt_` followed by letters, digits or underscores (at most {MAX_LEN} characters)")]
pub struct InvalidEventId;

impl EventId {
    pub fn parse(raw: &str) -> Result<Self, InvalidEventId> {
        let rest = raw.strip_prefix("evt_").ok_or(InvalidEventId)?;
        let ok = !rest.is_empty()
            && raw.len() <= MAX_LEN
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidEventId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({})", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_parse_and_reject() {
        assert!(EventId::parse("evt_1NG8Du2eZvKYlo2CUI79vXWy").is_ok());
        assert!(EventId::parse("evt_test_webhook").is_ok());
        assert!(EventId::parse("evt_").is_err());
        assert!(EventId::parse("cs_test_1").is_err());
        assert!(EventId::parse("evt_a b").is_err());
    }
}
