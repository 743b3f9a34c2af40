//! The compose stack itself, started from the images `scripts/test` builds: the stack end to
//! end, faults under load, the three-node broker cluster. Each test runs alone (see
//! `.config/nextest.toml`); without a Docker engine each says SKIPPED.

mod deploy_live_cluster;
mod deploy_live_faults;
mod deploy_live_stack;
