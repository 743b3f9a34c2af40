//! Finding an order the way support is asked about it: by Checkout Session id (`cs_…`), by
//! order number (`1042` or `#1042`), or by the customer's email in any case.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// One order found.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderHit {
    pub session_id: String,
    /// `acct_…`, or empty for the platform.
    pub account: String,
    pub order_number: i64,
    pub state: String,
    pub customer_name: Option<String>,
    pub customer_email: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a search box holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    Session(String),
    OrderNumber(i64),
    Email(String),
}

impl Query {
    pub fn parse(text: &str) -> Option<Query> {
        let text = text.trim();
        if text.starts_with("cs_") {
            return Some(Query::Session(text.to_owned()));
        }
        if let Ok(number) = text.trim_start_matches('#').parse::<i64>() {
            return Some(Query::OrderNumber(number));
        }
        text.contains('@').then(|| Query::Email(text.to_owned()))
    }
}

const COLUMNS: &str = "session_id, account, order_number, state, customer_name, customer_email, \
                       amount_total, currency, created_at";

pub async fn find(pool: &PgPool, query: &Query, limit: u32) -> Result<Vec<OrderHit>, sqlx::Error> {
    let limit = i64::from(limit);
    match query {
        Query::Session(id) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM checkout_orders WHERE session_id = $1 LIMIT $2"
            ))
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        Query::OrderNumber(number) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM checkout_orders WHERE order_number = $1 LIMIT $2"
            ))
            .bind(number)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        // `lower(customer_email)` is what checkout_orders_email_idx holds.
        Query::Email(email) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM checkout_orders WHERE lower(customer_email) = lower($1) \
                 ORDER BY created_at DESC LIMIT $2"
            ))
            .bind(email)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Query;

    #[test]
    fn a_search_is_read_as_a_session_an_order_number_or_an_email() {
        assert_eq!(
            Query::parse(" cs_test_a1 "),
            Some(Query::Session("cs_test_a1".into()))
        );
        assert_eq!(Query::parse("#1042"), Some(Query::OrderNumber(1042)));
        assert_eq!(Query::parse("1042"), Some(Query::OrderNumber(1042)));
        assert_eq!(
            Query::parse("Jenny@Example.com"),
            Some(Query::Email("Jenny@Example.com".into()))
        );
        assert_eq!(Query::parse("jenny"), None);
    }
}
