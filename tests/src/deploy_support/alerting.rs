//! What the alerting checks share: the alert rules as data, RUNBOOK.md's headings as GitHub
//! anchors, and Alertmanager's configuration rendered by its own entrypoint
//! (deploy/alertmanager/entrypoint.sh) into a throwaway directory, for `amtool` to load.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::{read_repo_file, read_yaml, repo_root};

pub const AMTOOL: &str =
    "Debian's prometheus-alertmanager package, installed by scripts/ensure-services";

/// What every `runbook_url` annotation starts with: the operator's RUNBOOK.md address, an
/// external label of Prometheus's (deploy/prometheus/prometheus.yml), then the anchor.
pub const RUNBOOK_URL_PREFIX: &str = "{{ $externalLabels.runbook_base_url }}#";

/// Every alerting rule of deploy/prometheus/rules.yml, whatever its group.
pub fn alert_rules() -> Vec<Value> {
    let rules = read_yaml("deploy/prometheus/rules.yml");
    rules["groups"]
        .as_array()
        .expect("rules.yml has groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("a group has rules").clone())
        .filter(|r| r.get("alert").is_some())
        .collect()
}

/// The anchor GitHub gives a heading: lowercased, punctuation dropped (letters, digits, `-` and
/// `_` stay), each space a `-`.
pub fn github_anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of RUNBOOK.md's `##` and `###` headings.
pub fn runbook_anchors() -> BTreeSet<String> {
    read_repo_file("RUNBOOK.md")
        .lines()
        .filter_map(|l| l.strip_prefix("### ").or_else(|| l.strip_prefix("## ")))
        .map(github_anchor)
        .collect()
}

/// deploy/alertmanager/alertmanager.yml as the entrypoint wrote it, in a directory removed on
/// drop.
#[derive(Debug)]
pub struct RenderedConfig {
    pub dir: PathBuf,
    /// What the entrypoint logged (its warnings about unset destinations).
    pub log: String,
}

impl RenderedConfig {
    /// Runs the entrypoint with these `ALERT_*` variables (and none of the caller's) and `true`
    /// as the command it hands over to.
    pub fn render(values: &[(&str, &str)]) -> RenderedConfig {
        let dir = std::env::temp_dir().join(format!("alertmanager-{}", uuid::Uuid::new_v4()));
        let mut command = Command::new("sh");
        command
            .arg(repo_root().join("deploy/alertmanager/entrypoint.sh"))
            .arg("true")
            .env("ALERTMANAGER_CONFIG_DIR", &dir);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("ALERT_")) {
            command.env_remove(key);
        }
        command.envs(values.iter().copied());
        let output = command.output().expect("run sh");
        let rendered = RenderedConfig {
            dir,
            log: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            output.status.success(),
            "the entrypoint failed: {}",
            rendered.log
        );
        rendered
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join("alertmanager.yml")
    }

    pub fn text(&self) -> String {
        std::fs::read_to_string(self.path()).expect("the entrypoint wrote the config")
    }

    /// `amtool ARGS…` in the rendered config's directory: (success, stdout + stderr).
    pub fn amtool(&self, args: &[&str]) -> (bool, String) {
        amtool_in(&self.dir, args)
    }
}

impl Drop for RenderedConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `amtool ARGS…` run in `dir`: (success, stdout + stderr).
pub fn amtool_in(dir: &Path, args: &[&str]) -> (bool, String) {
    let output = Command::new("amtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run amtool ({AMTOOL}): {e}"));
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}
