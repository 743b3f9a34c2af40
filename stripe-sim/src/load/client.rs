//! One keep-alive HTTP/1.1 connection per sender: no pool, no lock, nothing shared in the
//! measured path.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::target::Target;

/// A connection to the target.
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

/// Why a request got no status.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("connecting: {0}")]
    Connect(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building the request: {0}")]
    Request(#[from] hyper::http::Error),
}

impl Connection {
    pub async fn open(target: &Target) -> Result<Connection, SendError> {
        let stream = TcpStream::connect(target.address).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        // The connection's I/O runs beside the sender; it ends when the sender is dropped or
        // the server closes.
        tokio::spawn(connection);
        Ok(Connection { sender })
    }

    /// POSTs a signed webhook and reads the whole answer (so the connection can be reused);
    /// returns the status.
    pub async fn post_webhook(
        &mut self,
        target: &Target,
        body: Bytes,
        signature: &str,
    ) -> Result<u16, SendError> {
        let request = Request::post(target.path.as_str())
            .header(HOST, target.authority.as_str())
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .header("Stripe-Signature", signature)
            .body(Full::new(body))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }

    /// False once the server has closed it (after a 413, or an idle timeout).
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }
}
