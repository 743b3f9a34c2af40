// "Payment processing": asks the landing service (its database only, never Stripe) whether the
// order has moved on, and reloads the page when it has. Served as a file so the page's
// Content-Security-Policy can forbid inline script.
(function () {
  "use strict";
  var status = document.getElementById("payment-status");
  if (!status || !window.fetch) return;
  var url = status.getAttribute("data-status-url");
  var delay = 3000;
  var maxDelay = 30000;
  var deadline = Date.now() + 30 * 60 * 1000; // then the "Check now" link remains
  var settled = { fulfilled: true, payment_failed: true, expired: true };

  function check() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (body && settled[body.state]) {
          window.location.reload();
          return;
        }
        schedule();
      })
      .catch(schedule);
  }

  function schedule() {
    if (Date.now() > deadline) {
      status.textContent = "Still processing. We'll email you when it's confirmed.";
      return;
    }
    setTimeout(check, delay);
    delay = Math.min(delay * 1.5, maxDelay);
  }

  schedule();
})();
