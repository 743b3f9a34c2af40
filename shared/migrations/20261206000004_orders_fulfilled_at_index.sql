-- no-transaction
-- The console's "last hour" charts read the orders fulfilled since a moment: an index on when,
-- for fulfilled orders only, so they never scan the table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS checkout_orders_fulfilled_at_idx
    ON checkout_orders (fulfilled_at) WHERE fulfilled_at IS NOT NULL;
