use serde_json::Value;

use crate::helpers::{assert_fixture_shape, fixture, TestSim, LINE_ITEM_NULLABLE};

const LINES: usize = 250;

/// A session with 250 lines: every fifth a catalog T-shirt, the rest inline prices whose
/// `unit_amount` (100 + i) tells which line they are.
async fn session_with_many_lines(t: &TestSim) -> String {
    let mut form = vec![("mode".to_string(), "payment".to_string())];
    for i in 0..LINES {
        let at = |field: &str| format!("line_items[{i}]{field}");
        if i % 5 == 0 {
            form.push((at("[price]"), "price_tshirt".into()));
        } else {
            form.push((at("[price_data][currency]"), "usd".into()));
            form.push((at("[price_data][unit_amount]"), (100 + i).to_string()));
            form.push((at("[price_data][product_data][name]"), format!("Line {i}")));
        }
        form.push((at("[quantity]"), (i % 3 + 1).to_string()));
    }
    let reply = t.post_form("/v1/checkout/sessions", &form).await;
    assert_eq!(reply.status, 200, "{:#}", reply.body);
    reply.body["id"].as_str().unwrap().to_string()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|li| li["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn two_hundred_fifty_line_items_page_forward_and_back() {
    let t = TestSim::spawn().await;
    let id = session_with_many_lines(&t).await;
    let base = format!("/v1/checkout/sessions/{id}/line_items");

    // Forward with starting_after: 100, 100, 50.
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{base}?limit=100&starting_after={c}"),
            None => format!("{base}?limit=100"),
        };
        let page = t.get(&query).await;
        assert_eq!(page.status, 200, "{:#}", page.body);
        assert_eq!(page.body["object"], "list");
        assert_eq!(page.body["url"], base);
        let has_more = page.body["has_more"].as_bool().unwrap();
        cursor = ids(&page.body).last().cloned();
        pages.push(page.body);
        if !has_more {
            break;
        }
        assert!(pages.len() < 10, "pagination does not end");
    }
    let sizes: Vec<usize> = pages.iter().map(|p| ids(p).len()).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    let all: Vec<Value> = pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .collect();
    let mut total = 0;
    for (i, line) in all.iter().enumerate() {
        assert_eq!(line["quantity"], (i % 3 + 1) as i64, "line {i}");
        if i % 5 == 0 {
            assert_eq!(line["price"]["id"], "price_tshirt", "line {i}");
        } else {
            assert_eq!(line["price"]["unit_amount"], (100 + i) as i64, "line {i}");
            assert_eq!(line["description"], format!("Line {i}"));
        }
        total += line["amount_total"].as_i64().unwrap();
    }
    let session = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(session.body["amount_total"], total);

    // Back with ending_before from the last page's first item: the middle page again.
    let first_of_last = &ids(&pages[2])[0];
    let back = t
        .get(&format!("{base}?limit=100&ending_before={first_of_last}"))
        .await;
    assert_eq!(ids(&back.body), ids(&pages[1]));
    assert_eq!(back.body["has_more"], true);
    let first_of_middle = &ids(&pages[1])[0];
    let back = t
        .get(&format!("{base}?limit=100&ending_before={first_of_middle}"))
        .await;
    assert_eq!(ids(&back.body), ids(&pages[0]));
    assert_eq!(back.body["has_more"], false);

    // The default page is ten.
    let default = t.get(&base).await;
    assert_eq!(ids(&default.body), ids(&pages[0])[..10].to_vec());
    assert_eq!(default.body["has_more"], true);

    // An expanded session carries the first ten and says there are more.
    let expanded = t
        .get(&format!("/v1/checkout/sessions/{id}?expand[]=line_items"))
        .await;
    assert_eq!(
        ids(&expanded.body["line_items"]),
        ids(&pages[0])[..10].to_vec()
    );
    assert_eq!(expanded.body["line_items"]["has_more"], true);
}

#[tokio::test]
async fn a_line_item_has_the_fixture_shape() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_tshirt", 2)]).await;
    let page = t
        .get(&format!(
            "/v1/checkout/sessions/{}/line_items",
            session["id"].as_str().unwrap()
        ))
        .await;
    let line = &page.body["data"][0];
    assert_fixture_shape(&fixture("line_item.json"), line, LINE_ITEM_NULLABLE);
    assert_fixture_shape(
        &fixture("line_item.json")["price"],
        &line["price"],
        LINE_ITEM_NULLABLE,
    );
    assert!(line["id"].as_str().unwrap().starts_with("li_"));
    assert_eq!(line["object"], "item");
    assert_eq!(line["description"], "Stripe T-shirt");
    assert_eq!(line["quantity"], 2);
    assert_eq!(line["amount_subtotal"], 4000);
    assert_eq!(line["amount_total"], 4000);
    assert_eq!(line["amount_discount"], 0);
    assert_eq!(line["amount_tax"], 0);
    assert_eq!(line["currency"], "usd");
    assert_eq!(line["price"]["object"], "price");
    assert_eq!(line["price"]["product"], "prod_tshirt");
    assert_eq!(line["price"]["unit_amount"], 2000);
    assert_eq!(line["price"]["unit_amount_decimal"], "2000");
    assert_eq!(line["price"]["type"], "one_time");
}

#[tokio::test]
async fn limit_and_cursor_errors_name_their_parameter() {
    let t = TestSim::spawn().await;
    let session = t.create_session(&[("price_mug", 1)]).await;
    let base = format!(
        "/v1/checkout/sessions/{}/line_items",
        session["id"].as_str().unwrap()
    );
    for limit in ["0", "101", "many"] {
        let reply = t.get(&format!("{base}?limit={limit}")).await;
        assert_eq!(reply.status, 400, "limit={limit}");
        assert_eq!(reply.body["error"]["param"], "limit", "limit={limit}");
    }
    let reply = t.get(&format!("{base}?starting_after=li_nope")).await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("resource_missing"),
        Some("starting_after"),
    );
    let reply = t
        .get(&format!("{base}?starting_after=li_a&ending_before=li_b"))
        .await;
    reply.assert_error(
        400,
        "invalid_request_error",
        Some("parameters_exclusive"),
        Some("starting_after"),
    );
}
