-- Orders keyed by account and session: the keys swap over to the indexes built concurrently
-- by the three migrations before this one, in one brief transaction (no index is built here).
ALTER TABLE order_line_items DROP CONSTRAINT order_line_items_session_id_fkey;
ALTER TABLE order_line_items DROP CONSTRAINT order_line_items_pkey;
ALTER TABLE checkout_orders DROP CONSTRAINT checkout_orders_pkey;
ALTER TABLE checkout_orders ADD CONSTRAINT checkout_orders_pkey
    PRIMARY KEY USING INDEX checkout_orders_account_session_key;
ALTER TABLE order_line_items ADD CONSTRAINT order_line_items_pkey
    PRIMARY KEY USING INDEX order_line_items_account_session_key;
-- NOT VALID: enforced for every line written from now on, without scanning the existing lines
-- under this lock; each of them already belongs to an order (the old key said so).
ALTER TABLE order_line_items ADD CONSTRAINT order_line_items_account_session_id_fkey
    FOREIGN KEY (session_id, account) REFERENCES checkout_orders (session_id, account) NOT VALID;
ALTER TABLE outbox DROP CONSTRAINT outbox_topic_session_id_key;
ALTER TABLE outbox ADD CONSTRAINT outbox_topic_account_session_id_key
    UNIQUE USING INDEX outbox_topic_account_session_key;
