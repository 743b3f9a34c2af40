//! Metric names out of PromQL expressions (the dashboard's targets, the alert rules), so the
//! deploy tests can check each one against a real `/metrics`.
//!
//! A scanner, not a parser: it skips strings, label matchers `{…}`, ranges `[…]`, the label lists
//! of `by`/`without`/`on`/`ignoring`/`group_left`/`group_right`, numbers and durations, Grafana
//! variables (`$__rate_interval`), and every identifier followed by `(` (functions and
//! aggregations). What is left is a metric name.

use std::collections::BTreeSet;

const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end",
];
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names `expr` selects.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_group(&chars, i, '{', '}'),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                // `sum by (le) (…)`: an aggregation whose grouping comes first.
                let rest: String = chars[next..].iter().take(9).collect();
                let grouped = ["by", "without"].iter().any(|k| {
                    rest.starts_with(k)
                        && rest[k.len()..].starts_with(|c: char| c == '(' || c.is_whitespace())
                });
                let call = chars.get(next) == Some(&'(') || grouped;
                if LABEL_LIST_KEYWORDS.contains(&word.as_str()) {
                    if call {
                        i = skip_group(&chars, next, '(', ')');
                    }
                } else if !call && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Index just past the string starting at `start` (backslash escapes honoured).
fn skip_string(chars: &[char], start: usize) -> usize {
    let quote = chars[start];
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if quote != '`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Index just past the group opened at `start`, nested groups and strings included.
fn skip_group(chars: &[char], start: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// The sample names of a Prometheus text exposition (`x_bucket`, `x_sum`, `x_count` for a
/// histogram), comments left out.
pub fn exposed_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The label names `expr` groups by, joins on or matches (`by (…)`, `on (…)`, `{name="…"}`, …).
pub fn label_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut labels = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '[' => i = skip_group(&chars, i, '[', ']'),
            '{' => {
                let end = skip_group(&chars, i, '{', '}');
                // Matchers: `name op "value"`, comma-separated; names are what precedes an operator.
                let mut j = i + 1;
                while j < end.saturating_sub(1) {
                    match chars[j] {
                        '"' | '\'' | '`' => j = skip_string(&chars, j),
                        c if is_ident_start(c) => {
                            let start = j;
                            while j < end && is_ident(chars[j]) {
                                j += 1;
                            }
                            labels.insert(chars[start..j].iter().collect());
                        }
                        _ => j += 1,
                    }
                }
                i = end;
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                if LABEL_LIST_KEYWORDS.contains(&word.as_str()) && chars.get(next) == Some(&'(') {
                    let end = skip_group(&chars, next, '(', ')');
                    let list: String = chars[next + 1..end - 1].iter().collect();
                    labels.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    );
                    i = end;
                }
            }
            _ => i += 1,
        }
    }
    labels
}

/// Each sample name of an exposition with the label names it carries.
pub fn exposed_labels(exposition: &str) -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let mut out: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for line in exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, rest) = match line.find('{') {
            Some(brace) => (&line[..brace], &line[brace..]),
            None => (line.split(' ').next().unwrap_or_default(), ""),
        };
        let entry = out.entry(name.to_owned()).or_default();
        if !rest.is_empty() {
            let chars: Vec<char> = rest.chars().collect();
            let end = skip_group(&chars, 0, '{', '}');
            let inner: String = chars[1..end - 1].iter().collect();
            let inner: Vec<char> = inner.chars().collect();
            let mut j = 0;
            while j < inner.len() {
                match inner[j] {
                    '"' => j = skip_string(&inner, j),
                    c if is_ident_start(c) => {
                        let start = j;
                        while j < inner.len() && is_ident(inner[j]) {
                            j += 1;
                        }
                        entry.insert(inner[start..j].iter().collect());
                    }
                    _ => j += 1,
                }
            }
        }
    }
    out
}
