//! The form of `POST /v1/checkout/sessions` → [`CreateSession`].
//!
//! Only the wire is checked here (which parameters exist, which are present, which parse as
//! integers); the rules about values are in `state::create_session`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::params::{check_keys, integer, object, string, string_list, Params};
use crate::error::SimError;
use crate::state::{CreateSession, InlinePrice, LineItemParams, PriceSpec};

const ENDPOINT: &str = "POST /v1/checkout/sessions";

/// Top-level parameters the simulator models.
const SUPPORTED: &[&str] = &[
    "cancel_url",
    "client_reference_id",
    "customer",
    "customer_email",
    "expand",
    "expires_at",
    "line_items",
    "locale",
    "metadata",
    "mode",
    "payment_method_types",
    "redirect_on_completion",
    "return_url",
    "shipping_address_collection",
    "success_url",
    "ui_mode",
];

/// Parameters Stripe accepts (its OpenAPI spec, and the current API reference for the newer
/// ones) that the simulator does not model.
const STRIPE_ONLY: &[&str] = &[
    "adaptive_pricing",
    "after_expiration",
    "allow_promotion_codes",
    "automatic_tax",
    "billing_address_collection",
    "consent_collection",
    "currency",
    "custom_fields",
    "custom_text",
    "customer_creation",
    "customer_update",
    "discounts",
    "invoice_creation",
    "optional_items",
    "payment_intent_data",
    "payment_method_collection",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "permissions",
    "phone_number_collection",
    "saved_payment_method_options",
    "setup_intent_data",
    "shipping_options",
    "submit_type",
    "subscription_data",
    "tax_id_collection",
    "wallet_options",
];

const LINE_ITEM_SUPPORTED: &[&str] = &["price", "price_data", "quantity"];
const LINE_ITEM_STRIPE_ONLY: &[&str] = &[
    "adjustable_quantity",
    "dynamic_tax_rates",
    "metadata",
    "tax_rates",
];
const PRICE_DATA_SUPPORTED: &[&str] = &["currency", "product_data", "unit_amount"];
const PRICE_DATA_STRIPE_ONLY: &[&str] = &[
    "product",
    "recurring",
    "tax_behavior",
    "unit_amount_decimal",
];
const PRODUCT_DATA_SUPPORTED: &[&str] = &["name"];
const PRODUCT_DATA_STRIPE_ONLY: &[&str] = &[
    "description",
    "images",
    "metadata",
    "tax_code",
    "unit_label",
];

pub(crate) fn parse(params: &Params) -> Result<CreateSession, SimError> {
    params.check_known(SUPPORTED, STRIPE_ONLY, ENDPOINT)?;
    let mode = params
        .string("mode")?
        .ok_or_else(|| SimError::missing_param("mode"))?;
    let line_items = match params.get("line_items") {
        None => Vec::new(),
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
    Ok(CreateSession {
        mode,
        line_items,
        success_url: params.string("success_url")?,
        cancel_url: params.string("cancel_url")?,
        customer: params.string("customer")?,
        customer_email: params.string("customer_email")?,
        client_reference_id: params.string("client_reference_id")?,
        metadata: metadata(params.get("metadata"))?,
        expires_at: params.integer("expires_at")?,
        locale: params.string("locale")?,
        payment_method_types: params
            .get("payment_method_types")
            .map(|v| string_list(v, "payment_method_types"))
            .transpose()?
            .unwrap_or_default(),
        shipping_countries: params
            .get("shipping_address_collection")
            .map(|v| shipping_countries(v, ENDPOINT))
            .transpose()?,
        ui_mode: params.string("ui_mode")?,
        return_url: params.string("return_url")?,
        redirect_on_completion: params.string("redirect_on_completion")?,
        // From the `Stripe-Account` header, not the form: the handler sets it.
        account: None,
    })
}

fn line_item(i: usize, item: &Value) -> Result<LineItemParams, SimError> {
    let base = format!("line_items[{i}]");
    let fields = object(item, &base)?;
    check_keys(
        fields,
        &base,
        LINE_ITEM_SUPPORTED,
        LINE_ITEM_STRIPE_ONLY,
        ENDPOINT,
    )?;
    let price = match (fields.get("price"), fields.get("price_data")) {
        (Some(_), Some(_)) => {
            return Err(SimError::exclusive_params(
                &format!("{base}[price]"),
                &format!("{base}[price_data]"),
            ))
        }
        (Some(id), None) => PriceSpec::Catalog(string(id, &format!("{base}[price]"))?),
        (None, Some(data)) => PriceSpec::Inline(price_data(&format!("{base}[price_data]"), data)?),
        (None, None) => return Err(SimError::missing_param(&format!("{base}[price]"))),
    };
    let quantity_param = format!("{base}[quantity]");
    let quantity = fields
        .get("quantity")
        .ok_or_else(|| SimError::missing_param(&quantity_param))
        .and_then(|q| integer(q, &quantity_param))?;
    Ok(LineItemParams { price, quantity })
}

fn price_data(base: &str, data: &Value) -> Result<InlinePrice, SimError> {
    let fields = object(data, base)?;
    check_keys(
        fields,
        base,
        PRICE_DATA_SUPPORTED,
        PRICE_DATA_STRIPE_ONLY,
        ENDPOINT,
    )?;
    let required = |name: &str| -> Result<&Value, SimError> {
        fields
            .get(name)
            .ok_or_else(|| SimError::missing_param(&format!("{base}[{name}]")))
    };
    let currency = string(required("currency")?, &format!("{base}[currency]"))?;
    let unit_amount = integer(required("unit_amount")?, &format!("{base}[unit_amount]"))?;
    let product_base = format!("{base}[product_data]");
    let product = object(required("product_data")?, &product_base)?;
    check_keys(
        product,
        &product_base,
        PRODUCT_DATA_SUPPORTED,
        PRODUCT_DATA_STRIPE_ONLY,
        ENDPOINT,
    )?;
    let name_param = format!("{product_base}[name]");
    let product_name = product
        .get("name")
        .ok_or_else(|| SimError::missing_param(&name_param))
        .and_then(|n| string(n, &name_param))?;
    Ok(InlinePrice {
        currency,
        unit_amount,
        product_name,
    })
}

/// `shipping_address_collection[allowed_countries][]=US&…` on `endpoint` (sessions and Payment
/// Links take it alike); the values are checked in `state::shipping`.
pub(super) fn shipping_countries(v: &Value, endpoint: &str) -> Result<Vec<String>, SimError> {
    const BASE: &str = "shipping_address_collection";
    let fields = object(v, BASE)?;
    check_keys(fields, BASE, &["allowed_countries"], &[], endpoint)?;
    let param = format!("{BASE}[allowed_countries]");
    let countries = fields
        .get("allowed_countries")
        .ok_or_else(|| SimError::missing_param(&param))?;
    string_list(countries, &param)
}

/// `metadata[key]=value`. An empty value unsets a key at Stripe, so on create it is dropped; a
/// bare `metadata=` (clear all) is an empty map.
pub(super) fn metadata(v: Option<&Value>) -> Result<BTreeMap<String, String>, SimError> {
    let map: &Map<String, Value> = match v {
        None => return Ok(BTreeMap::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(BTreeMap::new()),
        Some(v) => object(v, "metadata")?,
    };
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let value = string(value, &format!("metadata[{key}]"))?;
        if !value.is_empty() {
            out.insert(key.clone(), value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_form(form: &str) -> Result<CreateSession, SimError> {
        parse(&Params::from_form(form.as_bytes()).unwrap())
    }

    #[test]
    fn a_full_form_becomes_create_session() {
        let p = parse_form(
            "mode=payment&success_url=https://x.test/ok&line_items[0][price]=price_mug\
             &line_items[0][quantity]=2&line_items[1][price_data][currency]=usd\
             &line_items[1][price_data][unit_amount]=500\
             &line_items[1][price_data][product_data][name]=Gift%20wrap\
             &line_items[1][quantity]=1&metadata[order]=42&metadata[gone]=",
        )
        .unwrap();
        assert_eq!(p.mode, "payment");
        assert_eq!(
            p.line_items,
            vec![
                LineItemParams::catalog("price_mug", 2),
                LineItemParams::inline("usd", 500, "Gift wrap", 1)
            ]
        );
        assert_eq!(p.metadata.get("order").map(String::as_str), Some("42"));
        assert!(!p.metadata.contains_key("gone"));
    }

    #[test]
    fn shipping_countries_are_read_in_order() {
        let p = parse_form(
            "mode=payment&line_items[0][price]=price_mug&line_items[0][quantity]=1\
             &shipping_address_collection[allowed_countries][0]=US\
             &shipping_address_collection[allowed_countries][1]=CA",
        )
        .unwrap();
        assert_eq!(p.shipping_countries, Some(vec!["US".into(), "CA".into()]));
        let err =
            parse_form("mode=payment&shipping_address_collection[countries][0]=US").unwrap_err();
        assert_eq!(err.param(), Some("shipping_address_collection[countries]"));
    }

    #[test]
    fn missing_and_malformed_parameters_are_named() {
        let cases = [
            (
                "line_items[0][price]=price_mug&line_items[0][quantity]=1",
                "mode",
            ),
            (
                "mode=payment&line_items[0][price]=price_mug",
                "line_items[0][quantity]",
            ),
            (
                "mode=payment&line_items[0][quantity]=1",
                "line_items[0][price]",
            ),
            (
                "mode=payment&line_items[0][price]=price_mug&line_items[0][quantity]=two",
                "line_items[0][quantity]",
            ),
            ("mode=payment&colour=red", "colour"),
            ("mode=payment&submit_type=pay", "submit_type"),
            (
                "mode=payment&line_items[0][price_data][currency]=usd&line_items[0][quantity]=1",
                "line_items[0][price_data][unit_amount]",
            ),
        ];
        for (form, param) in cases {
            let err = parse_form(form).unwrap_err();
            assert_eq!(err.param(), Some(param), "{form}: {err}");
            assert_eq!(err.status(), 400);
        }
    }
}
