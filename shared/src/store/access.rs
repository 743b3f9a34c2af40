//! `product_access`, `licence_keys` and `order_access`: digital goods and services.
//!
//! A product may give the customer a link (a download, a course, an account activation page)
//! and one licence key per unit from its pool. [`grant`] runs inside the fulfillment
//! transaction, under the session's advisory lock and after the "not fulfilled yet" re-check, so
//! what it writes commits exactly once, with the order. Keys are taken with
//! `FOR UPDATE SKIP LOCKED`: two sessions fulfilled at the same moment never take the same key,
//! and a fulfillment that rolls back leaves its keys free.

use sqlx::{PgConnection, PgExecutor};

use crate::domain::account_id::stored;
use crate::domain::AccountId;

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

/// Why access could not be granted.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Fewer free keys than units bought: the order waits (its fulfillment is retried) until
    /// more keys are added.
    #[error("the licence key pool of {product_id} has {free} free key(s); {wanted} are needed")]
    KeysExhausted {
        product_id: String,
        wanted: i64,
        free: i64,
    },
}

/// One line of the order being fulfilled: the product it sold and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldLine {
    pub product_id: Option<String>,
    pub quantity: i64,
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

/// Grants what the order's products give, in line order, and records it. Call inside the
/// fulfillment transaction; an order of products that give nothing costs one query.
pub async fn grant(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    session_id: &str,
    lines: &[SoldLine],
) -> Result<Vec<Access>, GrantError> {
    let products: Vec<String> = lines.iter().filter_map(|l| l.product_id.clone()).collect();
    if products.is_empty() {
        return Ok(Vec::new());
    }
    let configured: Vec<ProductAccess> = sqlx::query_as(
        "SELECT product_id, title, url, licence_keys FROM product_access \
         WHERE product_id = ANY($1)",
    )
    .bind(&products)
    .fetch_all(&mut *conn)
    .await?;
    if configured.is_empty() {
        return Ok(Vec::new());
    }
    let mut granted = Vec::new();
    for line in lines {
        let Some(product) = configured
            .iter()
            .find(|p| Some(&p.product_id) == line.product_id.as_ref())
        else {
            continue;
        };
        if !product.licence_keys {
            granted.push(access(product, None));
            continue;
        }
        let keys = take_keys(conn, account, session_id, product, line.quantity).await?;
        granted.extend(keys.into_iter().map(|key| access(product, Some(key))));
    }
    record(conn, account, session_id, &granted).await?;
    Ok(granted)
}

fn access(product: &ProductAccess, licence_key: Option<String>) -> Access {
    Access {
        product_id: product.product_id.clone(),
        title: product.title.clone(),
        url: product.url.clone(),
        licence_key,
    }
}

/// Takes `wanted` free keys of `product` for the session, oldest first.
async fn take_keys(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    session_id: &str,
    product: &ProductAccess,
    wanted: i64,
) -> Result<Vec<String>, GrantError> {
    let keys: Vec<String> = sqlx::query_scalar(
        "UPDATE licence_keys SET account = $1, session_id = $2, issued_at = now() \
         WHERE id IN (SELECT id FROM licence_keys WHERE product_id = $3 AND session_id IS NULL \
                      ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING licence_key",
    )
    .bind(stored(account))
    .bind(session_id)
    .bind(&product.product_id)
    .bind(wanted)
    .fetch_all(&mut *conn)
    .await?;
    if (keys.len() as i64) < wanted {
        // The caller rolls back, which frees the keys taken here.
        return Err(GrantError::KeysExhausted {
            product_id: product.product_id.clone(),
            wanted,
            free: keys.len() as i64,
        });
    }
    Ok(keys)
}

async fn record(
    conn: &mut PgConnection,
    account: Option<&AccountId>,
    session_id: &str,
    granted: &[Access],
) -> Result<(), sqlx::Error> {
    if granted.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO order_access (account, session_id, position, product_id, title, url, \
             licence_key) \
         SELECT $1, $2, * FROM UNNEST($3::int[], $4::text[], $5::text[], $6::text[], $7::text[])",
    )
    .bind(stored(account))
    .bind(session_id)
    .bind((0..granted.len() as i32).collect::<Vec<_>>())
    .bind(
        granted
            .iter()
            .map(|a| a.product_id.clone())
            .collect::<Vec<_>>(),
    )
    .bind(granted.iter().map(|a| a.title.clone()).collect::<Vec<_>>())
    .bind(granted.iter().map(|a| a.url.clone()).collect::<Vec<_>>())
    .bind(
        granted
            .iter()
            .map(|a| a.licence_key.clone())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
