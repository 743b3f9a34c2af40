-- The events still needing attention (retrying, dead-lettered, not found…): the worker's
-- "paid but not fulfilled" gauge scans only these, however long the audit trail grows. The list
-- is shared::store::events::SETTLED_OUTCOMES.
CREATE INDEX stripe_events_unsettled_idx ON stripe_events (event_created)
    WHERE outcome NOT IN ('fulfilled', 'already_fulfilled', 'awaiting_payment', 'payment_failed',
                          'expired', 'ignored');
