-- Digital goods and services: what a product gives the customer besides (or instead of) a
-- parcel. Set per Stripe product with `worker access set`; a product without a row gives nothing
-- but its line item.
--
-- `url` is where the customer gets it (a download, a course, an account activation page);
-- `licence_keys` issues one key per unit bought from the product's pool (`licence_keys`, loaded
-- with `worker access add-keys`).
CREATE TABLE product_access (
    product_id   TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    url          TEXT,
    licence_keys BOOLEAN NOT NULL DEFAULT false,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (url IS NOT NULL OR licence_keys)
);

-- A product's key pool. A key is free until a fulfillment transaction takes it (session and
-- account set, with the order); it is never handed to a second session: the taking UPDATE skips
-- rows another transaction holds, and a rolled-back fulfillment gives its keys back.
CREATE TABLE licence_keys (
    id          BIGSERIAL PRIMARY KEY,
    product_id  TEXT NOT NULL,
    licence_key TEXT NOT NULL UNIQUE,
    account     TEXT,
    session_id  TEXT,
    issued_at   TIMESTAMPTZ,
    added_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((session_id IS NULL) = (issued_at IS NULL))
);
CREATE INDEX licence_keys_free ON licence_keys (product_id, id) WHERE session_id IS NULL;

-- What an order gave: one row per access link, or per key issued. Written in the fulfillment
-- transaction, so it exists exactly when the order does.
CREATE TABLE order_access (
    account     TEXT NOT NULL,
    session_id  TEXT NOT NULL,
    position    INTEGER NOT NULL,
    product_id  TEXT NOT NULL,
    title       TEXT NOT NULL,
    url         TEXT,
    licence_key TEXT,
    PRIMARY KEY (account, session_id, position)
);
