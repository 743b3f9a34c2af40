//! `ingress-bench`: the two ceilings the ingress is measured against (benchmarks/ingress.md).
//!
//! - `http-ceiling`: an actix server whose webhook handler only reads the body and answers
//!   `{"received":true}` (with `--verify`, it also verifies the signature and parses the
//!   envelope): what HTTP alone costs on this machine.
//! - `broker-ceiling`: confirmed publishing straight from tokio with lapin, no HTTP: what the
//!   broker alone allows at a given concurrency.
//!
//! - `cleanup`: purge or delete the topology a bench run of the ingress declared.
//!
//! The ingress itself runs as `ingress`, loaded by `stripe-sim load`; `bench/ingress.sh`
//! runs all three in one go.

mod broker_ceiling;
mod cleanup;
mod http_ceiling;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "ingress-bench", about = "Ceilings for the ingress benchmark")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a webhook endpoint that does no broker work.
    HttpCeiling(http_ceiling::Args),
    /// Publish with confirms at fixed concurrency and report throughput and latency.
    BrokerCeiling(broker_ceiling::Args),
    /// Purge or delete a bench run's topology.
    Cleanup(cleanup::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::HttpCeiling(args) => http_ceiling::run(args),
        Command::BrokerCeiling(args) => broker_ceiling::run(args),
        Command::Cleanup(args) => cleanup::run(args),
    }
}
