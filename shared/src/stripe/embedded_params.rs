//! `POST /v1/checkout/sessions` for the embedded form (`ui_mode=embedded`): Stripe.js mounts
//! it on our own page with the session's `client_secret`, and sends the customer to
//! `return_url` afterwards. Kept beside [`super::params::CreateCheckoutSession`] rather than in
//! it because the two modes take different redirect parameters (Stripe refuses `success_url`
//! and `cancel_url` here).

use super::params::{push_shipping_countries, CheckoutMode, NewLineItem};

/// An embedded-form Checkout Session.
#[derive(Debug, Clone)]
pub struct CreateEmbeddedCheckoutSession {
    pub mode: CheckoutMode,
    pub line_items: Vec<NewLineItem>,
    /// Must contain the literal `{CHECKOUT_SESSION_ID}`; Stripe substitutes it on return.
    pub return_url: String,
    /// As in [`super::params::CreateCheckoutSession::shipping_countries`].
    pub shipping_countries: Vec<String>,
}

impl CreateEmbeddedCheckoutSession {
    pub fn to_form(&self) -> Vec<(String, String)> {
        let mut form = vec![
            ("mode".to_owned(), self.mode.as_str().to_owned()),
            ("ui_mode".to_owned(), "embedded".to_owned()),
            ("return_url".to_owned(), self.return_url.clone()),
        ];
        for (i, item) in self.line_items.iter().enumerate() {
            form.push((format!("line_items[{i}][price]"), item.price.clone()));
            form.push((
                format!("line_items[{i}][quantity]"),
                item.quantity.to_string(),
            ));
        }
        push_shipping_countries(&mut form, &self.shipping_countries);
        form
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_asks_for_the_embedded_form_with_a_literal_placeholder() {
        let params = CreateEmbeddedCheckoutSession {
            mode: CheckoutMode::Payment,
            line_items: vec![NewLineItem {
                price: "price_a".into(),
                quantity: 1,
            }],
            return_url: "https://shop.example/order/success?session_id={CHECKOUT_SESSION_ID}"
                .into(),
            shipping_countries: Vec::new(),
        };
        let encoded = serde_urlencoded::to_string(params.to_form()).unwrap();
        assert!(encoded.contains("ui_mode=embedded"), "{encoded}");
        assert!(encoded.starts_with("mode=payment&"), "{encoded}");
        assert!(encoded.contains("%7BCHECKOUT_SESSION_ID%7D"));
        assert!(!encoded.contains("success_url"));
        assert!(!encoded.contains("shipping_address_collection"));
    }
}
