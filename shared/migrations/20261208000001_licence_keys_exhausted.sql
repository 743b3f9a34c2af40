-- Fails the statement that calls it: a fulfillment that cannot take a licence key for every unit
-- bought. The one-statement fulfillment (`store::fulfilled`) calls it when it took fewer keys
-- than wanted, so the order, its lines, the keys taken and the announcement all roll back.
-- SQLSTATE LK001; the message is JSON that the Rust side reads back
-- (`access::KeysExhausted`).
CREATE FUNCTION licence_keys_exhausted(product_id TEXT, wanted BIGINT, free BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'LK001',
        MESSAGE = json_build_object('product_id', product_id, 'wanted', wanted, 'free', free)::text;
END
$$;
