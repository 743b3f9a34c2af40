-- Where a fulfilled order ships: Stripe's `shipping_details` shape (`name`, `address` with
-- `line1` … `country`) as the customer gave it on the payment page; NULL for orders that
-- collected no shipping address (digital goods, or sessions created without one).
ALTER TABLE checkout_orders ADD COLUMN shipping JSONB;
