-- no-transaction
-- Support finds a customer's orders by their email ("I paid, where is my order?"), in any case:
-- the console's search compares lower(customer_email).
CREATE INDEX CONCURRENTLY IF NOT EXISTS checkout_orders_email_idx
    ON checkout_orders (lower(customer_email));
