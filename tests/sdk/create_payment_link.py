"""Creates a Payment Link with the official stripe-python SDK, as a merchant's own code would.

Usage: python3 create_payment_link.py API_BASE SECRET_KEY PRICE_ID REDIRECT_URL

Prints the created link as JSON on stdout. The redirect URL is passed through unchanged, with
its literal {CHECKOUT_SESSION_ID} for Stripe to fill in.
"""

import json
import sys

try:
    import stripe
except ImportError:
    print(
        "the official stripe SDK is not installed: "
        "pip install -r stripe-sim/sdk-check/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(3)


def main(api_base, secret_key, price, redirect_url):
    stripe.api_base = api_base
    stripe.api_key = secret_key
    stripe.max_network_retries = 0
    link = stripe.PaymentLink.create(
        line_items=[{"price": price, "quantity": 1}],
        after_completion={"type": "redirect", "redirect": {"url": redirect_url}},
    )
    print(json.dumps(link.to_dict()))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(*sys.argv[1:])
