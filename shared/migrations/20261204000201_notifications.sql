-- What the notifier told whom: one row per announcement (the outbox id the relay sends as the
-- message's message_id) and channel (`email`, or `callback:<url>`). The primary key is the dedupe:
-- however often an announcement is delivered, a channel is sent it at most once.
--
-- A send is claimed (claimed_until: a lease, so a second copy handled at the same moment waits
-- instead of sending too), made, then marked (sent_at). A crash between sending and marking is
-- the one window; the receiver closes it with the idempotency key every send carries (the mail's
-- Message-ID, the callback's Idempotency-Key), both derived from message_id.
CREATE TABLE notifications (
    message_id    UUID NOT NULL,
    channel       TEXT NOT NULL,
    routing_key   TEXT NOT NULL,
    session_id    TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    claimed_until TIMESTAMPTZ,
    sent_at       TIMESTAMPTZ,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, channel)
);
