// The embedded checkout page: asks this shop for a Checkout Session's client secret and has
// Stripe.js mount the payment form in #checkout. Stripe sends the customer to the success page
// once they have paid.
(function () {
  "use strict";
  var cart = document.getElementById("embedded-cart");
  var message = document.getElementById("checkout-error");
  if (!cart || !message) {
    return;
  }

  function fail(text) {
    message.textContent = text;
    message.hidden = false;
  }

  function fetchClientSecret() {
    return fetch("/checkout/session", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(cart))
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok || !body.clientSecret) {
          throw new Error(body.error || "We couldn't start your checkout. Please try again.");
        }
        return body.clientSecret;
      });
    });
  }

  if (typeof window.Stripe !== "function") {
    fail("The payment form could not be loaded. Please reload the page.");
    return;
  }
  window
    .Stripe(cart.getAttribute("data-publishable-key"))
    .initEmbeddedCheckout({ fetchClientSecret: fetchClientSecret })
    .then(function (checkout) {
      checkout.mount("#checkout");
    })
    .catch(function (error) {
      fail(error.message || "We couldn't start your checkout. Please try again.");
    });
})();
