-- The subscription a subscription-mode order started: `{id, status, recurring, current_period_end}`
-- as Stripe reported them when the order was fulfilled (`sub_…`, `active`, the billing interval,
-- the first renewal). NULL for one-time orders. Renewals are Stripe's to bill; what was sold and
-- granted is recorded once, here, with the order.
ALTER TABLE checkout_orders ADD COLUMN subscription JSONB;
