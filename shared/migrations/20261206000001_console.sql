-- The operators' console.
--
-- An operator may fulfill a session by hand ("fulfill now"): the order then says so. The new
-- constraint is added NOT VALID (no scan under the table's lock) and validated by the next
-- migration, which only blocks schema changes while it reads.
ALTER TABLE checkout_orders DROP CONSTRAINT checkout_orders_fulfilled_by_check;
ALTER TABLE checkout_orders ADD CONSTRAINT checkout_orders_fulfilled_by_check
    CHECK (fulfilled_by IN ('webhook', 'landing', 'reconciler', 'operator')) NOT VALID;

-- Who is signed in. The cookie holds a random token; only its SHA-256 is stored, so a copy of
-- this table signs nobody in. Each sign-in has its own token for the forms it is shown (CSRF).
CREATE TABLE console_sessions (
    token_hash  BYTEA PRIMARY KEY,
    operator    TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('operator', 'viewer')),
    csrf_token  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);

-- Every operator action, whatever its outcome: who, when, what, on which session, and what came
-- of it. Rows are only ever added.
CREATE TABLE console_audit (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    operator    TEXT NOT NULL,
    action      TEXT NOT NULL,
    session_id  TEXT,
    account     TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    outcome     TEXT NOT NULL
);
CREATE INDEX console_audit_at_idx ON console_audit (at);
CREATE INDEX console_audit_session_idx ON console_audit (session_id, at)
    WHERE session_id IS NOT NULL;
