//! What the operators run and rely on: the console, the worker's operator commands, the queue
//! sweep, start-up settings, broker users and permissions, TLS to Postgres and RabbitMQ, and
//! trace propagation across the services.

mod broker_permissions;
mod connection_security;
mod console;
mod scripts_sweep;
mod startup_settings;
mod trace_propagation;
mod worker_ops;
