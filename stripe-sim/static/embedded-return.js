// The embedded form's completion page: hands the return URL to Stripe.js in the parent window,
// which sends the top window there. A framed page cannot reliably navigate its top window
// itself (browsers require a user gesture for that), so the parent does it, as with Stripe.
(function () {
  "use strict";
  var page = document.getElementById("embedded-return");
  if (!page || window.parent === window) {
    return;
  }
  window.parent.postMessage(
    {
      type: "stripe-sim:embedded-checkout-complete",
      returnUrl: page.getAttribute("data-return-url") || null
    },
    page.getAttribute("data-parent-origin") || "*"
  );
})();
