-- no-transaction
-- The index of the outbox's new unique key: one announcement per topic, account and session.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS outbox_topic_account_session_key
    ON outbox (topic, session_id, account);
