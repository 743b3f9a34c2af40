-- The Payment Link (`plink_…`) a session was created from, when it was: a link's sessions are
-- created by Stripe, not by our landing, so this is how an operator tells them apart.
ALTER TABLE checkout_orders ADD COLUMN payment_link TEXT;
