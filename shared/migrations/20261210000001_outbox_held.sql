-- An announcement its writer publishes itself (`store::outbox::Handoff`): the worker that
-- fulfilled the order hands the row to its own relay, which publishes it at once and marks it
-- sent, one round trip, instead of a poll claiming it in a transaction of four. Until
-- `held_until`, every relay's poll leaves the row alone, so it is not published twice; after
-- it (the writer died between its commit and its publish), any poll sends it.
--
-- NULL: nobody holds it (the landing page's rows, a failed publish handed back to the poll).
-- Nullable with no default: adding it rewrites nothing.
ALTER TABLE outbox ADD COLUMN held_until TIMESTAMPTZ;
