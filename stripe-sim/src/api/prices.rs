//! `/v1/prices` and `/v1/products`: the catalog, read-only. The shop page lists it from here.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::params::Params;
use super::respond::ok;
use super::unrecognized;
use crate::error::SimError;
use crate::objects;
use crate::pagination::paginate;
use crate::state::SimState;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/prices")
            .route(web::get().to(list_prices))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/prices/{price}")
            .route(web::get().to(retrieve_price))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/products")
            .route(web::get().to(list_products))
            .default_service(web::to(unrecognized)),
    )
    .service(
        web::resource("/products/{id}")
            .route(web::get().to(retrieve_product))
            .default_service(web::to(unrecognized)),
    );
}

/// A price as JSON, with its `product` replaced by the product object when expanded.
fn price_json(state: &SimState, id: &str, expand_product: bool) -> Option<Value> {
    let price = state.catalog().price(id)?;
    let mut json = objects::price::render(price);
    if expand_product {
        if let Some(product) = state.catalog().product(&price.product_id) {
            json["product"] = objects::product::render(product);
        }
    }
    Some(json)
}

async fn list_prices(
    req: HttpRequest,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(
        &[
            "active",
            "currency",
            "ending_before",
            "expand",
            "limit",
            "product",
            "starting_after",
            "type",
        ],
        &["created", "lookup_keys", "recurring"],
        "GET /v1/prices",
    )?;
    let expand_product = !params.expand(&["data.product"])?.is_empty();
    let active = params.boolean("active")?;
    let currency = params.non_empty("currency")?;
    let product = params.non_empty("product")?;
    let price_type = params.non_empty("type")?;
    if let Some(t) = price_type
        .as_deref()
        .filter(|t| !["one_time", "recurring"].contains(t))
    {
        return Err(SimError::invalid_param(
            "type",
            format!("Invalid type: must be one of one_time or recurring (got {t})."),
        ));
    }
    let catalog = state.catalog();
    let items: Vec<(usize, &str)> = catalog
        .prices
        .iter()
        .enumerate()
        .filter(|(_, p)| active.is_none_or(|a| p.active == a))
        .filter(|(_, p)| currency.as_ref().is_none_or(|c| p.currency == *c))
        .filter(|(_, p)| product.as_ref().is_none_or(|id| p.product_id == *id))
        .filter(|(_, p)| {
            price_type
                .as_deref()
                .is_none_or(|t| (t == "recurring") == p.recurring.is_some())
        })
        .map(|(i, p)| (i, p.id.as_str()))
        .collect();
    let page = paginate(items, &params.page()?, "price", |id| {
        catalog.price_position(id)
    })?;
    let page =
        page.map(|id| price_json(&state, id, expand_product).expect("listed from the catalog"));
    Ok(ok(objects::list::render(page, "/v1/prices")))
}

async fn retrieve_price(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&["expand"], &[], "GET /v1/prices/{price}")?;
    let expand_product = !params.expand(&["product"])?.is_empty();
    price_json(&state, &path, expand_product)
        .map(ok)
        .ok_or_else(|| SimError::not_found("price", &path, "price"))
}

async fn list_products(
    req: HttpRequest,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(
        &["active", "ending_before", "limit", "starting_after"],
        &["created", "expand", "ids", "shippable", "url"],
        "GET /v1/products",
    )?;
    // Catalog products are all active.
    let active = params.boolean("active")?;
    let catalog = state.catalog();
    let items: Vec<_> = catalog
        .products
        .iter()
        .enumerate()
        .filter(|_| active != Some(false))
        .collect();
    let page = paginate(items, &params.page()?, "product", |id| {
        catalog.product_position(id)
    })?;
    Ok(ok(objects::list::render(
        page.map(objects::product::render),
        "/v1/products",
    )))
}

async fn retrieve_product(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<SimState>,
) -> Result<HttpResponse, SimError> {
    let params = Params::from_query(req.query_string())?;
    params.check_known(&[], &["expand"], "GET /v1/products/{id}")?;
    state
        .catalog()
        .product(&path)
        .map(|p| ok(objects::product::render(p)))
        .ok_or_else(|| SimError::not_found("product", &path, "id"))
}
