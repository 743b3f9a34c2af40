//! The deployment as files and as processes: the compose files, Dockerfile and entrypoints,
//! the broker's definitions, the edge, metrics and alerting, resource limits, Postgres
//! operations (roles, backups), and the native `scripts/run`. These start no compose stack;
//! `deploy_live` does.

mod deploy_compose;
mod deploy_definitions;
mod deploy_dependency_gauge;
mod deploy_edge;
mod deploy_entrypoints;
mod deploy_metrics;
mod deploy_native_run;
mod deploy_observability;
mod deploy_resources;
mod postgres_ops;
