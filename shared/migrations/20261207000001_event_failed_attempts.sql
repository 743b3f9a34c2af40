-- Each failed attempt at an event, oldest first: when, what it came to (`retrying`, `dead`,
-- `not_found`…) and why. The operators' console shows them on a session's timeline, so the
-- history of a stuck payment is not only in the dead-letter queue's headers. Only failures are
-- kept (a first-time success writes `[]`), and only the last 25 (the store trims), so the happy
-- path and the row stay small. A constant default: no table rewrite.
ALTER TABLE stripe_events ADD COLUMN failed_attempts JSONB NOT NULL DEFAULT '[]'::jsonb;
