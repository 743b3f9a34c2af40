//! CPU time per component over a pipeline run, from `/proc`: where a fulfillment's CPU goes
//! when the whole pipeline shares one small machine.
//!
//! Postgres runs a process per connection: live ones are read directly, and the CPU of those
//! that exited during the run is in the postmaster's `cutime`/`cstime` (it reaps them), so the
//! sum over every `postgres` process of own plus reaped-children time covers both. RabbitMQ is
//! `beam.smp`. The bench process holds the simulator and the publisher.

use std::collections::HashMap;

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// Cumulative CPU ticks by component at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    ticks: HashMap<&'static str, u64>,
    /// Every CPU's busy ticks (`/proc/stat`), for what the listed components do not cover.
    machine: u64,
}

/// The components' ticks now; `workers` are the worker processes' pids.
pub fn snapshot(workers: &[u32]) -> Snapshot {
    let mut ticks = HashMap::new();
    let workers_ticks: u64 = workers.iter().filter_map(|&pid| own_ticks(pid)).sum();
    ticks.insert("workers", workers_ticks);
    ticks.insert(
        "bench (simulator, publisher)",
        own_ticks(std::process::id()).unwrap_or(0),
    );
    let (postgres, rabbitmq) = by_command();
    ticks.insert("postgres", postgres);
    ticks.insert("rabbitmq", rabbitmq);
    Snapshot {
        ticks,
        machine: machine_busy_ticks().unwrap_or(0),
    }
}

/// One line: µs of CPU per fulfillment for each component, and for the whole machine.
pub fn per_fulfillment(before: &Snapshot, after: &Snapshot, fulfillments: usize) -> String {
    let micros = |ticks: u64| ticks as f64 / TICKS_PER_SEC * 1e6 / fulfillments.max(1) as f64;
    let mut parts: Vec<(&str, f64)> = after
        .ticks
        .iter()
        .map(|(name, t)| (*name, micros(t.saturating_sub(before.ticks[name]))))
        .collect();
    parts.sort_by(|a, b| b.1.total_cmp(&a.1));
    let listed: String = parts
        .iter()
        .map(|(name, us)| format!("{name} {us:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    let machine = micros(after.machine.saturating_sub(before.machine));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "CPU per fulfillment (µs): {listed}; the whole machine (anything else running \
         included) {machine:.0}, so {cores} cores allow at most {:.0}/s",
        cores as f64 * 1e6 / machine.max(1.0)
    )
}

/// utime + stime of `pid`, fields 14 and 15 of `/proc/<pid>/stat` (after the parenthesised
/// command, which may hold spaces).
fn own_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The fields after the command of `/proc/<pid>/stat`: index 0 is field 3 (state).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// Own plus reaped-children ticks summed over every `postgres` and every `beam.smp` process.
fn by_command() -> (u64, u64) {
    let (mut postgres, mut rabbitmq) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else {
            continue;
        };
        let total = stat_fields(pid).and_then(|f| {
            let n = |i: usize| f.get(i)?.parse::<u64>().ok();
            Some(n(11)? + n(12)? + n(13)? + n(14)?)
        });
        match (comm.trim(), total) {
            ("postgres", Some(t)) => postgres += t,
            ("beam.smp", Some(t)) => rabbitmq += t,
            _ => {}
        }
    }
    (postgres, rabbitmq)
}

/// Busy ticks of every CPU: the first line of `/proc/stat` less idle and iowait.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let idle = cpu.get(3)? + cpu.get(4)?;
    Some(cpu.iter().take(8).sum::<u64>() - idle)
}
