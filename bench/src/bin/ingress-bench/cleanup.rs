//! Empties or removes the topology a bench run of the ingress declared under its own prefix,
//! so runs neither measure each other's backlog nor leave messages on the broker.

use lapin::options::QueuePurgeOptions;
use secrecy::SecretString;
use shared::queue::{connect, Topology};
use shared::Settings;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value = "amqp://guest:guest@127.0.0.1:5672/%2f")]
    amqp_url: String,
    /// The `broker.prefix` the ingress ran with (never empty: that is production's topology).
    #[arg(long)]
    prefix: String,
    /// Only purge the queues (between runs); default: delete queues and exchanges.
    #[arg(long)]
    purge: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(!args.prefix.is_empty(), "--prefix must not be empty");
    let settings = Settings::load_from(
        shared::settings::Uses::BROKER,
        [("APP_BROKER__PREFIX".to_owned(), args.prefix.clone())],
    )?;
    let topology = Topology::from_settings(&settings.broker);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let url = SecretString::from(args.amqp_url.clone());
            let connection = connect(&url, "ingress-bench-cleanup").await?;
            let channel = connection.create_channel().await?;
            if args.purge {
                for queue in topology.queues() {
                    let _ = channel
                        .queue_purge(&queue, QueuePurgeOptions::default())
                        .await;
                }
            } else {
                let _ = topology.delete(&channel).await;
            }
            let _ = connection.close(200, "cleanup done").await;
            anyhow::Ok(())
        })
}
