//! `landing-bench`: the landing service's benchmark tool.
//!
//! - `prepare`: applies the migrations, then creates paid Checkout Sessions the way a customer
//!   would (the shop's `POST /checkout`, then the simulator's control API to pay), and writes
//!   their success-page URLs to a file, one per line. Nothing is fulfilled yet.
//! - `run`: an open-loop load generator. Requests are sent on a fixed schedule whatever the
//!   server's speed, and each latency is measured from the moment the request was *due*, so a
//!   stall shows up in the percentiles instead of silently slowing the sender (coordinated
//!   omission). Prints percentiles from an HDR histogram.
//!
//! See `benchmarks/landing.md` and `bench/landing.sh` for how they are used.

mod prepare;
mod run;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "landing-bench", about = "Benchmark tool for the landing pages")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create paid, not yet fulfilled sessions and write their success-page URLs.
    Prepare(prepare::PrepareArgs),
    /// Send GET requests at a fixed rate and report latency percentiles.
    Run(run::RunArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Prepare(args) => prepare::prepare(args).await,
        Command::Run(args) => run::run(args).await,
    }
}
