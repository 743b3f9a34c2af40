//! `landing payment-links create`: a Payment Link per catalog price, for merchants who share
//! links instead of sending customers through the shop page.
//!
//! Each link redirects, after payment, to the same success page the shop's sessions use
//! (`<public base>/order/success?session_id={CHECKOUT_SESSION_ID}`), so a link's customer is
//! fulfilled and thanked exactly like a shop customer, by the page and by the webhook.

use shared::stripe::{CreatePaymentLink, NewLineItem, PaymentLink, StripeClient, StripeError};

/// A link created for one price.
#[derive(Debug, Clone)]
pub struct CreatedLink {
    pub price_id: String,
    pub link: PaymentLink,
}

/// Why no links were created.
#[derive(Debug, thiserror::Error)]
pub enum PaymentLinksError {
    #[error("listing the prices from Stripe failed")]
    Catalog(#[source] Box<StripeError>),
    #[error(
        "unknown price {0}: it is not an active price of this Stripe account \
         (see GET /v1/prices)"
    )]
    UnknownPrice(String),
    #[error("no prices to create links for: the Stripe account lists no active price")]
    EmptyCatalog,
    #[error("creating the payment link for {price_id} failed")]
    Create {
        price_id: String,
        #[source]
        source: Box<StripeError>,
    },
}

/// Which prices get a link: `only` when given (it must be an active price), otherwise the shop's
/// configured catalog (`landing.catalog`), or every active price when none is configured.
pub fn choose_prices(
    active: &[String],
    configured: &[String],
    only: Option<&str>,
) -> Result<Vec<String>, PaymentLinksError> {
    let known = |id: &str| active.iter().any(|p| p == id);
    if let Some(id) = only {
        return if known(id) {
            Ok(vec![id.to_owned()])
        } else {
            Err(PaymentLinksError::UnknownPrice(id.to_owned()))
        };
    }
    if configured.is_empty() {
        return match active {
            [] => Err(PaymentLinksError::EmptyCatalog),
            _ => Ok(active.to_vec()),
        };
    }
    if let Some(missing) = configured.iter().find(|id| !known(id)) {
        return Err(PaymentLinksError::UnknownPrice(missing.clone()));
    }
    Ok(configured.to_vec())
}

/// Creates one link (quantity 1) per chosen price, in order.
/// A link for a shippable product asks for an address in `shipping_countries`, as the shop's
/// checkout does.
pub async fn create_links(
    stripe: &StripeClient,
    public_base_url: &str,
    configured: &[String],
    shipping_countries: &[String],
    only: Option<&str>,
) -> Result<Vec<CreatedLink>, PaymentLinksError> {
    let listed = stripe
        .list_prices()
        .await
        .map_err(|e| PaymentLinksError::Catalog(Box::new(e)))?;
    let active: Vec<String> = listed.iter().map(|p| p.id.clone()).collect();
    let ships = |price_id: &str| {
        listed
            .iter()
            .any(|p| p.id == price_id && p.product.shippable == Some(true))
    };
    let prices = choose_prices(&active, configured, only)?;
    let redirect_url = crate::paths::success_url(public_base_url);
    // One key per run and price: a retried request returns the same link, a new run makes new
    // links (a merchant may want a fresh one after deactivating the old).
    let run = uuid::Uuid::new_v4();
    let mut created = Vec::with_capacity(prices.len());
    for price_id in prices {
        let params = CreatePaymentLink {
            line_items: vec![NewLineItem {
                price: price_id.clone(),
                quantity: 1,
            }],
            redirect_url: redirect_url.clone(),
            shipping_countries: if ships(&price_id) {
                shipping_countries.to_vec()
            } else {
                Vec::new()
            },
        };
        let link = stripe
            .create_payment_link(&params, &format!("payment-link-{run}-{price_id}"))
            .await
            .map_err(|source| PaymentLinksError::Create {
                price_id: price_id.clone(),
                source: Box::new(source),
            })?;
        created.push(CreatedLink { price_id, link });
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_redirect_is_our_success_page_with_the_placeholder() {
        assert_eq!(
            crate::paths::success_url("https://shop.example/"),
            "https://shop.example/order/success?session_id={CHECKOUT_SESSION_ID}"
        );
    }

    #[test]
    fn a_given_price_must_be_active_and_the_configured_catalog_wins_over_the_listed_one() {
        let active = ids(&["price_a", "price_b", "price_c"]);
        assert_eq!(
            choose_prices(&active, &[], Some("price_b")).unwrap(),
            ids(&["price_b"])
        );
        let err = choose_prices(&active, &[], Some("price_zzz")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown price price_zzz: it is not an active price of this Stripe account \
             (see GET /v1/prices)"
        );
        assert_eq!(choose_prices(&active, &[], None).unwrap(), active);
        assert_eq!(
            choose_prices(&active, &ids(&["price_c"]), None).unwrap(),
            ids(&["price_c"])
        );
        assert!(matches!(
            choose_prices(&active, &ids(&["price_gone"]), None),
            Err(PaymentLinksError::UnknownPrice(id)) if id == "price_gone"
        ));
        assert!(matches!(
            choose_prices(&[], &[], None),
            Err(PaymentLinksError::EmptyCatalog)
        ));
    }
}
