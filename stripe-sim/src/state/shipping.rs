//! Shipping: the countries a session may ship to (`shipping_address_collection`) and the address
//! the customer gives on the payment page (`collected_information.shipping_details`).

use serde::Deserialize;

use crate::error::SimError;

/// `shipping_address_collection[allowed_countries][]`'s values, as Stripe's API spec lists them
/// (ISO 3166-1 alpha-2, plus Stripe's `AC`, `TA`, `XK` and `ZZ`).
const ALLOWED_COUNTRIES: &[&str] = &[
    "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO",
    "CR", "CV", "CW", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER",
    "ES", "ET", "FI", "FJ", "FK", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL",
    "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HN", "HR", "HT", "HU", "ID",
    "IE", "IL", "IM", "IN", "IO", "IQ", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI",
    "KM", "KN", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MK", "ML", "MM", "MN", "MO", "MQ", "MR", "MS", "MT",
    "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NG", "NI", "NL", "NO", "NP", "NR", "NU",
    "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PY", "QA",
    "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
    "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SZ", "TA", "TC", "TD", "TF", "TG", "TH", "TJ", "TK",
    "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY", "UZ", "VA", "VC",
    "VE", "VG", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW", "ZZ",
];

/// Where an order ships, as the customer typed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shipping {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    #[serde(default)]
    pub state: String,
    pub postal_code: String,
    /// Two letters, upper case.
    pub country: String,
}

impl Shipping {
    /// The address the control API ships to when a test does not give one: Stripe's own
    /// documentation example, in the first country the session allows.
    pub(crate) fn example(name: &str, allowed: &[String]) -> Self {
        Shipping {
            name: name.to_string(),
            line1: "354 Oyster Point Blvd".into(),
            line2: String::new(),
            city: "South San Francisco".into(),
            state: "CA".into(),
            postal_code: "94080".into(),
            country: if allowed.iter().any(|c| c == "US") {
                "US".into()
            } else {
                allowed.first().cloned().unwrap_or_else(|| "US".into())
            },
        }
    }
}

/// Checks `shipping_address_collection[allowed_countries]`: present, not empty, each a
/// country Stripe ships to.
pub(crate) fn check_allowed_countries(countries: &[String]) -> Result<(), SimError> {
    const PARAM: &str = "shipping_address_collection[allowed_countries]";
    if countries.is_empty() {
        return Err(SimError::missing_param(PARAM));
    }
    for (i, country) in countries.iter().enumerate() {
        if !ALLOWED_COUNTRIES.contains(&country.as_str()) {
            return Err(SimError::invalid_param(
                &format!("{PARAM}[{i}]"),
                format!(
                    "Invalid {PARAM}[{i}]: must be one of {}",
                    ALLOWED_COUNTRIES.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_checked_against_stripes_list() {
        assert!(check_allowed_countries(&["US".into(), "GB".into()]).is_ok());
        let err = check_allowed_countries(&["US".into(), "us".into()]).unwrap_err();
        assert_eq!(
            err.param(),
            Some("shipping_address_collection[allowed_countries][1]")
        );
        let err = check_allowed_countries(&[]).unwrap_err();
        assert_eq!(
            err.param(),
            Some("shipping_address_collection[allowed_countries]")
        );
    }

    #[test]
    fn the_example_address_is_in_an_allowed_country() {
        assert_eq!(Shipping::example("J", &["US".into()]).country, "US");
        assert_eq!(
            Shipping::example("J", &["JP".into(), "US".into()]).country,
            "US"
        );
        assert_eq!(Shipping::example("J", &["JP".into()]).country, "JP");
    }
}
