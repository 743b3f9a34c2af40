//! The HTTP ceiling: the same server shape as the ingress (actix, body as bytes), with the
//! broker taken out.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use shared::signature::{self, WebhookSecrets, DEFAULT_TOLERANCE};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 18080)]
    port: u16,
    /// Worker threads; 0: one per core (actix's default).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Also verify the signature and parse the envelope, as the ingress does before publishing.
    #[arg(long)]
    verify: bool,
    #[arg(long, default_value = "whsec_local_development_only")]
    secret: String,
}

struct Verifier {
    enabled: bool,
    secrets: WebhookSecrets,
}

async fn webhook(
    request: HttpRequest,
    body: web::Bytes,
    verifier: web::Data<Verifier>,
) -> HttpResponse {
    if verifier.enabled {
        let header = request
            .headers()
            .get("Stripe-Signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let verified = signature::verify(
            &body,
            header,
            &verifier.secrets,
            DEFAULT_TOLERANCE,
            signature::unix_now(),
        );
        if verified.is_err() || ingress::envelope::parse(&body).is_err() {
            return HttpResponse::BadRequest().finish();
        }
    }
    HttpResponse::Ok().json(serde_json::json!({ "received": true }))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let verifier = web::Data::new(Verifier {
        enabled: args.verify,
        secrets: WebhookSecrets::from_strs(&[args.secret.as_str()]),
    });
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(verifier.clone())
                .app_data(web::PayloadConfig::new(1024 * 1024))
                .route("/webhook", web::post().to(webhook))
        })
        .bind(("127.0.0.1", args.port))?;
        if args.workers > 0 {
            server = server.workers(args.workers);
        }
        println!(
            "http ceiling (verify: {}) on 127.0.0.1:{}",
            args.verify, args.port
        );
        server.run().await
    })?;
    Ok(())
}
