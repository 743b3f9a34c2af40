//! Black-box tests of stripe-sim: a real simulator on port 0 per test, driven over HTTP with
//! reqwest (and through its control API or `SimState` where a customer would act).

mod account_limit;
mod auth;
mod checkout_page;
mod checkout_sessions;
mod connected_accounts;
mod connections;
mod control;
mod customers;
mod embedded_sessions;
mod events;
mod faults;
mod fixtures;
mod helpers;
mod line_items;
mod payment_links;
mod prices;
mod receiver;
mod sdk_check;
mod shipping;
mod subscriptions;
mod webhook_delivery;
mod webhook_sdk_check;
