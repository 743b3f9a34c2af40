"""A webhook endpoint that accepts a delivery only if the official SDK verifies it.

Usage: python3 webhook_receiver.py SECRET [SECRET...]

Listens on a free port of 127.0.0.1 and prints "listening on PORT" once ready. Every POST is
checked with stripe.Webhook.construct_event(payload, Stripe-Signature, secret) once per SECRET
(so during a rotation both v1 signatures are checked); it answers 200 if every check passes and
400 otherwise, and prints one line per delivery ("verified evt_… type" or "rejected: reason").
The Rust test tests/api/webhook_sdk_check.rs points the simulator at it and asserts that the
simulator recorded a 2xx.
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import stripe
except ImportError:
    print(
        "the official stripe SDK is not installed: "
        "pip install -r stripe-sim/sdk-check/requirements.txt",
        file=sys.stderr,
    )
    sys.exit(3)

SECRETS = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        header = self.headers.get("Stripe-Signature", "")
        try:
            for secret in SECRETS:
                # The SDK's own check: HMAC over "t.payload", any v1, five-minute tolerance.
                event = stripe.Webhook.construct_event(payload, header, secret)
        except (ValueError, stripe.SignatureVerificationError) as e:
            print(f"rejected: {e}", flush=True)
            self.answer(400, b"rejected\n")
            return
        print(f"verified {event.id} {event.type}", flush=True)
        self.answer(200, b"ok\n")

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        # One line per delivery is printed above; the default access log would go to stderr.
        pass


def main(secrets):
    SECRETS.extend(secrets)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1:])
