//! The embedded form's settings, resolved once at start-up: where Stripe.js comes from, the key
//! it starts with, and the Content-Security-Policy of the page that loads it.
//!
//! The checkout page is the only one that runs a script from another origin, so only it gets a
//! policy naming that origin (for the script, and for the iframe Stripe.js mounts); every other
//! page keeps [`crate::headers::CONTENT_SECURITY_POLICY`].

use shared::settings::{CheckoutUiMode, LandingSettings};

/// `landing.checkout_ui_mode = "embedded"`, with what its page needs.
#[derive(Debug, Clone)]
pub struct EmbeddedCheckout {
    /// `landing.stripe_js_url`, as the page's `<script src>`.
    pub stripe_js_url: String,
    pub publishable_key: String,
    /// The checkout page's `Content-Security-Policy`.
    pub content_security_policy: String,
}

impl EmbeddedCheckout {
    /// `None` in hosted mode. The settings were checked (`landing.stripe_js_url` is an http(s)
    /// URL with a host), so a URL that does not parse here is reported rather than assumed.
    pub fn from_settings(landing: &LandingSettings) -> anyhow::Result<Option<Self>> {
        if landing.checkout_ui_mode != CheckoutUiMode::Embedded {
            return Ok(None);
        }
        let origin = url::Url::parse(&landing.stripe_js_url)
            .map_err(|e| anyhow::anyhow!("landing.stripe_js_url: {e}"))?
            .origin()
            .ascii_serialization();
        Ok(Some(Self {
            stripe_js_url: landing.stripe_js_url.clone(),
            publishable_key: landing.publishable_key.clone(),
            content_security_policy: policy(&origin),
        }))
    }
}

/// The site's policy with Stripe.js's origin added for scripts and frames, and nothing else.
fn policy(stripe_origin: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' {stripe_origin}; frame-src {stripe_origin}; \
         style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_only_stripe_js_origin_for_scripts_and_frames() {
        let p = policy("https://js.stripe.com");
        assert!(
            p.contains("script-src 'self' https://js.stripe.com;"),
            "{p}"
        );
        assert!(p.contains("frame-src https://js.stripe.com;"), "{p}");
        assert!(!p.contains("unsafe-inline"));
    }
}
