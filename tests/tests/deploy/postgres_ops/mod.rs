//! Postgres operations on the real local server: least-privilege roles (`deploy/postgres/
//! roles.sql`, applied by the container's init script or by hand), the real migrations run as the
//! migration role, the real fulfillment paths (worker, reconciler, success page) run as the
//! application role; backups and restores with `deploy/postgres/backup` and `restore`; and the
//! compose files wiring each service to its role.
//!
//! Every test makes its own database and roles (`fft_…` names) and drops them afterwards.

mod backups;
mod compose;
mod roles;
mod support;
