//! Payment Links: `POST /v1/payment_links`'s parameters and the fields of the object we read.
//!
//! A merchant shares a link's `url`; every customer who opens it gets a Checkout Session that
//! Stripe creates (its `payment_link` names the link), and after paying is redirected to
//! `after_completion[redirect][url]` with `{CHECKOUT_SESSION_ID}` filled in.

use serde::Deserialize;

use super::params::{push_shipping_countries, NewLineItem};

/// `POST /v1/payment_links` for catalog prices, redirecting to our success page after payment.
#[derive(Debug, Clone)]
pub struct CreatePaymentLink {
    pub line_items: Vec<NewLineItem>,
    /// Should contain the literal `{CHECKOUT_SESSION_ID}`; Stripe substitutes it on redirect.
    pub redirect_url: String,
    /// The countries Checkout asks a shipping address in; empty: no address is asked for.
    pub shipping_countries: Vec<String>,
}

impl CreatePaymentLink {
    pub fn to_form(&self) -> Vec<(String, String)> {
        let mut form = Vec::with_capacity(2 + 2 * self.line_items.len());
        for (i, item) in self.line_items.iter().enumerate() {
            form.push((format!("line_items[{i}][price]"), item.price.clone()));
            form.push((
                format!("line_items[{i}][quantity]"),
                item.quantity.to_string(),
            ));
        }
        form.push(("after_completion[type]".to_owned(), "redirect".to_owned()));
        form.push((
            "after_completion[redirect][url]".to_owned(),
            self.redirect_url.clone(),
        ));
        push_shipping_countries(&mut form, &self.shipping_countries);
        form
    }
}

/// The fields of a `payment_link` we read.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentLink {
    pub id: String,
    /// The public address customers open.
    pub url: String,
    pub active: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_keeps_the_placeholder_literal_and_items_use_brackets() {
        let params = CreatePaymentLink {
            line_items: vec![NewLineItem {
                price: "price_a".into(),
                quantity: 1,
            }],
            redirect_url: "https://shop.example/order/success?session_id={CHECKOUT_SESSION_ID}"
                .into(),
            shipping_countries: vec!["GB".into()],
        };
        let encoded = serde_urlencoded::to_string(params.to_form()).unwrap();
        assert!(
            encoded.contains("line_items%5B0%5D%5Bprice%5D=price_a"),
            "{encoded}"
        );
        assert!(encoded.contains("after_completion%5Btype%5D=redirect"));
        assert!(encoded.contains("%7BCHECKOUT_SESSION_ID%7D"));
    }
}
