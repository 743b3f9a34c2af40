//! The prices and products the simulator knows, immutable after start-up.

use std::collections::HashMap;

use crate::config::{CatalogPrice, Recurring};

/// A price, from the catalog or created inline from `price_data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PriceRecord {
    pub id: String,
    pub product_id: String,
    /// Carried along so a line item can be described without a product lookup.
    pub product_name: String,
    pub unit_amount: i64,
    pub currency: String,
    pub created: i64,
    pub active: bool,
    /// `Some` for a subscription price; such a price sells only in `mode=subscription`.
    pub recurring: Option<Recurring>,
}

/// A product: what a price sells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProductRecord {
    pub id: String,
    pub name: String,
    pub created: i64,
    /// The first catalog price of the product, as Stripe's `default_price`.
    pub default_price: Option<String>,
    pub shippable: Option<bool>,
}

#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// In configuration order, which is the order `GET /v1/prices` lists them in.
    pub prices: Vec<PriceRecord>,
    pub products: Vec<ProductRecord>,
    price_index: HashMap<String, usize>,
    product_index: HashMap<String, usize>,
}

impl Catalog {
    /// Builds the catalog; `created` stamps every object with the start-up time.
    pub(crate) fn new(entries: &[CatalogPrice], created: i64) -> Self {
        let mut catalog = Catalog::default();
        for entry in entries {
            if !catalog.product_index.contains_key(&entry.product_id) {
                catalog
                    .product_index
                    .insert(entry.product_id.clone(), catalog.products.len());
                catalog.products.push(ProductRecord {
                    id: entry.product_id.clone(),
                    name: entry.product_name.clone(),
                    created,
                    default_price: Some(entry.price_id.clone()),
                    shippable: entry.shippable,
                });
            }
            catalog
                .price_index
                .insert(entry.price_id.clone(), catalog.prices.len());
            catalog.prices.push(PriceRecord {
                id: entry.price_id.clone(),
                product_id: entry.product_id.clone(),
                product_name: entry.product_name.clone(),
                unit_amount: entry.unit_amount,
                currency: entry.currency.clone(),
                created,
                active: entry.active,
                recurring: entry.recurring.clone(),
            });
        }
        catalog
    }

    pub(crate) fn price(&self, id: &str) -> Option<&PriceRecord> {
        self.price_index.get(id).map(|&i| &self.prices[i])
    }

    pub(crate) fn product(&self, id: &str) -> Option<&ProductRecord> {
        self.product_index.get(id).map(|&i| &self.products[i])
    }

    /// Position of a price in list order, for pagination cursors.
    pub(crate) fn price_position(&self, id: &str) -> Option<usize> {
        self.price_index.get(id).copied()
    }

    /// Position of a product in list order, for pagination cursors.
    pub(crate) fn product_position(&self, id: &str) -> Option<usize> {
        self.product_index.get(id).copied()
    }
}
