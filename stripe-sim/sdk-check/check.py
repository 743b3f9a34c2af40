"""Drives stripe-sim with the official stripe-python SDK, unchanged but for its API base.

Usage: python3 check.py http://127.0.0.1:PORT

Exits 0 when every check passes; otherwise prints what failed and exits non-zero. The Rust
test `tests/api/sdk_check.rs` starts a simulator and runs this script against it.
"""

import json
import sys
import urllib.request

try:
    import stripe
except ImportError:
    print(
        "the official stripe SDK is not installed: "
        "pip install -r stripe-sim/sdk-check/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(3)

LINE_ITEMS = 130  # more than one 100-item page


def control(base_url, path, body):
    """POST to the simulator's control API (plain JSON, no key)."""
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main(base_url):
    stripe.api_base = base_url
    stripe.api_key = "sk_test_sdk_check_4242"
    stripe.max_network_retries = 0

    # Create a session with catalog and inline prices; more lines than one page holds.
    line_items = [{"price": "price_tshirt", "quantity": 2}]
    line_items += [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": 100 + i,
                "product_data": {"name": f"Extra {i}"},
            },
            "quantity": 1,
        }
        for i in range(LINE_ITEMS - 1)
    ]
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=line_items,
        success_url="https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.test/cancel",
        client_reference_id="order-42",
        metadata={"order": "42"},
        idempotency_key="sdk-check-create-1",
    )
    check(session.id.startswith("cs_test_"), f"session id {session.id}")
    check(session.status == "open", f"status {session.status}")
    check(session.payment_status == "unpaid", f"payment_status {session.payment_status}")
    expected_total = 2 * 2000 + sum(100 + i for i in range(LINE_ITEMS - 1))
    check(session.amount_total == expected_total, f"amount_total {session.amount_total}")
    check(session.metadata["order"] == "42", "metadata round trip")

    # The same idempotency key and parameters give the same session back.
    again = stripe.checkout.Session.create(
        mode="payment",
        line_items=line_items,
        success_url="https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://shop.test/cancel",
        client_reference_id="order-42",
        metadata={"order": "42"},
        idempotency_key="sdk-check-create-1",
    )
    check(again.id == session.id, "idempotent replay returns the first session")

    # Retrieve with the first page of line items expanded.
    retrieved = stripe.checkout.Session.retrieve(session.id, expand=["line_items"])
    check(retrieved.id == session.id, "retrieve by id")
    check(len(retrieved.line_items.data) == 10, "expanded line_items holds the first page")
    check(retrieved.line_items.has_more, "expanded line_items has_more")
    check(
        retrieved.line_items.data[0].price.id == "price_tshirt",
        "first line is the catalog price",
    )

    # Every line item, across pages, through the SDK's auto-pagination.
    items = list(
        stripe.checkout.Session.list_line_items(session.id, limit=100).auto_paging_iter()
    )
    check(len(items) == LINE_ITEMS, f"auto-paged {len(items)} line items")
    check(len({item.id for item in items}) == LINE_ITEMS, "line item ids are distinct")
    check(
        sum(item.amount_total for item in items) == expected_total,
        "line items add up to the session total",
    )

    # Pay, then read the event back by type and by id.
    control(
        base_url,
        f"/_sim/checkout/sessions/{session.id}/complete",
        {"payment": "paid", "name": "Jenny Rosen", "email": "jenny@example.com"},
    )
    events = stripe.Event.list(type="checkout.session.completed", limit=5)
    check(len(events.data) >= 1, "the completed event is listed")
    event = events.data[0]
    check(event.type == "checkout.session.completed", f"event type {event.type}")
    check(event.data.object.id == session.id, "the event carries the session")
    check(event.data.object.payment_status == "paid", "the snapshot is paid")
    fetched = stripe.Event.retrieve(event.id)
    check(fetched.id == event.id, "retrieve an event by id")
    wildcard = stripe.Event.list(type="checkout.session.*")
    check(any(e.id == event.id for e in wildcard.auto_paging_iter()), "wildcard type filter")

    paid = stripe.checkout.Session.retrieve(session.id)
    check(paid.customer_details.email == "jenny@example.com", "customer_details.email")
    check(paid.payment_intent.startswith("pi_"), f"payment_intent {paid.payment_intent}")

    # An unknown session raises the SDK's InvalidRequestError with Stripe's fields.
    try:
        stripe.checkout.Session.retrieve("cs_test_does_not_exist")
    except stripe.InvalidRequestError as e:
        check(e.http_status == 404, f"404 status, got {e.http_status}")
        check(e.code == "resource_missing", f"code {e.code}")
        check(e.param == "session", f"param {e.param}")
        check(e.request_id and e.request_id.startswith("req_"), "request id on errors")
    else:
        raise AssertionError("retrieving an unknown session did not raise")

    # A validation error names its parameter.
    try:
        stripe.checkout.Session.create(mode="payment", line_items=[{"price": "price_nope", "quantity": 1}])
    except stripe.InvalidRequestError as e:
        check(e.http_status == 400, f"400 status, got {e.http_status}")
        check(e.param == "line_items[0][price]", f"param {e.param}")
    else:
        raise AssertionError("an unknown price did not raise")

    # A wrong key raises AuthenticationError.
    try:
        stripe.Event.list(api_key="rk_live_wrong")
    except stripe.AuthenticationError as e:
        check(e.http_status == 401, f"401 status, got {e.http_status}")
    else:
        raise AssertionError("a wrong key did not raise")

    # The catalog, as the shop page lists it.
    prices = stripe.Price.list(active=True, expand=["data.product"])
    names = {p.product.name for p in prices.auto_paging_iter()}
    check("Stripe T-shirt" in names, f"catalog product names {names}")

    # A session for a known customer, read back as the seeds' success page does.
    customer = stripe.Customer.create(name="Jenny Rosen", email="jenny.rosen@example.com")
    check(customer.id.startswith("cus_"), f"customer id {customer.id}")
    for_customer = stripe.checkout.Session.create(
        mode="payment",
        customer=customer.id,
        line_items=[{"price": "price_mug", "quantity": 1}],
        success_url="https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
    )
    check(for_customer.customer == customer.id, "the session names its customer")
    check(
        stripe.Customer.retrieve(for_customer.customer).name == "Jenny Rosen",
        "the customer's name, as the seeds' success page reads it",
    )
    expanded = stripe.checkout.Session.retrieve(for_customer.id, expand=["customer"])
    check(expanded.customer.name == "Jenny Rosen", "expand=['customer'] gives the object")

    check_embedded()
    check_connected_account(base_url)
    check_subscription(base_url)

    print("sdk-check: all checks passed")


def check_connected_account(base_url):
    """Stripe Connect: `stripe_account=` scopes a session and its events to the account."""
    account = "acct_1SdkCheckShop"
    session = stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price": "price_mug", "quantity": 1}],
        success_url="https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        stripe_account=account,
    )
    retrieved = stripe.checkout.Session.retrieve(
        session.id, expand=["line_items"], stripe_account=account
    )
    check(len(retrieved.line_items.data) == 1, "the account's session, expanded")
    try:
        stripe.checkout.Session.retrieve(session.id)
    except stripe.InvalidRequestError as e:
        check(e.http_status == 404, f"404 without the account, got {e.http_status}")
    else:
        raise AssertionError("a connected account's session was found without its account")
    event = control(
        base_url,
        f"/_sim/checkout/sessions/{session.id}/complete",
        {"payment": "paid", "name": "Jenny Rosen", "email": "jenny@example.com"},
    )
    check(event["account"] == account, f"the event names the account: {event.get('account')}")
    listed = stripe.Event.list(type="checkout.session.completed", stripe_account=account)
    check([e.id for e in listed.data] == [event["id"]], "the account's events, listed")
    check(listed.data[0].account == account, "a listed event carries its account")


def check_subscription(base_url):
    """mode=subscription: paying starts a Subscription the SDK reads back, with its items."""
    session = stripe.checkout.Session.create(
        mode="subscription",
        line_items=[{"price": "price_pattern_library", "quantity": 1}],
        success_url="https://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
    )
    control(
        base_url,
        f"/_sim/checkout/sessions/{session.id}/complete",
        {"payment": "paid", "name": "Jenny Rosen", "email": "jenny@example.com"},
    )
    paid = stripe.checkout.Session.retrieve(session.id, expand=["subscription"])
    subscription = paid.subscription
    check(subscription.status == "active", f"subscription status {subscription.status}")
    item = subscription["items"].data[0]
    check(item.price.recurring.interval == "month", "the item's price recurs monthly")
    check(item.current_period_end > item.current_period_start, "a billing period")
    again = stripe.Subscription.retrieve(subscription.id)
    check(again.customer == paid.customer, "the subscription's customer is the session's")
    try:
        stripe.checkout.Session.create(
            mode="payment",
            line_items=[{"price": "price_pattern_library", "quantity": 1}],
            success_url="https://shop.test/ok",
        )
    except stripe.InvalidRequestError as e:
        check(e.param == "line_items[0][price]", f"param {e.param}")
    else:
        raise AssertionError("a recurring price in payment mode did not raise")


def check_embedded():
    """The embedded form: a client secret and no url, and Stripe's refusal of success_url."""
    return_url = "https://shop.test/order/success?session_id={CHECKOUT_SESSION_ID}"
    embedded = stripe.checkout.Session.create(
        mode="payment",
        ui_mode="embedded",
        line_items=[{"price": "price_mug", "quantity": 1}],
        return_url=return_url,
    )
    check(embedded.client_secret.startswith(embedded.id + "_secret_"), "client_secret")
    check(embedded.url is None, f"an embedded session has no url, got {embedded.url}")
    check(embedded.return_url == return_url, f"return_url {embedded.return_url}")
    try:
        stripe.checkout.Session.create(
            mode="payment",
            ui_mode="embedded",
            line_items=[{"price": "price_mug", "quantity": 1}],
            return_url=return_url,
            success_url="https://shop.test/ok",
        )
    except stripe.InvalidRequestError as e:
        check(e.http_status == 400, f"400 status, got {e.http_status}")
        check(e.param == "success_url", f"param {e.param}")
    else:
        raise AssertionError("success_url with ui_mode=embedded did not raise")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    try:
        main(sys.argv[1].rstrip("/"))
    except AssertionError as e:
        print(f"sdk-check failed: {e}", file=sys.stderr)
        sys.exit(1)
