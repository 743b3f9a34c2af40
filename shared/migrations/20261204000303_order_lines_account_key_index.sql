-- no-transaction
-- The index of order_line_items' new primary key: session, account and line item.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS order_line_items_account_session_key
    ON order_line_items (session_id, account, line_item_id);
