//! What the shop sells: the configured price ids (`landing.catalog`), or every active price the
//! Stripe account lists when none are configured, with product names and amounts.
//!
//! Stripe is the source of truth for prices, but asking it on every shop-page view would spend
//! the API budget that fulfillment needs; the list is cached for [`CATALOG_TTL`]. A refresh that
//! fails keeps serving the last good list, so a Stripe outage does not close the shop for
//! customers who already reached it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::stripe::{CatalogPrice, StripeClient, StripeError};
use shared::{Currency, Money};
use tokio::sync::Mutex;

/// How long a fetched catalog is served before it is fetched again.
pub const CATALOG_TTL: Duration = Duration::from_secs(300);

/// One price on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub price_id: String,
    pub name: String,
    pub description: Option<String>,
    pub unit_amount: Money,
}

impl Offer {
    /// Prices we can sell by the unit: a fixed amount in a currency we can display.
    fn from_price(price: CatalogPrice) -> Option<Self> {
        let currency = Currency::parse(&price.currency)?;
        Some(Self {
            name: price.product.name,
            description: price.product.description.filter(|d| !d.trim().is_empty()),
            unit_amount: Money::new(price.unit_amount?, currency),
            price_id: price.id,
        })
    }
}

/// The offers, fetched on demand and cached.
pub struct Catalog {
    stripe: StripeClient,
    /// Configured price ids, in display order; empty: everything active.
    configured: Vec<String>,
    /// A tokio mutex because it is held across the Stripe call: concurrent shop-page views
    /// during a refresh wait for one fetch instead of each making their own.
    cache: Mutex<Option<Cached>>,
}

struct Cached {
    fetched: Instant,
    offers: Arc<Vec<Offer>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("configured", &self.configured)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    pub fn new(stripe: StripeClient, configured: Vec<String>) -> Self {
        Self {
            stripe,
            configured,
            cache: Mutex::new(None),
        }
    }

    /// The offers in display order.
    pub async fn offers(&self) -> Result<Arc<Vec<Offer>>, StripeError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = cache.as_ref() {
            if cached.fetched.elapsed() < CATALOG_TTL {
                return Ok(cached.offers.clone());
            }
        }
        match self.fetch().await {
            Ok(offers) => {
                let offers = Arc::new(offers);
                *cache = Some(Cached {
                    fetched: Instant::now(),
                    offers: offers.clone(),
                });
                Ok(offers)
            }
            Err(e) => match cache.as_ref() {
                Some(stale) => {
                    tracing::warn!(error = %e, "catalog refresh failed; serving the last good list");
                    Ok(stale.offers.clone())
                }
                None => Err(e),
            },
        }
    }

    /// The offer for `price_id`, if the shop sells it.
    pub async fn find(&self, price_id: &str) -> Result<Option<Offer>, StripeError> {
        Ok(self
            .offers()
            .await?
            .iter()
            .find(|o| o.price_id == price_id)
            .cloned())
    }

    async fn fetch(&self) -> Result<Vec<Offer>, StripeError> {
        let listed: Vec<Offer> = self
            .stripe
            .list_prices()
            .await?
            .into_iter()
            .filter_map(Offer::from_price)
            .collect();
        Ok(select(listed, &self.configured))
    }
}

/// The configured ids in their configured order, or everything when none are configured.
fn select(listed: Vec<Offer>, configured: &[String]) -> Vec<Offer> {
    if configured.is_empty() {
        return listed;
    }
    configured
        .iter()
        .filter_map(|id| {
            let offer = listed.iter().find(|o| &o.price_id == id).cloned();
            if offer.is_none() {
                tracing::warn!(price_id = %id, "a configured price is not an active, fixed-amount price; not offered");
            }
            offer
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(id: &str) -> Offer {
        Offer {
            price_id: id.into(),
            name: id.into(),
            description: None,
            unit_amount: Money::new(100, Currency::parse("usd").unwrap()),
        }
    }

    #[test]
    fn configured_prices_are_offered_in_their_configured_order() {
        let listed = vec![offer("price_a"), offer("price_b"), offer("price_c")];
        let chosen = select(
            listed,
            &["price_c".into(), "price_x".into(), "price_a".into()],
        );
        let ids: Vec<_> = chosen.iter().map(|o| o.price_id.as_str()).collect();
        assert_eq!(ids, ["price_c", "price_a"]);
    }

    #[test]
    fn without_configuration_everything_listed_is_offered() {
        let listed = vec![offer("price_a"), offer("price_b")];
        assert_eq!(select(listed.clone(), &[]), listed);
    }
}
