//! `/v1/payment_links`: create, retrieve, and update (`active` only).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::create_session_params::{metadata, shipping_countries};
use super::params::{check_keys, integer, object, string, Params};
use super::respond::{idempotent, ok};
use super::unrecognized;
use crate::error::SimError;
use crate::state::{AfterCompletion, CreatePaymentLink, SimState};

const CREATE: &str = "POST /v1/payment_links";
const UPDATE: &str = "POST /v1/payment_links/{payment_link}";

/// Parameters of create that Stripe accepts and the simulator does not model.
const CREATE_STRIPE_ONLY: &[&str] = &[
    "allow_promotion_codes",
    "application_fee_amount",
    "application_fee_percent",
    "automatic_tax",
    "billing_address_collection",
    "consent_collection",
    "currency",
    "custom_fields",
    "custom_text",
    "customer_creation",
    "inactive_message",
    "invoice_creation",
    "name_collection",
    "on_behalf_of",
    "optional_items",
    "payment_intent_data",
    "payment_method_collection",
    "payment_method_types",
    "phone_number_collection",
    "restrictions",
    "shipping_options",
    "submit_type",
    "subscription_data",
    "tax_id_collection",
    "transfer_data",
];

/// Parameters of update besides `active`; the simulator only archives and restores links.
const UPDATE_STRIPE_ONLY: &[&str] = &[
    "after_completion",
    "allow_promotion_codes",
    "automatic_tax",
    "billing_address_collection",
    "custom_fields",
    "custom_text",
    "customer_creation",
    "inactive_message",
    "invoice_creation",
    "line_items",
    "metadata",
    "name_collection",
    "optional_items",
    "payment_intent_data",
    "payment_method_collection",
    "payment_method_types",
    "phone_number_collection",
    "restrictions",
    "shipping_address_collection",
    "submit_type",
    "subscription_data",
    "tax_id_collection",
];

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/payment_links")
            .route(web::post().to(create))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/payment_links/{payment_link}")
            .route(web::get().to(retrieve))
            .route(web::post().to(update))
            .default_service(web::to(unrecognized)),
    );
}

async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_form(&body)?;
    idempotent(&req, &state, &params, || {
        state.create_payment_link(parse_create(&params)?)
    })
}

async fn retrieve(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&[], &["expand"], "GET /v1/payment_links/{payment_link}")?;
    state.retrieve_payment_link(&path).map(ok)
}

async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_form(&body)?;
    params.check_known(&["active"], UPDATE_STRIPE_ONLY, UPDATE)?;
    idempotent(&req, &state, &params, || {
        match params.boolean("active")? {
            Some(active) => state.set_payment_link_active(&path, active),
            None => state.retrieve_payment_link(&path),
        }
    })
}

pub(super) fn parse_create(params: &Params) -> Result<CreatePaymentLink, SimError> {
    params.check_known(
        &[
            "after_completion",
            "line_items",
            "metadata",
            "shipping_address_collection",
        ],
        CREATE_STRIPE_ONLY,
        CREATE,
    )?;
    let line_items = match params.get("line_items") {
        None => return Err(SimError::missing_param("line_items")),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| line_item(i, item))
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(SimError::invalid_param(
                "line_items",
                "Invalid array: line_items must be an array (line_items[0][price]=…).",
            ))
        }
    };
    Ok(CreatePaymentLink {
        line_items,
        after_completion: after_completion(params.get("after_completion"))?,
        metadata: metadata(params.get("metadata"))?,
        shipping_countries: params
            .get("shipping_address_collection")
            .map(|v| shipping_countries(v, CREATE))
            .transpose()?,
    })
}

fn line_item(i: usize, item: &Value) -> Result<(String, i64), SimError> {
    let base = format!("line_items[{i}]");
    let fields = object(item, &base)?;
    check_keys(
        fields,
        &base,
        &["price", "quantity"],
        &["adjustable_quantity"],
        CREATE,
    )?;
    let price_param = format!("{base}[price]");
    let price = fields
        .get("price")
        .ok_or_else(|| SimError::missing_param(&price_param))
        .and_then(|p| string(p, &price_param))?;
    let quantity_param = format!("{base}[quantity]");
    let quantity = fields
        .get("quantity")
        .ok_or_else(|| SimError::missing_param(&quantity_param))
        .and_then(|q| integer(q, &quantity_param))?;
    Ok((price, quantity))
}

/// `after_completion[type]` and the hash of that type; absent means Stripe's default, a hosted
/// confirmation page.
fn after_completion(v: Option<&Value>) -> Result<AfterCompletion, SimError> {
    let Some(v) = v else {
        return Ok(AfterCompletion::HostedConfirmation {
            custom_message: None,
        });
    };
    let fields = object(v, "after_completion")?;
    check_keys(
        fields,
        "after_completion",
        &["hosted_confirmation", "redirect", "type"],
        &[],
        CREATE,
    )?;
    let kind = fields
        .get("type")
        .ok_or_else(|| SimError::missing_param("after_completion[type]"))
        .and_then(|t| string(t, "after_completion[type]"))?;
    match kind.as_str() {
        "redirect" => {
            let base = "after_completion[redirect]";
            let redirect = fields
                .get("redirect")
                .ok_or_else(|| SimError::missing_param(&format!("{base}[url]")))?;
            let redirect = object(redirect, base)?;
            check_keys(redirect, base, &["url"], &[], CREATE)?;
            let url_param = format!("{base}[url]");
            let url = redirect
                .get("url")
                .ok_or_else(|| SimError::missing_param(&url_param))
                .and_then(|u| string(u, &url_param))?;
            Ok(AfterCompletion::Redirect { url })
        }
        "hosted_confirmation" => {
            let base = "after_completion[hosted_confirmation]";
            let custom_message = match fields.get("hosted_confirmation") {
                None => None,
                Some(hc) => {
                    let hc = object(hc, base)?;
                    check_keys(hc, base, &["custom_message"], &[], CREATE)?;
                    let param = format!("{base}[custom_message]");
                    hc.get("custom_message")
                        .map(|m| string(m, &param))
                        .transpose()?
                        .filter(|m| !m.is_empty())
                }
            };
            Ok(AfterCompletion::HostedConfirmation { custom_message })
        }
        other => Err(SimError::invalid_param(
            "after_completion[type]",
            format!(
                "Invalid after_completion[type]: must be one of hosted_confirmation or redirect \
                 (got {other})."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(form: &str) -> Result<CreatePaymentLink, SimError> {
        parse_create(&Params::from_form(form.as_bytes()).unwrap())
    }

    #[test]
    fn a_redirect_link_keeps_the_session_id_template() {
        let link = parse(
            "line_items[0][price]=price_mug&line_items[0][quantity]=2\
             &after_completion[type]=redirect\
             &after_completion[redirect][url]=https://shop.test/success?session_id=%7BCHECKOUT_SESSION_ID%7D",
        )
        .unwrap();
        assert_eq!(link.line_items, vec![("price_mug".to_string(), 2)]);
        assert_eq!(
            link.after_completion,
            AfterCompletion::Redirect {
                url: "https://shop.test/success?session_id={CHECKOUT_SESSION_ID}".into()
            }
        );
    }

    #[test]
    fn missing_and_malformed_parameters_are_named() {
        let cases = [
            ("after_completion[type]=redirect", "line_items"),
            ("line_items[0][quantity]=1", "line_items[0][price]"),
            (
                "line_items[0][price]=price_mug&line_items[0][quantity]=1\
                 &after_completion[type]=redirect",
                "after_completion[redirect][url]",
            ),
            (
                "line_items[0][price]=price_mug&line_items[0][quantity]=1\
                 &after_completion[type]=elsewhere",
                "after_completion[type]",
            ),
            (
                "line_items[0][price]=price_mug&line_items[0][quantity]=1&submit_type=pay",
                "submit_type",
            ),
        ];
        for (form, param) in cases {
            let err = parse(form).unwrap_err();
            assert_eq!(err.param(), Some(param), "{form}: {err}");
            assert_eq!(err.status(), 400);
        }
    }
}
