//! What a run measured, as text for people and JSON for scripts.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies are recorded in microseconds, from 1 µs to 60 s, with 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// What one sender saw; merged into the report at the end.
#[derive(Debug)]
pub struct Tally {
    pub latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    /// Open loop: requests that started more than a millisecond after their scheduled time
    /// because every sender was busy (their latency counts from the schedule).
    pub late_starts: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            latency_us: new_histogram(),
            statuses: BTreeMap::new(),
            transport_errors: 0,
            late_starts: 0,
        }
    }
}

impl Tally {
    pub fn record(&mut self, status: Option<u16>, latency: Duration) {
        match status {
            Some(status) => *self.statuses.entry(status).or_default() += 1,
            None => self.transport_errors += 1,
        }
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.latency_us.saturating_record(micros);
    }

    pub fn merge(&mut self, other: Tally) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms with the same bounds merge");
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport_errors += other.transport_errors;
        self.late_starts += other.late_starts;
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// `rate` (open loop) or `concurrency` (closed loop).
    pub mode: String,
    pub target: String,
    /// Open loop: the requested rate.
    pub rate_per_sec: Option<u32>,
    /// Concurrent senders (closed loop) or connections (open loop).
    pub concurrency: usize,
    /// Synthetic session ids, or real sessions created in the simulator before the run.
    pub events: String,
    /// Size of one event body.
    pub body_bytes: usize,
    /// The measured window: first send to last answer.
    pub elapsed_secs: f64,
    pub requests: u64,
    /// Answers by status code.
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub late_starts: u64,
    /// CPU time the generator itself used during the window (Linux; 0 elsewhere): if it nears
    /// the window times the cores, the generator, not the target, is the limit.
    pub generator_cpu_secs: f64,
    /// Answered requests per second.
    pub throughput_per_sec: f64,
    /// 2xx answers per second.
    pub ok_per_sec: f64,
    pub latency_ms: Latency,
}

impl LoadReport {
    pub fn from_tally(
        header: ReportHeader,
        tally: &Tally,
        elapsed: Duration,
        generator_cpu: Duration,
    ) -> LoadReport {
        let answered: u64 = tally.statuses.values().sum();
        let ok: u64 = tally
            .statuses
            .iter()
            .filter(|(status, _)| (200..300).contains(*status))
            .map(|(_, n)| n)
            .sum();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let h = &tally.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        LoadReport {
            mode: header.mode,
            target: header.target,
            rate_per_sec: header.rate_per_sec,
            concurrency: header.concurrency,
            events: header.events,
            body_bytes: header.body_bytes,
            elapsed_secs: secs,
            requests: answered + tally.transport_errors,
            statuses: tally.statuses.clone(),
            transport_errors: tally.transport_errors,
            late_starts: tally.late_starts,
            generator_cpu_secs: generator_cpu.as_secs_f64(),
            throughput_per_sec: answered as f64 / secs,
            ok_per_sec: ok as f64 / secs,
            latency_ms: Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                p999: ms(h.value_at_quantile(0.999)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            },
        }
    }

    /// A few lines for a terminal.
    pub fn to_text(&self) -> String {
        let statuses = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let rate = self
            .rate_per_sec
            .map(|r| format!(" at {r} req/s"))
            .unwrap_or_default();
        let l = &self.latency_ms;
        format!(
            "load: {mode}{rate}, {concurrency} connections, {events} events of {bytes} B → {target}\n\
             requests: {requests} in {elapsed:.2} s; statuses {{{statuses}}}; transport errors: {errors}; late starts: {late}; generator CPU {cpu:.2} s\n\
             throughput: {throughput:.0} answers/s, {ok:.0} 2xx/s\n\
             latency ms: p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  max {max:.3}  mean {mean:.3}\n",
            mode = self.mode,
            concurrency = self.concurrency,
            events = self.events,
            bytes = self.body_bytes,
            target = self.target,
            requests = self.requests,
            elapsed = self.elapsed_secs,
            errors = self.transport_errors,
            late = self.late_starts,
            cpu = self.generator_cpu_secs,
            throughput = self.throughput_per_sec,
            ok = self.ok_per_sec,
            p50 = l.p50,
            p90 = l.p90,
            p99 = l.p99,
            p999 = l.p999,
            max = l.max,
            mean = l.mean,
        )
    }
}

/// The run's description, known before it starts.
#[derive(Debug, Clone)]
pub struct ReportHeader {
    pub mode: String,
    pub target: String,
    pub rate_per_sec: Option<u32>,
    pub concurrency: usize,
    pub events: String,
    pub body_bytes: usize,
}

/// CPU time (user + system) this process has used so far, from `/proc/self/stat`; zero where
/// that file does not exist.
pub fn process_cpu_time() -> Duration {
    // Fields 14 and 15 (utime, stime), in clock ticks; Linux's USER_HZ is 100 on every
    // mainstream architecture.
    const TICKS_PER_SEC: u64 = 100;
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) is parenthesized and may contain spaces: count from its end.
    let Some(after_name) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // After the name, field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / TICKS_PER_SEC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates_come_from_the_merged_tallies() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for ms in 1..=100u64 {
            let tally = if ms % 2 == 0 { &mut a } else { &mut b };
            tally.record(Some(200), Duration::from_millis(ms));
        }
        b.record(Some(503), Duration::from_millis(1));
        b.record(None, Duration::from_millis(1));
        a.merge(b);
        let header = ReportHeader {
            mode: "concurrency".into(),
            target: "http://127.0.0.1:1/webhook".into(),
            rate_per_sec: None,
            concurrency: 2,
            events: "synthetic".into(),
            body_bytes: 1000,
        };
        let report = LoadReport::from_tally(header, &a, Duration::from_secs(2), Duration::ZERO);
        assert_eq!(report.requests, 102);
        assert_eq!(report.statuses[&200], 100);
        assert_eq!(report.statuses[&503], 1);
        assert_eq!(report.transport_errors, 1);
        assert!((report.throughput_per_sec - 50.5).abs() < 1e-9);
        assert!((report.ok_per_sec - 50.0).abs() < 1e-9);
        // 102 samples: 100 at 1..=100 ms and two at 1 ms; three significant digits.
        let l = &report.latency_ms;
        assert!((48.9..49.1).contains(&l.p50), "{l:?}");
        assert!((99.9..100.1).contains(&l.max), "{l:?}");
        assert_eq!(report.generator_cpu_secs, 0.0);
        let text = report.to_text();
        assert!(text.contains("200: 100"), "{text}");
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["statuses"]["503"], 1);
    }

    #[test]
    fn the_process_cpu_time_grows_with_work() {
        let before = process_cpu_time();
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        if cfg!(target_os = "linux") {
            assert!(process_cpu_time() > before);
        }
    }
}
