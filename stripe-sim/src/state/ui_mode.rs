//! `ui_mode` and the redirect parameters that belong to each mode.
//!
//! Stripe's rules, as its API answers them:
//! - the hosted page (`hosted`, `hosted_page`; the default) redirects to `success_url` and links
//!   back to `cancel_url`; `return_url` and `redirect_on_completion` are refused;
//! - the embedded form (`embedded`, `embedded_page`) is mounted on the merchant's own page by
//!   Stripe.js and sends the customer to `return_url`; `success_url` and `cancel_url` are
//!   refused, and `return_url` is required unless `redirect_on_completion=never`, where it is
//!   refused instead (there is nowhere to go).

use crate::error::SimError;

/// How the customer meets Checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UiMode {
    /// The payment page at the session's `url`.
    Hosted,
    Embedded(Embedded),
}

/// An embedded session's redirect settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Embedded {
    /// The spelling the session was created with, rendered back in `ui_mode`.
    pub spelling: &'static str,
    /// May hold `{CHECKOUT_SESSION_ID}`; `None` only with `redirect_on_completion=never`.
    pub return_url: Option<String>,
    pub redirect_on_completion: RedirectOnCompletion,
}

/// `redirect_on_completion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectOnCompletion {
    Always,
    /// Only redirect-based payment methods leave the page; a card payment stays on it.
    IfRequired,
    Never,
}

impl RedirectOnCompletion {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RedirectOnCompletion::Always => "always",
            RedirectOnCompletion::IfRequired => "if_required",
            RedirectOnCompletion::Never => "never",
        }
    }
}

/// The parameters that decide the mode, as sent.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UiModeParams<'a> {
    pub ui_mode: Option<&'a str>,
    pub success_url: Option<&'a str>,
    pub cancel_url: Option<&'a str>,
    pub return_url: Option<&'a str>,
    pub redirect_on_completion: Option<&'a str>,
}

impl UiMode {
    /// Applies Stripe's rules; the error names the parameter that breaks one.
    pub(crate) fn decide(p: UiModeParams<'_>) -> Result<UiMode, SimError> {
        match p.ui_mode {
            None | Some("hosted") | Some("hosted_page") => hosted(p),
            Some("embedded") => embedded("embedded", p),
            Some("embedded_page") => embedded("embedded_page", p),
            Some("") => Err(SimError::empty_param("ui_mode")),
            Some("custom" | "elements" | "form") => Err(SimError::invalid_param(
                "ui_mode",
                format!(
                    "stripe-sim serves the hosted page and the embedded form, not ui_mode={}.",
                    p.ui_mode.unwrap_or_default()
                ),
            )),
            Some(other) => Err(SimError::invalid_param(
                "ui_mode",
                format!(
                    "Invalid ui_mode: must be one of hosted_page, embedded_page, elements or form \
                     (got {other})."
                ),
            )),
        }
    }

    /// `return_url`, when the session has one.
    pub(crate) fn return_url(&self) -> Option<&str> {
        match self {
            UiMode::Hosted => None,
            UiMode::Embedded(e) => e.return_url.as_deref(),
        }
    }
}

fn hosted(p: UiModeParams<'_>) -> Result<UiMode, SimError> {
    for (param, value) in [
        ("return_url", p.return_url),
        ("redirect_on_completion", p.redirect_on_completion),
    ] {
        if value.is_some() {
            return Err(SimError::invalid_param(
                param,
                format!(
                    "You can only pass `{param}` when `ui_mode` is `embedded`. Use \
                     `success_url` and `cancel_url` with the hosted page."
                ),
            ));
        }
    }
    Ok(UiMode::Hosted)
}

fn embedded(spelling: &'static str, p: UiModeParams<'_>) -> Result<UiMode, SimError> {
    for (param, value) in [("success_url", p.success_url), ("cancel_url", p.cancel_url)] {
        if value.is_some() {
            return Err(SimError::invalid_param(
                param,
                format!(
                    "You cannot pass `{param}` when `ui_mode` is `embedded`. Use `return_url` \
                     instead."
                ),
            ));
        }
    }
    let redirect_on_completion = match p.redirect_on_completion {
        None | Some("always") => RedirectOnCompletion::Always,
        Some("if_required") => RedirectOnCompletion::IfRequired,
        Some("never") => RedirectOnCompletion::Never,
        Some("") => return Err(SimError::empty_param("redirect_on_completion")),
        Some(other) => {
            return Err(SimError::invalid_param(
                "redirect_on_completion",
                format!(
                    "Invalid redirect_on_completion: must be one of always, if_required, or \
                     never (got {other})."
                ),
            ))
        }
    };
    let return_url = match (redirect_on_completion, p.return_url) {
        (_, Some("")) => return Err(SimError::empty_param("return_url")),
        (RedirectOnCompletion::Never, Some(_)) => {
            return Err(SimError::invalid_param(
                "return_url",
                "You cannot pass `return_url` when `redirect_on_completion` is `never`.",
            ))
        }
        (RedirectOnCompletion::Never, None) => None,
        (_, None) => return Err(SimError::missing_param("return_url")),
        (_, Some(url)) => Some(url.to_owned()),
    };
    Ok(UiMode::Embedded(Embedded {
        spelling,
        return_url,
        redirect_on_completion,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETURN: Option<&str> = Some("https://shop.test/done?session_id={CHECKOUT_SESSION_ID}");

    fn refused(p: UiModeParams<'_>) -> String {
        let err = UiMode::decide(p).unwrap_err();
        assert_eq!(err.status(), 400);
        err.param().unwrap_or_default().to_owned()
    }

    #[test]
    fn embedded_with_a_return_url_keeps_it() {
        let mode = UiMode::decide(UiModeParams {
            ui_mode: Some("embedded"),
            return_url: RETURN,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(mode.return_url(), RETURN);
    }

    #[test]
    fn each_broken_rule_names_its_parameter() {
        let embedded = UiModeParams {
            ui_mode: Some("embedded_page"),
            return_url: RETURN,
            ..Default::default()
        };
        let cases = [
            (
                UiModeParams {
                    success_url: Some("https://shop.test/ok"),
                    ..embedded
                },
                "success_url",
            ),
            (
                UiModeParams {
                    cancel_url: Some("https://shop.test/no"),
                    ..embedded
                },
                "cancel_url",
            ),
            (
                UiModeParams {
                    return_url: None,
                    ..embedded
                },
                "return_url",
            ),
            (
                UiModeParams {
                    redirect_on_completion: Some("never"),
                    ..embedded
                },
                "return_url",
            ),
            (
                UiModeParams {
                    redirect_on_completion: Some("sometimes"),
                    ..embedded
                },
                "redirect_on_completion",
            ),
            (
                UiModeParams {
                    return_url: RETURN,
                    ..Default::default()
                },
                "return_url",
            ),
            (
                UiModeParams {
                    ui_mode: Some("sideways"),
                    ..Default::default()
                },
                "ui_mode",
            ),
        ];
        for (params, param) in cases {
            assert_eq!(refused(params), param, "{params:?}");
        }
    }

    #[test]
    fn never_redirecting_needs_no_return_url() {
        let mode = UiMode::decide(UiModeParams {
            ui_mode: Some("embedded"),
            redirect_on_completion: Some("never"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(mode.return_url(), None);
    }
}
