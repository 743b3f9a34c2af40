// stripe-sim's stand-in for Stripe.js (https://js.stripe.com/v3), serving the one call an
// embedded Checkout integration makes:
//
//   const checkout = await Stripe("pk_test_…").initEmbeddedCheckout({ fetchClientSecret });
//   checkout.mount("#checkout");   // and checkout.destroy() / checkout.unmount()
//
// Mounting puts the simulator's payment form for that client secret in an iframe. When the
// customer has paid, the form's completion page posts a message here and the top window goes
// to the session's return_url ({CHECKOUT_SESSION_ID} already filled in), or `onComplete` is
// called when the session never redirects.
(function () {
  "use strict";
  var script = document.currentScript;
  var simOrigin = new URL(script ? script.src : "/", window.location.href).origin;
  var COMPLETE = "stripe-sim:embedded-checkout-complete";
  var SECRET_SEPARATOR = "_secret_";

  function EmbeddedCheckout(clientSecret, onComplete) {
    var iframe = null;
    var listener = null;

    this.mount = function (target) {
      var container = typeof target === "string" ? document.querySelector(target) : target;
      if (!container) {
        throw new Error("EmbeddedCheckout.mount(): no element matches " + target);
      }
      if (iframe) {
        throw new Error("EmbeddedCheckout.mount(): this checkout is already mounted");
      }
      var sessionId = clientSecret.slice(0, clientSecret.indexOf(SECRET_SEPARATOR));
      iframe = document.createElement("iframe");
      iframe.name = "embedded-checkout";
      iframe.title = "Secure payment form";
      iframe.src =
        simOrigin + "/c/embedded/" + encodeURIComponent(clientSecret) + "/" + encodeURIComponent(sessionId);
      iframe.setAttribute("allow", "payment");
      iframe.style.cssText = "width:100%;min-height:900px;border:0;";
      listener = function (event) {
        if (event.origin !== simOrigin || !iframe || event.source !== iframe.contentWindow) {
          return;
        }
        var data = event.data || {};
        if (data.type !== COMPLETE) {
          return;
        }
        if (data.returnUrl) {
          window.location.assign(data.returnUrl);
        } else if (typeof onComplete === "function") {
          onComplete();
        }
      };
      window.addEventListener("message", listener);
      container.appendChild(iframe);
    };

    this.unmount = function () {
      if (listener) {
        window.removeEventListener("message", listener);
        listener = null;
      }
      if (iframe && iframe.parentNode) {
        iframe.parentNode.removeChild(iframe);
      }
      iframe = null;
    };

    this.destroy = this.unmount;
  }

  function Stripe(publishableKey) {
    if (!(this instanceof Stripe)) {
      return new Stripe(publishableKey);
    }
    if (typeof publishableKey !== "string" || publishableKey.indexOf("pk_") !== 0) {
      throw new Error("Stripe(): a publishable key (pk_test_… or pk_live_…) is required");
    }
    this.initEmbeddedCheckout = function (options) {
      var fetchClientSecret = options && options.fetchClientSecret;
      if (typeof fetchClientSecret !== "function") {
        return Promise.reject(
          new Error("initEmbeddedCheckout(): fetchClientSecret must be a function")
        );
      }
      return Promise.resolve(fetchClientSecret()).then(function (clientSecret) {
        if (typeof clientSecret !== "string" || clientSecret.indexOf(SECRET_SEPARATOR) < 0) {
          throw new Error("initEmbeddedCheckout(): fetchClientSecret gave no client secret");
        }
        return new EmbeddedCheckout(clientSecret, options.onComplete);
      });
    };
  }

  window.Stripe = Stripe;
})();
