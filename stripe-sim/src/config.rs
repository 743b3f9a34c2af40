//! What a simulator is started with: accepted keys, the price catalog, the public base URL, and
//! where and how events are delivered (the types of the latter live in `webhooks::config`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::webhooks::config::{
    default_retry_schedule, DelayedPaymentResolution, WebhookEndpoint, WebhookFaults,
    DEFAULT_ATTEMPT_TIMEOUT, DEFAULT_REDIRECT_WAIT, MAX_RETRIES,
};

/// Settings of one simulator instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Secret keys accepted on `/v1/*`. Empty: any `sk_test_…` key is accepted, which is what
    /// tests want; a deployment lists its key so a misconfigured client fails loudly.
    pub api_keys: Vec<String>,
    /// The prices `line_items[i][price]` may name and `GET /v1/prices` lists.
    pub catalog: Vec<CatalogPrice>,
    /// Base of `session.url` (`{base}/c/pay/{id}`): the address a browser reaches the simulator
    /// at, which differs from the bound address behind Docker or a proxy. Default: the bound
    /// address.
    pub public_base_url: Option<String>,
    /// Where every event is POSTed, signed. Empty (the default): events are only listed.
    pub webhook_endpoints: Vec<WebhookEndpoint>,
    /// How long the payment page waits for every endpoint's 2xx before redirecting anyway.
    pub redirect_wait: Duration,
    /// Delay before each retry of a delivery that got no 2xx; its length is the number of
    /// retries.
    pub retry_schedule: Vec<Duration>,
    /// How long one delivery attempt may take before it counts as a timeout.
    pub attempt_timeout: Duration,
    /// How delayed (bank transfer) payments settle by themselves; `None`: only through the
    /// control API.
    pub delayed_payment: Option<DelayedPaymentResolution>,
    /// Delivery faults armed from the start.
    pub webhook_faults: WebhookFaults,
    /// The account's rate limit: `/v1/` requests admitted in any one second, whichever client
    /// sends them; past it, 429 `rate_limit` as Stripe answers (25 in test mode, 100 live).
    /// `None` (the default): unlimited.
    pub rate_limit_per_sec: Option<NonZeroU32>,
    /// The account's business name, which the hosted payment page shows above the amount: the
    /// merchant's shop, so the customer recognises whom they pay.
    pub business_name: String,
}

/// The business name of an account nobody named; the shop's default name, so the two pages
/// agree out of the box.
pub const DEFAULT_BUSINESS_NAME: &str = "Corner Store";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            api_keys: Vec::new(),
            catalog: default_catalog(),
            public_base_url: None,
            webhook_endpoints: Vec::new(),
            redirect_wait: DEFAULT_REDIRECT_WAIT,
            retry_schedule: default_retry_schedule(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            delayed_payment: None,
            webhook_faults: WebhookFaults::default(),
            rate_limit_per_sec: None,
            business_name: DEFAULT_BUSINESS_NAME.to_string(),
        }
    }
}

/// Rejects delivery settings that could not work: a bad endpoint, a zero attempt timeout, an
/// absurd number of retries.
pub fn validate_delivery(config: &SimConfig) -> anyhow::Result<()> {
    for endpoint in &config.webhook_endpoints {
        endpoint.validate().map_err(anyhow::Error::msg)?;
    }
    if config.attempt_timeout.is_zero() {
        bail!("the webhook attempt timeout must be more than zero");
    }
    if config.retry_schedule.len() > MAX_RETRIES {
        bail!(
            "the webhook retry schedule has {} retries; at most {MAX_RETRIES} are allowed",
            config.retry_schedule.len()
        );
    }
    Ok(())
}

/// One price of the catalog, with the product it sells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogPrice {
    pub price_id: String,
    pub product_id: String,
    pub product_name: String,
    /// In the currency's minor unit (cents; yen; 1/1000 dinar).
    pub unit_amount: i64,
    /// Lowercase ISO code, as Stripe writes it.
    pub currency: String,
    /// `false`: an archived price, which Stripe lists but refuses in new Payment Links.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// The product's `shippable`: `true` for physical goods a shop asks an address for.
    #[serde(default)]
    pub shippable: Option<bool>,
    /// A subscription price: billed every `interval_count` `interval`s. `None`: one-time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurring: Option<Recurring>,
}

/// A price's `recurring`: how often a subscription to it is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year`.
    pub interval: String,
    #[serde(default = "one")]
    pub interval_count: u32,
}

fn one() -> u32 {
    1
}

impl Recurring {
    /// Stripe's longest billing period is three years.
    const MAX_DAYS: u32 = 3 * 365;

    pub fn monthly() -> Self {
        Recurring {
            interval: "month".into(),
            interval_count: 1,
        }
    }

    /// Stripe's rule: a known interval, and at most three years in all.
    pub fn check(&self) -> Result<(), String> {
        let days = match self.interval.as_str() {
            "day" => 1,
            "week" => 7,
            "month" => 30,
            "year" => 365,
            other => {
                return Err(format!(
                    "Invalid interval: must be one of day, week, month or year (got {other})."
                ))
            }
        };
        if self.interval_count == 0 || self.interval_count.saturating_mul(days) > Self::MAX_DAYS {
            return Err("The maximum billing period is 3 years.".into());
        }
        Ok(())
    }
}

fn active_by_default() -> bool {
    true
}

impl CatalogPrice {
    fn new(price: &str, product: &str, name: &str, unit_amount: i64, currency: &str) -> Self {
        CatalogPrice {
            price_id: price.into(),
            product_id: product.into(),
            product_name: name.into(),
            unit_amount,
            currency: currency.into(),
            active: true,
            shippable: Some(true),
            recurring: None,
        }
    }

    fn recurring(mut self, recurring: Recurring) -> Self {
        self.recurring = Some(recurring);
        self
    }

    fn not_shipped(mut self) -> Self {
        self.shippable = None;
        self
    }
}

/// The seeded catalog: three USD prices, plus a zero-decimal (JPY) and a three-decimal (KWD)
/// currency so that amount display is exercised end to end. Every product is `shippable`
/// except the sticker pack, so a cart may or may not need a shipping address. The pattern
/// library is a monthly subscription (a digital service), so a cart may be one.
pub fn default_catalog() -> Vec<CatalogPrice> {
    vec![
        CatalogPrice::new("price_tshirt", "prod_tshirt", "Stripe T-shirt", 2000, "usd"),
        CatalogPrice::new("price_mug", "prod_mug", "Stripe Mug", 1200, "usd"),
        CatalogPrice::new(
            "price_stickers",
            "prod_stickers",
            "Sticker pack",
            500,
            "usd",
        )
        .not_shipped(),
        CatalogPrice::new(
            "price_tenugui",
            "prod_tenugui",
            "Tenugui towel",
            1500,
            "jpy",
        ),
        // 12.500 KWD: the dinar has three decimals.
        CatalogPrice::new(
            "price_dallah",
            "prod_dallah",
            "Dallah coffee pot",
            12500,
            "kwd",
        ),
        CatalogPrice::new(
            "price_pattern_library",
            "prod_pattern_library",
            "Pattern library membership",
            900,
            "usd",
        )
        .not_shipped()
        .recurring(Recurring::monthly()),
    ]
}

/// Reads a catalog file: a JSON array of `{price_id, product_id, product_name, unit_amount,
/// currency}`, optionally with `active` and `shippable`.
pub fn load_catalog(path: &Path) -> anyhow::Result<Vec<CatalogPrice>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the catalog file {}", path.display()))?;
    let catalog: Vec<CatalogPrice> = serde_json::from_str(&text)
        .with_context(|| format!("parsing the catalog file {}", path.display()))?;
    validate_catalog(&catalog).with_context(|| format!("in {}", path.display()))?;
    Ok(catalog)
}

/// Rejects a catalog the API could not serve consistently.
/// A business name is 1 to 80 characters, not all blank (the shop's own rule).
pub fn validate_business_name(name: &str) -> anyhow::Result<()> {
    let length = name.trim().chars().count();
    if length == 0 || name.chars().count() > 80 {
        bail!("the business name (--business-name, STRIPE_SIM_BUSINESS_NAME) must be 1 to 80 characters");
    }
    Ok(())
}

pub fn validate_catalog(catalog: &[CatalogPrice]) -> anyhow::Result<()> {
    let mut product_names: HashMap<&str, &str> = HashMap::new();
    let mut price_ids = std::collections::HashSet::new();
    for price in catalog {
        let id = &price.price_id;
        if !id.starts_with("price_") {
            bail!("catalog price id {id:?} must start with price_");
        }
        if !price_ids.insert(id.as_str()) {
            bail!("catalog price id {id:?} appears twice");
        }
        if !price.product_id.starts_with("prod_") {
            bail!(
                "catalog product id {:?} must start with prod_",
                price.product_id
            );
        }
        if price.unit_amount < 0 {
            bail!("catalog price {id:?} has a negative unit_amount");
        }
        if !is_currency_code(&price.currency) {
            bail!(
                "catalog price {id:?} has currency {:?}; expected a lowercase three-letter code",
                price.currency
            );
        }
        if let Some(recurring) = &price.recurring {
            recurring
                .check()
                .map_err(|e| anyhow::anyhow!("catalog price {id:?}: {e}"))?;
        }
        let name = product_names
            .entry(&price.product_id)
            .or_insert(&price.product_name);
        if *name != price.product_name {
            bail!(
                "catalog product {:?} has two names: {name:?} and {:?}",
                price.product_id,
                price.product_name
            );
        }
    }
    Ok(())
}

/// A lowercase three-letter code, which is how Stripe spells currencies.
pub(crate) fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalog_is_valid_and_covers_three_currency_exponents() {
        let catalog = default_catalog();
        validate_catalog(&catalog).unwrap();
        let usd = catalog.iter().filter(|p| p.currency == "usd").count();
        assert!(usd >= 3);
        assert!(catalog.iter().any(|p| p.currency == "jpy"));
        assert!(catalog.iter().any(|p| p.currency == "kwd"));
    }

    #[test]
    fn a_duplicate_price_is_rejected() {
        let mut catalog = default_catalog();
        catalog.push(catalog[0].clone());
        let err = validate_catalog(&catalog).unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn a_recurring_price_needs_a_known_interval_of_at_most_three_years() {
        let price = |interval: &str, interval_count| {
            vec![
                CatalogPrice::new("price_a", "prod_a", "A", 1, "usd").recurring(Recurring {
                    interval: interval.into(),
                    interval_count,
                }),
            ]
        };
        validate_catalog(&price("year", 3)).unwrap();
        validate_catalog(&price("week", 156)).unwrap();
        for (interval, count) in [("year", 4), ("month", 0), ("fortnight", 1)] {
            let err = validate_catalog(&price(interval, count)).unwrap_err();
            assert!(
                err.to_string().contains("price_a"),
                "{interval} {count}: {err}"
            );
        }
    }

    #[test]
    fn an_uppercase_currency_is_rejected() {
        let catalog = vec![CatalogPrice::new("price_a", "prod_a", "A", 1, "USD")];
        assert!(validate_catalog(&catalog).is_err());
    }
}
