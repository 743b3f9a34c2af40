//! Request parameters in Stripe's form encoding: `line_items[0][price]=price_…`.

use std::collections::BTreeMap;

/// One line of a new Checkout Session: a catalog price and a quantity.
#[derive(Debug, Clone)]
pub struct NewLineItem {
    pub price: String,
    pub quantity: u32,
}

/// What a session sells: a one-time payment, or a subscription (at least one recurring price;
/// one-time prices beside it go on the first invoice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutMode {
    Payment,
    Subscription,
}

impl CheckoutMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Subscription => "subscription",
        }
    }
}

/// `POST /v1/checkout/sessions` for the hosted payment page.
#[derive(Debug, Clone)]
pub struct CreateCheckoutSession {
    pub mode: CheckoutMode,
    pub line_items: Vec<NewLineItem>,
    /// Must contain the literal `{CHECKOUT_SESSION_ID}`; Stripe substitutes it on redirect.
    pub success_url: String,
    pub cancel_url: String,
    pub customer_email: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// The countries Checkout asks a shipping address in; empty: no address is asked for.
    pub shipping_countries: Vec<String>,
}

impl CreateCheckoutSession {
    pub fn to_form(&self) -> Vec<(String, String)> {
        let mut form = vec![
            ("mode".to_owned(), self.mode.as_str().to_owned()),
            ("success_url".to_owned(), self.success_url.clone()),
            ("cancel_url".to_owned(), self.cancel_url.clone()),
        ];
        for (i, item) in self.line_items.iter().enumerate() {
            form.push((format!("line_items[{i}][price]"), item.price.clone()));
            form.push((
                format!("line_items[{i}][quantity]"),
                item.quantity.to_string(),
            ));
        }
        if let Some(email) = &self.customer_email {
            form.push(("customer_email".to_owned(), email.clone()));
        }
        if let Some(reference) = &self.client_reference_id {
            form.push(("client_reference_id".to_owned(), reference.clone()));
        }
        for (key, value) in &self.metadata {
            form.push((format!("metadata[{key}]"), value.clone()));
        }
        push_shipping_countries(&mut form, &self.shipping_countries);
        form
    }
}

/// `shipping_address_collection[allowed_countries][i]`, when any country is given.
pub(super) fn push_shipping_countries(form: &mut Vec<(String, String)>, countries: &[String]) {
    for (i, country) in countries.iter().enumerate() {
        form.push((
            format!("shipping_address_collection[allowed_countries][{i}]"),
            country.clone(),
        ));
    }
}

/// Which events `GET /v1/events` returns.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Sent as `types[]` (several) or `type` (one; may hold a `*` wildcard).
    pub types: Vec<String>,
    /// `created[gte]`, unix seconds.
    pub created_gte: Option<i64>,
    /// `created[lte]`, unix seconds.
    pub created_lte: Option<i64>,
}

impl EventFilter {
    pub fn to_query(&self) -> Vec<(String, String)> {
        let mut query = Vec::new();
        match self.types.as_slice() {
            [] => {}
            [one] => query.push(("type".to_owned(), one.clone())),
            many => query.extend(many.iter().map(|t| ("types[]".to_owned(), t.clone()))),
        }
        if let Some(gte) = self.created_gte {
            query.push(("created[gte]".to_owned(), gte.to_string()));
        }
        if let Some(lte) = self.created_lte {
            query.push(("created[lte]".to_owned(), lte.to_string()));
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_items_use_bracket_notation_and_the_placeholder_stays_literal() {
        let params = CreateCheckoutSession {
            mode: CheckoutMode::Subscription,
            line_items: vec![NewLineItem {
                price: "price_a".into(),
                quantity: 2,
            }],
            success_url: "https://shop.example/order/success?session_id={CHECKOUT_SESSION_ID}"
                .into(),
            cancel_url: "https://shop.example/order/cancel".into(),
            customer_email: None,
            client_reference_id: None,
            metadata: BTreeMap::from([("cart".into(), "42".into())]),
            shipping_countries: vec!["US".into(), "CA".into()],
        };
        let encoded = serde_urlencoded::to_string(params.to_form()).unwrap();
        assert!(encoded.starts_with("mode=subscription&"), "{encoded}");
        assert!(
            encoded.contains("line_items%5B0%5D%5Bprice%5D=price_a"),
            "{encoded}"
        );
        assert!(encoded.contains("line_items%5B0%5D%5Bquantity%5D=2"));
        assert!(encoded.contains("metadata%5Bcart%5D=42"));
        assert!(encoded.contains("%7BCHECKOUT_SESSION_ID%7D"));
        assert!(encoded.contains("shipping_address_collection%5Ballowed_countries%5D%5B1%5D=CA"));
    }

    #[test]
    fn one_type_is_sent_as_type_and_several_as_types() {
        let one = EventFilter {
            types: vec!["checkout.session.*".into()],
            ..Default::default()
        };
        assert_eq!(one.to_query()[0].0, "type");
        let many = EventFilter {
            types: vec!["a".into(), "b".into()],
            created_gte: Some(5),
            created_lte: None,
        };
        let q = many.to_query();
        assert_eq!(q.iter().filter(|(k, _)| k == "types[]").count(), 2);
        assert!(q.contains(&("created[gte]".into(), "5".into())));
    }
}
