//! `Receiver`: a webhook endpoint on port 0 that records every request and answers from a
//! script, so tests can make it fail, hang, or succeed on cue.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use shared::signature::{verify, WebhookSecrets, DEFAULT_TOLERANCE};
use tokio::sync::watch;

/// Bound on every wait for deliveries.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Never answers: the simulator's attempt timeout has to give up.
    Hang,
}

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: Vec<u8>,
    pub signature: String,
    pub content_type: String,
    pub user_agent: String,
    pub at: Instant,
}

impl Received {
    pub fn event(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON event")
    }

    pub fn event_id(&self) -> String {
        self.event()["id"]
            .as_str()
            .expect("an event id")
            .to_string()
    }

    pub fn event_type(&self) -> String {
        self.event()["type"]
            .as_str()
            .expect("an event type")
            .to_string()
    }

    /// The `t=` of the signature header.
    pub fn timestamp(&self) -> i64 {
        self.header_values("t")[0].parse().expect("a numeric t")
    }

    /// Every value of `key` in the signature header (`v1` appears once per secret).
    pub fn header_values(&self, key: &str) -> Vec<String> {
        self.signature
            .split(',')
            .filter_map(|item| item.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    /// Verifies the signature over the raw body against `secrets`, now.
    pub fn verify(&self, secrets: &[&str]) -> Result<i64, shared::signature::VerifyError> {
        verify(
            &self.body,
            &self.signature,
            &WebhookSecrets::from_strs(secrets),
            DEFAULT_TOLERANCE,
            shared::signature::unix_now(),
        )
    }
}

struct Inner {
    received: Mutex<Vec<Received>>,
    changed: watch::Sender<usize>,
    script: Mutex<VecDeque<Answer>>,
    then: Answer,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
    handle: ServerHandle,
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn ok() -> Receiver {
        Self::start(&[], Answer::Status(200)).await
    }

    /// Answers from `script` in order, then `then` forever.
    pub async fn start(script: &[Answer], then: Answer) -> Receiver {
        let inner = Arc::new(Inner {
            received: Mutex::default(),
            changed: watch::Sender::new(0),
            script: Mutex::new(script.iter().copied().collect()),
            then,
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/webhook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(0)
        .listen(listener)
        .expect("the receiver listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { url, inner, handle }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits (bounded) until at least `n` requests have arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let mut changes = self.inner.changed.subscribe();
        let arrived = async {
            while self.received().len() < n {
                changes.changed().await.expect("the receiver is alive");
            }
        };
        tokio::time::timeout(DELIVERY_TIMEOUT, arrived)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{n} deliveries did not arrive in time; got {}",
                    self.received().len()
                )
            });
        self.received()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // `stop` sends the command right away; waiting for completion does not matter to a
        // finished test.
        drop(self.handle.stop(false));
    }
}

async fn receive(req: HttpRequest, body: web::Bytes, inner: web::Data<Inner>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let received = Received {
        body: body.to_vec(),
        signature: header("stripe-signature"),
        content_type: header("content-type"),
        user_agent: header("user-agent"),
        at: Instant::now(),
    };
    let answer = inner
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(inner.then);
    {
        let mut all = inner.received.lock().unwrap();
        all.push(received);
        inner.changed.send_replace(all.len());
    }
    match answer {
        Answer::Status(status) => HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status).expect("a valid status"),
        )
        .finish(),
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
    }
}
