//! A TCP proxy between the ingress and the real RabbitMQ that a test can cut, restore or pause,
//! so that broker outages are tested without stopping the broker other tests use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

const BROKER: &str = "127.0.0.1:5672";

/// The proxy listens on `port` and forwards every connection to the broker.
#[derive(Debug)]
pub struct BrokerProxy {
    pub port: u16,
    /// The accept loop, which owns every forwarding task: aborting it drops them all.
    running: Option<JoinHandle<()>>,
    /// `false` holds every byte in both directions (connections stay open).
    open: watch::Sender<bool>,
    /// Bytes forwarded from the client (the ingress) to the broker.
    pub upstream_bytes: Arc<AtomicU64>,
}

impl BrokerProxy {
    pub async fn start() -> BrokerProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().unwrap().port();
        let (open, _) = watch::channel(true);
        let mut proxy = BrokerProxy {
            port,
            running: None,
            open,
            upstream_bytes: Arc::new(AtomicU64::new(0)),
        };
        proxy.running = Some(proxy.accept_loop(listener));
        proxy
    }

    /// The AMQP URL that goes through this proxy.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Drops every connection and stops listening: the broker looks gone.
    pub async fn cut(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind the proxy's port");
        self.running = Some(self.accept_loop(listener));
    }

    /// Holds every byte in flight, both ways, without closing anything.
    pub fn pause(&self) {
        self.open.send_replace(false);
    }

    pub fn resume(&self) {
        self.open.send_replace(true);
    }

    fn accept_loop(&self, listener: TcpListener) -> JoinHandle<()> {
        let open = self.open.clone();
        let upstream_bytes = self.upstream_bytes.clone();
        tokio::spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(broker) = TcpStream::connect(BROKER).await else {
                    continue;
                };
                let (client_read, client_write) = client.into_split();
                let (broker_read, broker_write) = broker.into_split();
                connections.spawn(pipe(
                    client_read,
                    broker_write,
                    open.subscribe(),
                    Some(upstream_bytes.clone()),
                ));
                connections.spawn(pipe(broker_read, client_write, open.subscribe(), None));
            }
        })
    }
}

impl Drop for BrokerProxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
    }
}

async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut open: watch::Receiver<bool>,
    counter: Option<Arc<AtomicU64>>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(counter) = &counter {
            counter.fetch_add(n as u64, Ordering::SeqCst);
        }
        if open.wait_for(|open| *open).await.is_err() {
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
