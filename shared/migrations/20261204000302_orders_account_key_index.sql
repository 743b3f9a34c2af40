-- no-transaction
-- The index of checkout_orders' new primary key, account and session (see 20261204000301).
-- The session id leads, so a lookup by session alone (an operator's query) still uses it.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS checkout_orders_account_session_key
    ON checkout_orders (session_id, account);
