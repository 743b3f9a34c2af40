//! What the shop sells: the configured price ids (`landing.catalog`), or every active price the
//! Stripe account lists when none are configured, with product names and amounts.
//!
//! Stripe is the source of truth for prices, but asking it on every shop-page view would spend
//! the API budget that fulfillment needs; the list is cached for `landing.catalog_ttl_secs`.
//! Past that, a view still gets the last good list at once while one refresh runs in the
//! background (stale-while-revalidate, one refresh at a time). A refresh that fails keeps the
//! last good list and is not retried for [`RETRY_AFTER_FAILURE`], so a Stripe outage neither
//! closes the shop for customers nor makes them queue behind retried fetches. Only before the
//! first list ever arrives does a view wait, for [`FIRST_LOAD_WAIT`] at most, and then says that
//! the catalog is unavailable.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt, Shared};
use shared::errors::error_chain;
use shared::stripe::{CatalogPrice, Recurring, StripeClient, StripeError};
use shared::{Currency, Money};
use tracing::Instrument;

/// How long a view waits for the first catalog when none has been fetched yet: a healthy Stripe
/// lists prices in well under a second, and a customer is better served by a prompt "retry"
/// page than by a spinner that lasts as long as our Stripe client's retries.
pub const FIRST_LOAD_WAIT: Duration = Duration::from_secs(2);

/// After a failed refresh, the next one starts no sooner than this: during an outage the shop
/// keeps its last good list without spending the Stripe budget on one retried fetch after
/// another.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// One price on offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub price_id: String,
    pub name: String,
    pub description: Option<String>,
    pub unit_amount: Money,
    /// Physical goods: checkout asks for a shipping address.
    pub shippable: bool,
    /// A subscription price: a cart holding one checks out as a subscription.
    pub recurring: Option<Recurring>,
}

impl Offer {
    /// Prices we can sell by the unit: a fixed amount in a currency we can display.
    fn from_price(price: CatalogPrice) -> Option<Self> {
        let currency = Currency::parse(&price.currency)?;
        Some(Self {
            name: price.product.name,
            description: price.product.description.filter(|d| !d.trim().is_empty()),
            shippable: price.product.shippable == Some(true),
            recurring: price.recurring,
            unit_amount: Money::new(price.unit_amount?, currency),
            price_id: price.id,
        })
    }
}

/// Why there is no catalog to show.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// The last fetch failed and no list was ever fetched (shared by every view that waited
    /// for it, hence the `Arc`).
    #[error("fetching the catalog from Stripe failed")]
    Stripe(#[source] Arc<StripeError>),
    /// No list yet: the first fetch is still running, or failed moments ago.
    #[error("the catalog has not been fetched yet")]
    NotLoaded,
}

impl CatalogError {
    /// Whether retrying later may help (a 503 page), or it is our fault (a 500 page).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Stripe(e) => e.is_transient(),
            Self::NotLoaded => true,
        }
    }
}

/// The offers, fetched on demand and cached.
pub struct Catalog {
    fetcher: Fetcher,
    ttl: Duration,
    /// A `std` mutex: held only to read or update the cache, never across an `.await` (the
    /// fetch runs in its own task), so no view ever waits behind Stripe for it.
    cache: Arc<Mutex<Cache>>,
}

/// What a refresh needs, cloned into its task.
#[derive(Clone)]
struct Fetcher {
    stripe: StripeClient,
    /// Configured price ids, in display order; empty: everything active.
    configured: Arc<Vec<String>>,
}

/// A refresh that any number of views can await; it runs whether or not anyone does.
type Refresh = Shared<BoxFuture<'static, Result<Arc<Vec<Offer>>, CatalogError>>>;

#[derive(Default)]
struct Cache {
    /// The last list fetched, and when.
    last_good: Option<(Instant, Arc<Vec<Offer>>)>,
    /// The refresh running now, if any.
    refreshing: Option<Refresh>,
    /// When the last refresh failed, if it did (cleared by a success).
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("configured", &self.fetcher.configured)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    pub fn new(stripe: StripeClient, configured: Vec<String>, ttl: Duration) -> Self {
        Self {
            fetcher: Fetcher {
                stripe,
                configured: Arc::new(configured),
            },
            ttl,
            cache: Arc::default(),
        }
    }

    /// The offers in display order: the cached list (refreshed behind it once expired), or,
    /// before the first list, the first fetch's result within [`FIRST_LOAD_WAIT`].
    pub async fn offers(&self) -> Result<Arc<Vec<Offer>>, CatalogError> {
        let first_load = {
            let mut cache = lock(&self.cache);
            if let Some((fetched, offers)) = &cache.last_good {
                let offers = offers.clone();
                if fetched.elapsed() >= self.ttl {
                    self.refresh(&mut cache);
                }
                return Ok(offers);
            }
            self.refresh(&mut cache).ok_or(CatalogError::NotLoaded)?
        };
        tokio::time::timeout(FIRST_LOAD_WAIT, first_load)
            .await
            .unwrap_or(Err(CatalogError::NotLoaded))
    }

    /// The offer for `price_id`, if the shop sells it.
    pub async fn find(&self, price_id: &str) -> Result<Option<Offer>, CatalogError> {
        Ok(self
            .offers()
            .await?
            .iter()
            .find(|o| o.price_id == price_id)
            .cloned())
    }

    /// The running refresh, or a new one; `None` while a failed one is too recent to retry.
    fn refresh(&self, cache: &mut Cache) -> Option<Refresh> {
        if let Some(running) = &cache.refreshing {
            return Some(running.clone());
        }
        if cache
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
        {
            return None;
        }
        let fetcher = self.fetcher.clone();
        let shared_cache = self.cache.clone();
        let task = tokio::spawn(
            async move {
                // Declared first, dropped last: once the outcome is stored, and also if the
                // fetch panics, so that a later view can start another refresh.
                let _done = RefreshDone(shared_cache.clone());
                let result = fetcher.fetch().await.map(Arc::new);
                let mut cache = lock(&shared_cache);
                match result {
                    Ok(offers) => {
                        cache.last_good = Some((Instant::now(), offers.clone()));
                        cache.failed_at = None;
                        Ok(offers)
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = %shared::errors::error_chain(&e),
                            serving_last_good = cache.last_good.is_some(),
                            "the catalog refresh failed"
                        );
                        cache.failed_at = Some(Instant::now());
                        Err(CatalogError::Stripe(Arc::new(e)))
                    }
                }
            }
            .instrument(tracing::info_span!("catalog_refresh")),
        );
        let refresh = async move {
            task.await.unwrap_or_else(|e| {
                tracing::error!(error = %error_chain(&e), "the catalog refresh task failed");
                Err(CatalogError::NotLoaded)
            })
        }
        .boxed()
        .shared();
        cache.refreshing = Some(refresh.clone());
        Some(refresh)
    }
}

/// Marks the refresh as finished when dropped. It needs the lock, which [`Catalog::refresh`]
/// holds until the refresh is registered, so it never clears too early.
struct RefreshDone(Arc<Mutex<Cache>>);

impl Drop for RefreshDone {
    fn drop(&mut self) {
        lock(&self.0).refreshing = None;
    }
}

impl Fetcher {
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

/// A panic elsewhere while holding the lock leaves the cache consistent (single-field writes),
/// so a poisoned lock is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            shippable: false,
            recurring: None,
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
