//! The mail templates: minijinja files the merchant may change. The shipped ones are compiled
//! in; a file of the same name in `notifier.template_dir` replaces one. Every template is
//! parsed at start-up, so a broken edit stops the notifier with the file's name instead of
//! failing each mail.
//!
//! Each template sees `shop_name` and `order` (the announcement's body, field for field, as in
//! `docs/contract/`), and two filters: `money(currency)` (`{{ order.amount_total |
//! money(order.currency) }}` renders `40.00 USD`) and `label_lines` (`order.shipping` as the
//! lines of a parcel label, the same lines the success page shows).

use std::path::Path;

use anyhow::Context;
use minijinja::{Environment, Value};
use serde::Serialize;
use shared::stripe::ShippingDetails;
use shared::{Currency, Money};

/// The templates there are, by file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateName {
    FulfilledSubject,
    FulfilledBody,
    PaymentFailedSubject,
    PaymentFailedBody,
}

impl TemplateName {
    pub const ALL: [TemplateName; 4] = [
        TemplateName::FulfilledSubject,
        TemplateName::FulfilledBody,
        TemplateName::PaymentFailedSubject,
        TemplateName::PaymentFailedBody,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            TemplateName::FulfilledSubject => "order_fulfilled.subject.txt",
            TemplateName::FulfilledBody => "order_fulfilled.body.txt",
            TemplateName::PaymentFailedSubject => "payment_failed.subject.txt",
            TemplateName::PaymentFailedBody => "payment_failed.body.txt",
        }
    }

    fn shipped(self) -> &'static str {
        match self {
            TemplateName::FulfilledSubject => {
                include_str!("../templates/order_fulfilled.subject.txt")
            }
            TemplateName::FulfilledBody => include_str!("../templates/order_fulfilled.body.txt"),
            TemplateName::PaymentFailedSubject => {
                include_str!("../templates/payment_failed.subject.txt")
            }
            TemplateName::PaymentFailedBody => {
                include_str!("../templates/payment_failed.body.txt")
            }
        }
    }

    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.file_name() == name)
            .with_context(|| {
                let names: Vec<_> = Self::ALL.iter().map(|t| t.file_name()).collect();
                format!("no template {name:?}; there are {}", names.join(", "))
            })
    }
}

/// The parsed templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The shipped templates, each replaced by the file of the same name in `dir` (when `dir`
    /// is not empty and has one).
    pub fn load(dir: &str) -> anyhow::Result<Self> {
        let mut env = Environment::new();
        env.add_filter("money", money);
        env.add_filter("label_lines", label_lines);
        for name in TemplateName::ALL {
            let path = Path::new(dir).join(name.file_name());
            let source = if !dir.is_empty() && path.is_file() {
                std::fs::read_to_string(&path)
                    .with_context(|| format!("notifier.template_dir: reading {}", path.display()))?
            } else {
                name.shipped().to_owned()
            };
            env.add_template_owned(name.file_name(), source)
                .with_context(|| format!("notifier.template_dir: template {}", name.file_name()))?;
        }
        Ok(Self { env })
    }

    /// Renders `name` for `order` (any announcement body).
    pub fn render(
        &self,
        name: TemplateName,
        shop_name: &str,
        order: &impl Serialize,
    ) -> anyhow::Result<String> {
        let template = self.env.get_template(name.file_name())?;
        let context = minijinja::context! {
            shop_name => shop_name,
            order => Value::from_serialize(order),
        };
        template
            .render(context)
            .with_context(|| format!("rendering {}", name.file_name()))
    }

    /// `name` rendered with a sample order of the announcement it is for.
    pub fn preview(&self, name: TemplateName, shop_name: &str) -> anyhow::Result<String> {
        match name {
            TemplateName::FulfilledSubject | TemplateName::FulfilledBody => {
                self.render(name, shop_name, &samples::fulfilled())
            }
            TemplateName::PaymentFailedSubject | TemplateName::PaymentFailedBody => {
                self.render(name, shop_name, &samples::payment_failed())
            }
        }
    }
}

/// `amount | money(currency)`: minor units as the currency's decimal and its code. An amount or
/// currency the announcement left out renders as nothing rather than failing the mail.
fn money(amount: Option<i64>, currency: Option<&str>) -> String {
    let (Some(minor), Some(code)) = (amount, currency.and_then(Currency::parse)) else {
        return String::new();
    };
    let decimal = Money::new(minor, code.clone()).decimal();
    format!("{decimal} {}", code.code().to_ascii_uppercase())
}

/// `shipping | label_lines`: recipient, street, locality and country, one per line; nothing
/// for an order that ships nowhere (`null`) or a value that is not a shipping address.
fn label_lines(shipping: Value) -> Vec<String> {
    serde_json::to_value(&shipping)
        .ok()
        .and_then(|v| serde_json::from_value::<Option<ShippingDetails>>(v).ok())
        .flatten()
        .map(|s| s.label_lines())
        .unwrap_or_default()
}

/// Sample announcements for `notifier preview`.
mod samples {
    use shared::announcements::{
        AnnouncedAccess, AnnouncedLineItem, OrderFulfilled, OrderPaymentFailed, VERSION,
    };
    use shared::store::orders::OrderSubscription;
    use shared::stripe::{Address, Recurring, ShippingDetails};

    pub fn fulfilled() -> OrderFulfilled {
        OrderFulfilled {
            version: VERSION,
            session_id: "cs_test_preview".into(),
            account: None,
            order_number: 1042,
            customer_name: Some("Jenny Rosen".into()),
            customer_email: Some("jenny.rosen@example.com".into()),
            currency: Some("usd".into()),
            amount_total: Some(4500),
            fulfilled_by: Some("webhook".into()),
            fulfilled_at: None,
            subscription: Some(OrderSubscription {
                id: "sub_preview".into(),
                status: "active".into(),
                recurring: Some(Recurring {
                    interval: "month".into(),
                    interval_count: 1,
                }),
                current_period_end: Some("2027-01-04T10:00:00Z".parse().expect("a date")),
            }),
            access: vec![AnnouncedAccess {
                product: "prod_preview_ebook".into(),
                title: "Field guide (PDF)".into(),
                url: Some("https://shop.example/downloads/field-guide".into()),
                licence_key: Some("FG-1042-PREVIEW".into()),
            }],
            shipping: Some(ShippingDetails {
                name: Some("Jenny Rosen".into()),
                address: Address {
                    line1: Some("354 Oyster Point Blvd".into()),
                    line2: None,
                    city: Some("South San Francisco".into()),
                    state: Some("CA".into()),
                    postal_code: Some("94080".into()),
                    country: Some("US".into()),
                },
            }),
            line_items: vec![
                AnnouncedLineItem {
                    id: "li_preview_1".into(),
                    description: "T-shirt".into(),
                    quantity: 2,
                    price: Some("price_tshirt".into()),
                    amount_total: 4000,
                },
                AnnouncedLineItem {
                    id: "li_preview_2".into(),
                    description: "Sticker".into(),
                    quantity: 1,
                    price: None,
                    amount_total: 500,
                },
            ],
        }
    }

    pub fn payment_failed() -> OrderPaymentFailed {
        OrderPaymentFailed {
            version: VERSION,
            session_id: "cs_test_preview".into(),
            account: None,
            customer_email: Some("jenny.rosen@example.com".into()),
            customer_name: Some("Jenny Rosen".into()),
            amount_total: Some(4500),
            currency: Some("usd".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::announcements::OrderFulfilled;

    #[test]
    fn the_shipped_confirmation_lists_the_lines_and_the_total() {
        let templates = Templates::load("").unwrap();
        let body = templates
            .preview(TemplateName::FulfilledBody, "Corner Store")
            .unwrap();
        assert!(body.starts_with("Hello Jenny Rosen,"), "{body}");
        assert!(body.contains("2 x T-shirt: 40.00 USD"), "{body}");
        assert!(body.contains("Total: 45.00 USD"), "{body}");
        assert!(
            body.contains(
                "You now have access to:\n  Field guide (PDF): https://shop.example/downloads/field-guide\n    Licence key: FG-1042-PREVIEW\n"
            ),
            "{body}"
        );
        assert!(
            body.contains("Ships to:\n  Jenny Rosen\n  354 Oyster Point Blvd\n  South San Francisco, CA 94080\n  US\n"),
            "{body}"
        );
        assert!(
            body.contains(
                "Your subscription is active and renews every month, next on 2027-01-04.\n"
            ),
            "{body}"
        );
        // A one-time order says nothing of subscriptions.
        let one_time = OrderFulfilled {
            subscription: None,
            ..samples::fulfilled()
        };
        let body = templates
            .render(TemplateName::FulfilledBody, "Corner Store", &one_time)
            .unwrap();
        assert!(!body.contains("subscription"), "{body}");
        let subject = templates
            .preview(TemplateName::FulfilledSubject, "Corner Store")
            .unwrap();
        assert_eq!(subject.trim(), "Your order #1042 at Corner Store");
    }

    #[test]
    fn a_file_in_the_template_dir_replaces_the_shipped_one_and_a_broken_one_is_named() {
        let dir = std::env::temp_dir().join(format!("notifier-templates-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("payment_failed.subject.txt"),
            "{{ shop_name }}: payment of {{ order.amount_total | money(order.currency) }} failed",
        )
        .unwrap();
        let templates = Templates::load(dir.to_str().unwrap()).unwrap();
        let subject = templates
            .preview(TemplateName::PaymentFailedSubject, "Corner Store")
            .unwrap();
        assert_eq!(subject, "Corner Store: payment of 45.00 USD failed");

        std::fs::write(dir.join("order_fulfilled.body.txt"), "{% for %}").unwrap();
        let refused = Templates::load(dir.to_str().unwrap()).unwrap_err();
        assert!(
            format!("{refused:#}").contains("order_fulfilled.body.txt"),
            "{refused:#}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unknown_template_name_lists_the_ones_there_are() {
        let refused = TemplateName::parse("receipt.html").unwrap_err().to_string();
        assert!(refused.contains("order_fulfilled.body.txt"), "{refused}");
    }
}
