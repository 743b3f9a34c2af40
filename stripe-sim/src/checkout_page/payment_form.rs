//! The submitted payment form: its fields as typed, and the checks Stripe's page makes before
//! it charges anything.

use std::collections::HashMap;

use super::test_cards::luhn_valid;
use crate::state::Shipping;

/// The form's field names, which are also the inputs' `id`s: a browser test finds them by these.
pub(crate) mod field {
    pub const EMAIL: &str = "email";
    pub const NAME: &str = "cardholder-name";
    pub const CARD_NUMBER: &str = "card-number";
    pub const CARD_EXPIRY: &str = "card-expiry";
    pub const CARD_CVC: &str = "card-cvc";
    pub const POSTAL_CODE: &str = "billing-postal-code";
    pub const METHOD: &str = "payment-method";
    pub const SHIPPING_NAME: &str = "shipping-name";
    pub const SHIPPING_LINE1: &str = "shipping-line1";
    pub const SHIPPING_LINE2: &str = "shipping-line2";
    pub const SHIPPING_CITY: &str = "shipping-city";
    pub const SHIPPING_STATE: &str = "shipping-state";
    pub const SHIPPING_POSTAL_CODE: &str = "shipping-postal-code";
    pub const SHIPPING_COUNTRY: &str = "shipping-country";
}

/// The fields as submitted, kept to fill the form again when it is shown with an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PaymentForm {
    pub email: String,
    pub name: String,
    pub card_number: String,
    pub card_expiry: String,
    pub card_cvc: String,
    pub postal_code: String,
    pub method: Method,
    /// Read whatever the session; checked only when it collects a shipping address.
    pub shipping: Shipping,
}

/// The payment method radio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Method {
    #[default]
    Card,
    /// A delayed method: the session completes unpaid and the money arrives (or not) later.
    BankTransfer,
}

/// What the customer asked for, once the form is well-formed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payment {
    /// A card, its number reduced to digits.
    Card {
        digits: String,
    },
    BankTransfer,
}

/// A field that is missing or malformed; the page shows `message` and marks `field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub field: &'static str,
    pub message: &'static str,
}

impl PaymentForm {
    /// Reads an `application/x-www-form-urlencoded` body; unknown fields are ignored, missing
    /// ones are empty.
    pub(crate) fn parse(body: &[u8]) -> Self {
        let fields: HashMap<String, String> = url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |name: &str| {
            fields
                .get(name)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        PaymentForm {
            email: get(field::EMAIL),
            name: get(field::NAME),
            card_number: get(field::CARD_NUMBER),
            card_expiry: get(field::CARD_EXPIRY),
            card_cvc: get(field::CARD_CVC),
            postal_code: get(field::POSTAL_CODE),
            method: match get(field::METHOD).as_str() {
                "bank_transfer" => Method::BankTransfer,
                _ => Method::Card,
            },
            shipping: Shipping {
                name: get(field::SHIPPING_NAME),
                line1: get(field::SHIPPING_LINE1),
                line2: get(field::SHIPPING_LINE2),
                city: get(field::SHIPPING_CITY),
                state: get(field::SHIPPING_STATE),
                postal_code: get(field::SHIPPING_POSTAL_CODE),
                country: get(field::SHIPPING_COUNTRY),
            },
        }
    }

    /// The shipping address, for a session that ships to `allowed` countries.
    pub(crate) fn validate_shipping(&self, allowed: &[String]) -> Result<Shipping, FieldError> {
        let s = &self.shipping;
        for (value, field, message) in [
            (
                &s.name,
                field::SHIPPING_NAME,
                "The recipient's name is required.",
            ),
            (
                &s.line1,
                field::SHIPPING_LINE1,
                "Your shipping address is incomplete.",
            ),
            (
                &s.city,
                field::SHIPPING_CITY,
                "Your shipping city is required.",
            ),
            (
                &s.postal_code,
                field::SHIPPING_POSTAL_CODE,
                "Your shipping postal code is incomplete.",
            ),
        ] {
            if value.is_empty() {
                return Err(error(field, message));
            }
        }
        if !allowed.contains(&s.country) {
            return Err(error(
                field::SHIPPING_COUNTRY,
                "We don't ship to that country. Choose one from the list.",
            ));
        }
        Ok(s.clone())
    }

    /// Checks the fields the chosen method needs. `today` is `(year, month)`, for the expiry.
    pub(crate) fn validate(&self, today: (i32, u32)) -> Result<Payment, FieldError> {
        check_email(&self.email)?;
        if self.method == Method::BankTransfer {
            if self.name.is_empty() {
                return Err(error(field::NAME, "Your name is required."));
            }
            return Ok(Payment::BankTransfer);
        }
        let digits: String = self
            .card_number
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() < 12 {
            return Err(error(field::CARD_NUMBER, "Your card number is incomplete."));
        }
        if digits.len() > 19 || !luhn_valid(&digits) {
            return Err(error(field::CARD_NUMBER, "Your card number is invalid."));
        }
        check_expiry(&self.card_expiry, today)?;
        let cvc = &self.card_cvc;
        if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            return Err(error(
                field::CARD_CVC,
                "Your card's security code is incomplete.",
            ));
        }
        if self.name.is_empty() {
            return Err(error(field::NAME, "The cardholder name is required."));
        }
        if self.postal_code.is_empty() {
            return Err(error(field::POSTAL_CODE, "Your postal code is incomplete."));
        }
        Ok(Payment::Card { digits })
    }
}

fn error(field: &'static str, message: &'static str) -> FieldError {
    FieldError { field, message }
}

fn check_email(email: &str) -> Result<(), FieldError> {
    if email.is_empty() {
        return Err(error(field::EMAIL, "Your email address is required."));
    }
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !email.contains(char::is_whitespace)
    });
    if valid {
        Ok(())
    } else {
        Err(error(field::EMAIL, "Your email address is invalid."))
    }
}

/// `MM / YY`, `MM/YY`, `MMYY` or `MM/YYYY`; the card is good through the end of that month.
fn check_expiry(raw: &str, (year, month): (i32, u32)) -> Result<(), FieldError> {
    let incomplete = || {
        error(
            field::CARD_EXPIRY,
            "Your card's expiration date is incomplete.",
        )
    };
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '/')).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 4 | 6) {
        return Err(incomplete());
    }
    let exp_month: u32 = digits[..2].parse().map_err(|_| incomplete())?;
    let exp_year: i32 = match digits.len() {
        4 => 2000 + digits[2..].parse::<i32>().map_err(|_| incomplete())?,
        _ => digits[2..].parse().map_err(|_| incomplete())?,
    };
    if !(1..=12).contains(&exp_month) {
        return Err(error(
            field::CARD_EXPIRY,
            "Your card's expiration month is invalid.",
        ));
    }
    if exp_year < year {
        return Err(error(
            field::CARD_EXPIRY,
            "Your card's expiration year is in the past.",
        ));
    }
    if exp_year == year && exp_month < month {
        return Err(error(
            field::CARD_EXPIRY,
            "Your card's expiration date is in the past.",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: (i32, u32) = (2025, 6);

    fn card(number: &str, expiry: &str) -> PaymentForm {
        PaymentForm {
            email: "jenny@example.com".into(),
            name: "Jenny Rosen".into(),
            card_number: number.into(),
            card_expiry: expiry.into(),
            card_cvc: "123".into(),
            postal_code: "94103".into(),
            method: Method::Card,
            shipping: Shipping::default(),
        }
    }

    #[test]
    fn a_well_formed_card_form_gives_the_digits() {
        let payment = card("4242 4242 4242 4242", "12 / 34").validate(TODAY);
        assert_eq!(
            payment,
            Ok(Payment::Card {
                digits: "4242424242424242".into()
            })
        );
    }

    #[test]
    fn the_fields_are_read_by_their_ids() {
        let form = PaymentForm::parse(
            b"email=a%40b.co&cardholder-name=A+B&card-number=4242&card-expiry=12%2F34\
              &card-cvc=123&billing-postal-code=1&payment-method=bank_transfer",
        );
        assert_eq!(form.email, "a@b.co");
        assert_eq!(form.name, "A B");
        assert_eq!(form.card_expiry, "12/34");
        assert_eq!(form.method, Method::BankTransfer);
    }

    #[test]
    fn expiry_dates_in_the_past_are_refused() {
        assert_eq!(
            card("4242424242424242", "05/25")
                .validate(TODAY)
                .unwrap_err()
                .field,
            field::CARD_EXPIRY
        );
        assert!(card("4242424242424242", "06/25").validate(TODAY).is_ok());
        assert!(card("4242424242424242", "01/2026").validate(TODAY).is_ok());
        assert!(card("4242424242424242", "13/30").validate(TODAY).is_err());
        assert!(card("4242424242424242", "1/3").validate(TODAY).is_err());
    }

    #[test]
    fn a_number_failing_the_checksum_is_invalid() {
        let err = card("4242 4242 4242 4241", "12/34")
            .validate(TODAY)
            .unwrap_err();
        assert_eq!(err.message, "Your card number is invalid.");
    }

    #[test]
    fn a_bank_transfer_needs_no_card() {
        let form = PaymentForm {
            email: "jenny@example.com".into(),
            name: "Jenny Rosen".into(),
            method: Method::BankTransfer,
            ..PaymentForm::default()
        };
        assert_eq!(form.validate(TODAY), Ok(Payment::BankTransfer));
    }

    #[test]
    fn a_shipping_address_needs_its_parts_and_an_allowed_country() {
        let form = PaymentForm::parse(
            b"shipping-name=Jenny+Rosen&shipping-line1=1+Main+St&shipping-city=Ottawa\
              &shipping-postal-code=K1A&shipping-country=CA",
        );
        let allowed = ["US".to_string(), "CA".to_string()];
        let shipping = form.validate_shipping(&allowed).unwrap();
        assert_eq!(
            (shipping.city.as_str(), shipping.country.as_str()),
            ("Ottawa", "CA")
        );
        assert_eq!(
            form.validate_shipping(&allowed[..1]).unwrap_err().field,
            field::SHIPPING_COUNTRY
        );
        let mut incomplete = form.clone();
        incomplete.shipping.line1.clear();
        assert_eq!(
            incomplete.validate_shipping(&allowed).unwrap_err().field,
            field::SHIPPING_LINE1
        );
    }

    #[test]
    fn an_email_without_a_domain_is_invalid() {
        let mut form = card("4242424242424242", "12/34");
        form.email = "jenny@".into();
        assert_eq!(form.validate(TODAY).unwrap_err().field, field::EMAIL);
    }
}
