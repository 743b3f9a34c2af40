//! `product_access`, `licence_keys` and `order_access`: digital goods and services.
//!
//! A product may give the customer a link (a download, a course, an account activation page)
//! and one licence key per unit from its pool. The grant is part of the one-statement
//! fulfillment ([`super::fulfilled`]): under the session's advisory lock and only once the order
//! is written, so what it writes commits exactly once, with the order. Keys are taken with
//! `FOR UPDATE SKIP LOCKED`: two sessions fulfilled at the same moment never take the same key,
//! and a fulfillment that fails ([`KeysExhausted`]) leaves its keys free.

use sqlx::PgExecutor;

/// What one order gave: a link, a licence key, or both.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
pub struct Access {
    pub product_id: String,
    /// What the customer now has ("The Rust Book (PDF)").
    pub title: String,
    pub url: Option<String>,
    pub licence_key: Option<String>,
}

/// What a product gives, as `worker access set` configured it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProductAccess {
    pub product_id: String,
    pub title: String,
    pub url: Option<String>,
    pub licence_keys: bool,
}

/// Fewer free keys than units bought: the order waits (its fulfillment is retried) until more
/// keys are added. Raised in SQL by `licence_keys_exhausted()` (a migration), which fails the
/// whole fulfillment statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Deserialize)]
#[error("the licence key pool of {product_id} has {free} free key(s); {wanted} are needed")]
pub struct KeysExhausted {
    pub product_id: String,
    pub wanted: i64,
    pub free: i64,
}

impl KeysExhausted {
    /// The SQLSTATE `licence_keys_exhausted()` raises.
    pub const SQLSTATE: &'static str = "LK001";

    /// The shortage `e` reports, if it is one (its message is the JSON of `Self`).
    pub fn of(e: &sqlx::Error) -> Option<Self> {
        match e {
            sqlx::Error::Database(db) if db.code().as_deref() == Some(Self::SQLSTATE) => {
                serde_json::from_str(db.message()).ok()
            }
            _ => None,
        }
    }
}

/// Sets (or replaces) what `product_id` gives. Orders fulfilled before keep what they got.
pub async fn set(executor: impl PgExecutor<'_>, access: &ProductAccess) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO product_access (product_id, title, url, licence_keys) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (product_id) DO UPDATE SET title = EXCLUDED.title, url = EXCLUDED.url, \
             licence_keys = EXCLUDED.licence_keys, updated_at = now()",
    )
    .bind(&access.product_id)
    .bind(&access.title)
    .bind(&access.url)
    .bind(access.licence_keys)
    .execute(executor)
    .await?;
    Ok(())
}

/// Adds `keys` to the pool of `product_id`; a key already in any pool is skipped. Returns how
/// many were added.
pub async fn add_keys(
    executor: impl PgExecutor<'_>,
    product_id: &str,
    keys: &[String],
) -> Result<u64, sqlx::Error> {
    let added = sqlx::query(
        "INSERT INTO licence_keys (product_id, licence_key) \
         SELECT $1, k FROM UNNEST($2::text[]) AS k \
         ON CONFLICT (licence_key) DO NOTHING",
    )
    .bind(product_id)
    .bind(keys)
    .execute(executor)
    .await?;
    Ok(added.rows_affected())
}

/// How many keys of `product_id` are still free.
pub async fn free_keys(
    executor: impl PgExecutor<'_>,
    product_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM licence_keys WHERE product_id = $1 AND session_id IS NULL",
    )
    .bind(product_id)
    .fetch_one(executor)
    .await
}

/// Free keys per product that issues keys (`0` for a pool that ran dry), for the gauge that
/// warns before sales stop on an empty pool.
pub async fn free_keys_by_product(
    executor: impl PgExecutor<'_>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT p.product_id, count(k.id) FROM product_access p \
         LEFT JOIN licence_keys k ON k.product_id = p.product_id AND k.session_id IS NULL \
         WHERE p.licence_keys GROUP BY p.product_id ORDER BY p.product_id",
    )
    .fetch_all(executor)
    .await
}
