-- Connected accounts (Stripe Connect): an event delivered for a connected account names it
-- (`account`), its session is retrieved with `Stripe-Account`, and its order is keyed by account
-- and session, so two accounts' sessions can never take each other's row, lines or
-- announcements. This step adds the columns; the next three build the new keys' indexes
-- concurrently (one statement per file: Postgres refuses CONCURRENTLY in a multi-statement
-- query), and 20261204000305 swaps the keys over to them.
--
-- The platform's own sessions have the account '' rather than NULL: a NULL is never equal to
-- another NULL, so a unique key over a nullable column would let the platform's session be
-- written twice. A constant default rewrites no rows; existing rows are the platform's.
ALTER TABLE checkout_orders ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE order_line_items ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN account TEXT NOT NULL DEFAULT '';
-- The audit trail says which account an event came from; NULL: the platform's, or not known.
ALTER TABLE stripe_events ADD COLUMN account TEXT;
-- NOT VALID: enforced from now on without scanning the table under this lock; every existing
-- row holds the default ''.
ALTER TABLE checkout_orders ADD CONSTRAINT checkout_orders_account_check
    CHECK (account = '' OR account ~ '^acct_[A-Za-z0-9]+$') NOT VALID;
