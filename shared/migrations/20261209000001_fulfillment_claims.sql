-- Who is asking Stripe about a session right now (`store::claims`): the first caller to reach an
-- unfulfilled session (the worker, or the success page racing it) claims it, and a second caller
-- waits for the first one's order instead of asking Stripe again. A hint, never a guarantee: the
-- session's advisory lock and the order's upsert keep exactly-once (G2) whatever this holds.
--
-- UNLOGGED: a claim is worth nothing after a crash (its holder is gone too), and a claim written
-- to the WAL would cost every fulfillment a second log flush. A crash empties the table; callers
-- then find no claim and ask Stripe, as they did before claims existed.
CREATE UNLOGGED TABLE fulfillment_claims (
    session_id TEXT NOT NULL,
    -- '' for the platform, as in checkout_orders.
    account TEXT NOT NULL DEFAULT '',
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, account)
);

-- The fulfillment statement purges expired claims oldest first (`claims::PURGE_EXPIRED`).
CREATE INDEX fulfillment_claims_claimed_at_idx ON fulfillment_claims (claimed_at);
