//! Reading typed values out of a parsed parameter tree, with errors that name the parameter.

use serde_json::{Map, Value};

use crate::error::SimError;
use crate::form;
use crate::pagination::{Cursor, PageRequest, DEFAULT_LIMIT, MAX_LIMIT};
use crate::state::CreatedFilter;

/// The parameters of one request: the query string of a GET, the form body of a POST.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    tree: Value,
}

impl Params {
    pub(crate) fn from_query(query: &str) -> Result<Self, SimError> {
        Ok(Params {
            tree: form::parse(query.as_bytes())?,
        })
    }

    pub(crate) fn from_form(body: &[u8]) -> Result<Self, SimError> {
        Ok(Params {
            tree: form::parse(body)?,
        })
    }

    /// The whole tree, which is what idempotency compares.
    pub(crate) fn tree(&self) -> &Value {
        &self.tree
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.tree.get(name)
    }

    /// Refuses any top-level parameter not in `supported`; see [`check_keys`].
    pub(crate) fn check_known(
        &self,
        supported: &[&str],
        stripe_only: &[&str],
        endpoint: &str,
    ) -> Result<(), SimError> {
        let map = self.tree.as_object().expect("a parsed tree is an object");
        check_keys(map, "", supported, stripe_only, endpoint)
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<String>, SimError> {
        self.get(name).map(|v| string(v, name)).transpose()
    }

    pub(crate) fn integer(&self, name: &str) -> Result<Option<i64>, SimError> {
        self.get(name).map(|v| integer(v, name)).transpose()
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, SimError> {
        let Some(raw) = self.string(name)? else {
            return Ok(None);
        };
        match raw.as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(SimError::invalid_param(
                name,
                format!("Invalid boolean: {raw}"),
            )),
        }
    }

    /// `expand[]`, each entry checked against what the endpoint can expand.
    pub(crate) fn expand(&self, expandable: &[&str]) -> Result<Vec<String>, SimError> {
        let paths = match self.get("expand") {
            None => return Ok(Vec::new()),
            Some(v) => string_list(v, "expand")?,
        };
        for path in &paths {
            if !expandable.contains(&path.as_str()) {
                return Err(SimError::invalid_param(
                    "expand",
                    format!("This property cannot be expanded ({path})."),
                ));
            }
        }
        Ok(paths)
    }

    /// `limit` (1–100, default 10) and `starting_after` / `ending_before`.
    pub(crate) fn page(&self) -> Result<PageRequest, SimError> {
        let limit = match self.integer("limit")? {
            None => DEFAULT_LIMIT,
            Some(n) if n < 1 => {
                return Err(SimError::invalid_param(
                    "limit",
                    "This value must be greater than or equal to 1.",
                ))
            }
            Some(n) if n > MAX_LIMIT as i64 => {
                return Err(SimError::invalid_param(
                    "limit",
                    format!("This value must be less than or equal to {MAX_LIMIT}."),
                ))
            }
            Some(n) => n as usize,
        };
        let after = self.non_empty("starting_after")?;
        let before = self.non_empty("ending_before")?;
        let cursor = match (after, before) {
            (Some(_), Some(_)) => {
                return Err(SimError::exclusive_params(
                    "starting_after",
                    "ending_before",
                ))
            }
            (Some(id), None) => Some(Cursor::StartingAfter(id)),
            (None, Some(id)) => Some(Cursor::EndingBefore(id)),
            (None, None) => None,
        };
        Ok(PageRequest { limit, cursor })
    }

    /// `created=t` or `created[gt|gte|lt|lte]=t`.
    pub(crate) fn created(&self) -> Result<CreatedFilter, SimError> {
        match self.get("created") {
            None => Ok(CreatedFilter::default()),
            Some(Value::Object(bounds)) => {
                let mut filter = CreatedFilter::default();
                for (op, value) in bounds {
                    let param = format!("created[{op}]");
                    let t = Some(integer(value, &param)?);
                    match op.as_str() {
                        "gt" => filter.gt = t,
                        "gte" => filter.gte = t,
                        "lt" => filter.lt = t,
                        "lte" => filter.lte = t,
                        _ => return Err(SimError::unknown_param(&param)),
                    }
                }
                Ok(filter)
            }
            Some(v) => Ok(CreatedFilter::exactly(integer(v, "created")?)),
        }
    }

    /// A string parameter, with the empty string read as absent (Stripe's "unset").
    pub(crate) fn non_empty(&self, name: &str) -> Result<Option<String>, SimError> {
        Ok(self.string(name)?.filter(|s| !s.is_empty()))
    }
}

/// Refuses keys of `map` outside `supported`: a key Stripe knows but the simulator does not
/// model (`stripe_only`) gets a message saying so, anything else is Stripe's `parameter_unknown`.
/// `prefix` is the parameter path of `map` (`line_items[0]`), empty at the top level.
pub(crate) fn check_keys(
    map: &Map<String, Value>,
    prefix: &str,
    supported: &[&str],
    stripe_only: &[&str],
    endpoint: &str,
) -> Result<(), SimError> {
    for key in map.keys() {
        if supported.contains(&key.as_str()) {
            continue;
        }
        let param = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}[{key}]")
        };
        return Err(if stripe_only.contains(&key.as_str()) {
            SimError::unsupported_param(&param, endpoint)
        } else {
            SimError::unknown_param(&param)
        });
    }
    Ok(())
}

/// A leaf string; a nested value where a string belongs is an error naming the parameter.
pub(crate) fn string(v: &Value, param: &str) -> Result<String, SimError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(SimError::invalid_param(
            param,
            format!("Invalid string: {param} must be a string, not a hash or an array."),
        )),
    }
}

/// A leaf integer.
pub(crate) fn integer(v: &Value, param: &str) -> Result<i64, SimError> {
    let raw = string(v, param)?;
    raw.trim()
        .parse()
        .map_err(|_| SimError::invalid_integer(param, &raw))
}

/// An array of strings (`types[]=a&types[]=b`); a single value counts as a one-element list.
pub(crate) fn string_list(v: &Value, param: &str) -> Result<Vec<String>, SimError> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| string(item, &format!("{param}[{i}]")))
            .collect(),
        _ => Ok(vec![string(v, param)?]),
    }
}

/// An object parameter (`metadata`, `price_data`).
pub(crate) fn object<'a>(v: &'a Value, param: &str) -> Result<&'a Map<String, Value>, SimError> {
    v.as_object().ok_or_else(|| {
        SimError::invalid_param(
            param,
            format!("Invalid object: {param} must be a hash (e.g. {param}[key]=value)."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_outside_one_to_a_hundred_names_limit() {
        for bad in ["limit=0", "limit=101", "limit=ten"] {
            let err = Params::from_query(bad).unwrap().page().unwrap_err();
            assert_eq!(err.param(), Some("limit"), "{bad}");
        }
        let page = Params::from_query("limit=100&starting_after=x")
            .unwrap()
            .page()
            .unwrap();
        assert_eq!(page.limit, 100);
        assert_eq!(page.cursor, Some(Cursor::StartingAfter("x".into())));
    }

    #[test]
    fn created_accepts_an_integer_or_bounds() {
        let f = Params::from_query("created[gte]=10&created[lt]=20")
            .unwrap()
            .created()
            .unwrap();
        assert_eq!((f.gte, f.lt), (Some(10), Some(20)));
        let f = Params::from_query("created=7").unwrap().created().unwrap();
        assert!(f.contains(7) && !f.contains(8));
        let err = Params::from_query("created[gte]=soon")
            .unwrap()
            .created()
            .unwrap_err();
        assert_eq!(err.param(), Some("created[gte]"));
    }

    #[test]
    fn expand_takes_both_array_spellings() {
        for q in ["expand[]=line_items", "expand[0]=line_items"] {
            let expand = Params::from_query(q)
                .unwrap()
                .expand(&["line_items"])
                .unwrap();
            assert_eq!(expand, vec!["line_items"]);
        }
        let err = Params::from_query("expand[]=customer")
            .unwrap()
            .expand(&["line_items"])
            .unwrap_err();
        assert_eq!(err.param(), Some("expand"));
    }
}
