//! Landing: creating Checkout Sessions and the success page, over HTTP and in headless
//! Chromium, and the customer's whole path through stripe-sim's hosted and embedded forms and
//! Payment Links (`checkout_e2e`, `embedded_checkout_e2e`, `payment_link_e2e`).

mod checkout_e2e;
mod embedded_checkout_e2e;
mod landing_access_log;
mod landing_browser;
mod landing_budgets;
mod landing_checkout;
mod landing_concurrency;
mod landing_embedded_checkout;
mod landing_guards;
mod landing_pages;
mod payment_link_e2e;
