-- One row per Checkout Session we have heard of, with its fulfillment state.
CREATE TABLE checkout_orders (
    session_id      TEXT PRIMARY KEY,
    -- A short, human-friendly reference shown to the customer ("Order #1042").
    order_number    BIGSERIAL UNIQUE,
    state           TEXT NOT NULL
                    CHECK (state IN ('awaiting_payment', 'fulfilled', 'payment_failed', 'expired')),
    livemode        BOOLEAN NOT NULL DEFAULT FALSE,
    customer_name   TEXT,
    customer_email  TEXT,
    currency        TEXT,
    amount_subtotal BIGINT,
    amount_total    BIGINT,
    payment_intent  TEXT,
    -- Who performed the fulfillment: the queue worker, the success page, or the reconciler.
    fulfilled_by    TEXT CHECK (fulfilled_by IN ('webhook', 'landing', 'reconciler')),
    fulfilled_at    TIMESTAMPTZ,
    session_created TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((state = 'fulfilled') = (fulfilled_at IS NOT NULL))
);
CREATE INDEX checkout_orders_state_idx ON checkout_orders (state, updated_at);

-- The line items delivered. The primary key is the second line of defense against a double
-- fulfillment (the advisory lock is the first).
CREATE TABLE order_line_items (
    session_id      TEXT NOT NULL REFERENCES checkout_orders (session_id),
    line_item_id    TEXT NOT NULL,
    position        INTEGER NOT NULL,
    description     TEXT NOT NULL,
    quantity        BIGINT NOT NULL,
    price_id        TEXT,
    product_id      TEXT,
    currency        TEXT NOT NULL,
    amount_subtotal BIGINT NOT NULL,
    amount_total    BIGINT NOT NULL,
    PRIMARY KEY (session_id, line_item_id)
);

-- Every Stripe event received, whoever delivered it: an audit trail, and a cheap skip for an
-- event already processed to a final outcome.
CREATE TABLE stripe_events (
    event_id          TEXT PRIMARY KEY,
    event_type        TEXT NOT NULL,
    session_id        TEXT,
    event_created     TIMESTAMPTZ NOT NULL,
    outcome           TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 1,
    last_error        TEXT,
    first_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_processed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_session_idx ON stripe_events (session_id);
CREATE INDEX stripe_events_created_idx ON stripe_events (event_created);

-- Messages to publish to the `orders` exchange, written in the same transaction as the state
-- change they announce and relayed afterwards, so neither is ever without the other.
CREATE TABLE outbox (
    id          UUID PRIMARY KEY,
    topic       TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    payload     JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at     TIMESTAMPTZ,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    -- One announcement per session and topic, whatever races happen.
    UNIQUE (topic, session_id)
);
CREATE INDEX outbox_unsent_idx ON outbox (created_at) WHERE sent_at IS NULL;

-- Persisted positions of background sweeps (the reconciler's `created[gte]` cursor).
CREATE TABLE sweep_cursors (
    name       TEXT PRIMARY KEY,
    position   BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
