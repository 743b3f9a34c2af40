//! Stripe's test cards: which numbers pay and which are declined, and why.
//!
//! The numbers and messages follow <https://docs.stripe.com/testing>: `4242 4242 4242 4242`
//! pays, `4000 0000 0000 0002` is a generic decline, and a handful of others decline with a
//! specific reason. Any other well-formed number is declined as "not a test card", as Stripe's
//! test mode does.

/// Why a card did not pay; `message` is what the page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decline {
    /// Stripe's `decline_code` (or error `code` for number and CVC errors).
    pub code: &'static str,
    pub message: &'static str,
}

/// Cards that pay at once.
const APPROVED: &[&str] = &[
    "4242424242424242", // Visa
    "4000056655665556", // Visa (debit)
    "5555555555554444", // Mastercard
    "2223003122003222", // Mastercard (2-series)
    "5200828282828210", // Mastercard (debit)
    "378282246310005",  // American Express
    "6011111111111117", // Discover
];

/// Cards declined with a specific reason.
const DECLINED: &[(&str, Decline)] = &[
    (
        "4000000000000002",
        Decline {
            code: "generic_decline",
            message: "Your card was declined.",
        },
    ),
    (
        "4000000000009995",
        Decline {
            code: "insufficient_funds",
            message: "Your card has insufficient funds.",
        },
    ),
    (
        "4000000000009987",
        Decline {
            code: "lost_card",
            message: "Your card was declined.",
        },
    ),
    (
        "4000000000000069",
        Decline {
            code: "expired_card",
            message: "Your card has expired.",
        },
    ),
    (
        "4000000000000127",
        Decline {
            code: "incorrect_cvc",
            message: "Your card's security code is incorrect.",
        },
    ),
    (
        "4000000000000119",
        Decline {
            code: "processing_error",
            message: "An error occurred while processing your card. Try again in a little bit.",
        },
    ),
];

const NOT_A_TEST_CARD: Decline = Decline {
    code: "card_declined",
    message: "Your card was declined. Your request was in test mode, but used a non test card. \
              For a list of valid test cards, visit: https://stripe.com/docs/testing.",
};

/// Charges a card number (digits only, already checked with [`luhn_valid`]).
pub(crate) fn charge(digits: &str) -> Result<(), Decline> {
    if APPROVED.contains(&digits) {
        return Ok(());
    }
    match DECLINED.iter().find(|(number, _)| *number == digits) {
        Some((_, decline)) => Err(*decline),
        None => Err(NOT_A_TEST_CARD),
    }
}

/// The Luhn checksum every card number carries.
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_test_card_passes_the_luhn_check() {
        for number in APPROVED.iter().chain(DECLINED.iter().map(|(n, _)| n)) {
            assert!(luhn_valid(number), "{number}");
        }
        assert!(!luhn_valid("4242424242424241"));
    }

    #[test]
    fn four_two_pays_and_zero_two_is_declined() {
        assert_eq!(charge("4242424242424242"), Ok(()));
        assert_eq!(
            charge("4000000000000002").unwrap_err().message,
            "Your card was declined."
        );
    }

    #[test]
    fn an_unknown_valid_number_is_declined_as_not_a_test_card() {
        assert!(luhn_valid("4111111111111111"));
        assert_eq!(
            charge("4111111111111111").unwrap_err().code,
            "card_declined"
        );
    }
}
