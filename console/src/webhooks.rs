//! The webhook side of the last hour, from Prometheus (the ingress counts and times every
//! answer in its metrics; nothing about a webhook reaches the database before the worker):
//! the acknowledgement p99 per minute and the answers by outcome.

use std::time::Duration;

use serde::Deserialize;

use crate::activity::MINUTES;

#[derive(Debug)]
pub struct Prometheus {
    client: reqwest::Client,
    /// `…/api/v1`; `None` when `console.prometheus_url` is empty.
    api: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("console.prometheus_url is not set")]
    NotConfigured,
    #[error("Prometheus did not answer: {0}")]
    Unreachable(String),
    #[error("Prometheus refused the query: {0}")]
    Refused(String),
}

#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    error: String,
    #[serde(default)]
    data: Data,
}

#[derive(Debug, Default, Deserialize)]
struct Data {
    #[serde(default)]
    result: Vec<Series>,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    metric: std::collections::BTreeMap<String, String>,
    /// An instant query's `[time, "value"]`.
    #[serde(default)]
    value: Option<(f64, String)>,
    /// A range query's points.
    #[serde(default)]
    values: Vec<(f64, String)>,
}

const ACK_P99: &str =
    "histogram_quantile(0.99, sum by (le) (rate(ingress_webhook_ack_seconds_bucket[5m])))";
const OUTCOMES: &str = "sum by (outcome) (increase(ingress_webhook_requests_total[1h]))";

impl Prometheus {
    pub fn new(url: &str) -> reqwest::Result<Self> {
        let base = url.trim_end_matches('/');
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            api: (!base.is_empty()).then(|| format!("{base}/api/v1")),
        })
    }

    async fn query(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<Series>, PrometheusError> {
        let api = self.api.as_ref().ok_or(PrometheusError::NotConfigured)?;
        let answer: Answer = self
            .client
            .get(format!("{api}/{path}"))
            .query(params)
            .send()
            .await
            .map_err(|e| PrometheusError::Unreachable(shared::errors::error_chain(&e)))?
            .json()
            .await
            .map_err(|e| PrometheusError::Unreachable(shared::errors::error_chain(&e)))?;
        if answer.status != "success" {
            return Err(PrometheusError::Refused(answer.error));
        }
        Ok(answer.data.result)
    }

    /// The acknowledgement p99 in seconds for each of the last 60 minutes, oldest first.
    pub async fn ack_p99_per_minute(&self) -> Result<Vec<Option<f64>>, PrometheusError> {
        let end = chrono::Utc::now().timestamp();
        let start = end - (MINUTES as i64 - 1) * 60;
        let series = self
            .query(
                "query_range",
                &[
                    ("query", ACK_P99.to_owned()),
                    ("start", start.to_string()),
                    ("end", end.to_string()),
                    ("step", "60".to_owned()),
                ],
            )
            .await?;
        let mut slots = vec![None; MINUTES];
        for (at, value) in series.into_iter().flat_map(|s| s.values) {
            let slot = ((at as i64 - start) / 60) as usize;
            if let (Some(slot), Ok(value)) = (slots.get_mut(slot), value.parse::<f64>()) {
                // NaN: no webhook in the window.
                *slot = value.is_finite().then_some(value);
            }
        }
        Ok(slots)
    }

    /// Webhook answers in the last hour by outcome (`published`, `bad_signature`, …), most
    /// first.
    pub async fn outcomes_last_hour(&self) -> Result<Vec<(String, u64)>, PrometheusError> {
        let series = self
            .query("query", &[("query", OUTCOMES.to_owned())])
            .await?;
        let mut outcomes: Vec<(String, u64)> = series
            .into_iter()
            .filter_map(|s| {
                let count = s.value?.1.parse::<f64>().ok()?;
                Some((
                    s.metric.get("outcome").cloned().unwrap_or_default(),
                    count.round() as u64,
                ))
            })
            .collect();
        outcomes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(outcomes)
    }
}
