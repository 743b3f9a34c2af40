use std::fmt;

/// Currencies whose smallest unit is the whole unit (¥100 is `100`), from Stripe's list.
const ZERO_DECIMAL: &[&str] = &[
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Currencies with three decimals (12.500 KWD is `12500`), from Stripe's list.
const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

/// An ISO 4217 currency code, stored lowercase as Stripe sends it.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    /// Accepts three ASCII letters in any case.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_alphabetic()))
            .then(|| Self(raw.to_ascii_lowercase()))
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Digits after the decimal point in the currency's display form.
    pub fn exponent(&self) -> u32 {
        if ZERO_DECIMAL.contains(&self.0.as_str()) {
            0
        } else if THREE_DECIMAL.contains(&self.0.as_str()) {
            3
        } else {
            2
        }
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.0)
    }
}

/// An amount in the currency's minor units (cents for USD, yen for JPY, fils for KWD).
///
/// Integer arithmetic only: floating point never touches money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub minor_units: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor_units: i64, currency: Currency) -> Self {
        Self {
            minor_units,
            currency,
        }
    }

    /// The amount as a decimal string with the currency's exponent, e.g. `20.00`, `1500`,
    /// `12.500`.
    pub fn decimal(&self) -> String {
        let exp = self.currency.exponent();
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let abs = self.minor_units.unsigned_abs();
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let unit = 10u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / unit,
            abs % unit,
            width = exp as usize
        )
    }
}

impl fmt::Display for Money {
    /// `20.00 USD`, `1500 JPY`, `12.500 KWD`: unambiguous in any locale.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.decimal(),
            self.currency.code().to_ascii_uppercase()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(units: i64, code: &str) -> Money {
        Money::new(units, Currency::parse(code).unwrap())
    }

    #[test]
    fn amounts_display_with_the_currency_exponent() {
        assert_eq!(money(2000, "usd").to_string(), "20.00 USD");
        assert_eq!(money(5, "usd").to_string(), "0.05 USD");
        assert_eq!(money(1500, "jpy").to_string(), "1500 JPY");
        assert_eq!(money(12500, "KWD").to_string(), "12.500 KWD");
        assert_eq!(money(7, "kwd").to_string(), "0.007 KWD");
        assert_eq!(money(-250, "eur").to_string(), "-2.50 EUR");
    }

    #[test]
    fn currency_codes_are_validated() {
        assert!(Currency::parse("usd").is_some());
        assert!(Currency::parse("us").is_none());
        assert!(Currency::parse("u$d").is_none());
    }
}
