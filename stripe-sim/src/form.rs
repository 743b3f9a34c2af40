//! Stripe's parameter encoding, for form bodies and query strings alike.
//!
//! Stripe nests parameters with brackets: `line_items[0][price]=price_x`, `metadata[k]=v`,
//! `expand[]=line_items` (stripe-node, curl) or `expand[0]=line_items` (stripe-python,
//! stripe-go). This module turns the flat pairs into a JSON tree whose leaves are the raw
//! strings: objects for named keys, arrays for numeric or empty brackets. Typing the leaves
//! (integers, booleans) is left to the endpoint that knows which parameter it is reading, so
//! its error can name the parameter.

use serde_json::{Map, Value};

use crate::error::SimError;

/// Parses `a[b][0]=v&…` (already in `application/x-www-form-urlencoded` form) into a tree.
pub fn parse(encoded: &[u8]) -> Result<Value, SimError> {
    let mut root = Node::Branch(Vec::new());
    for (key, value) in url::form_urlencoded::parse(encoded) {
        let path = split_key(&key)?;
        insert(&mut root, &key, &path, value.into_owned())?;
    }
    Ok(root.into_value())
}

/// An intermediate tree that keeps insertion order, so that `[]` segments can take the next
/// free index and numeric keys can be sorted once at the end.
enum Node {
    Leaf(String),
    Branch(Vec<(String, Node)>),
}

/// `a[b][]` → `["a", "b", ""]`.
fn split_key(key: &str) -> Result<Vec<String>, SimError> {
    let invalid = || SimError::invalid_param(key, format!("Invalid parameter name: {key}"));
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if head.is_empty() {
        return Err(invalid());
    }
    let mut path = vec![head.to_string()];
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return Err(invalid());
        };
        let Some(close) = inner.find(']') else {
            return Err(invalid());
        };
        path.push(inner[..close].to_string());
        rest = &inner[close + 1..];
    }
    Ok(path)
}

fn insert(node: &mut Node, key: &str, path: &[String], value: String) -> Result<(), SimError> {
    let conflict =
        || SimError::invalid_param(key, format!("Invalid parameter: {key} is given twice"));
    let Node::Branch(children) = node else {
        return Err(conflict());
    };
    let (segment, rest) = path
        .split_first()
        .expect("split_key never yields an empty path");
    // `[]` appends: its index is the number of siblings so far.
    let segment = if segment.is_empty() {
        children.len().to_string()
    } else {
        segment.clone()
    };
    let position = children.iter().position(|(k, _)| *k == segment);
    if rest.is_empty() {
        match position {
            // A repeated scalar keeps the last value, as most form decoders do.
            Some(i) if matches!(children[i].1, Node::Leaf(_)) => {
                children[i].1 = Node::Leaf(value);
            }
            Some(_) => return Err(conflict()),
            None => children.push((segment, Node::Leaf(value))),
        }
        return Ok(());
    }
    let child = match position {
        Some(i) => &mut children[i].1,
        None => {
            children.push((segment, Node::Branch(Vec::new())));
            &mut children.last_mut().expect("just pushed").1
        }
    };
    insert(child, key, rest, value)
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::String(s),
            Node::Branch(children) => {
                let all_indices = !children.is_empty()
                    && children.iter().all(|(k, _)| k.parse::<usize>().is_ok());
                if all_indices {
                    let mut indexed: Vec<(usize, Node)> = children
                        .into_iter()
                        .map(|(k, v)| (k.parse().expect("checked above"), v))
                        .collect();
                    indexed.sort_by_key(|(i, _)| *i);
                    Value::Array(indexed.into_iter().map(|(_, v)| v.into_value()).collect())
                } else {
                    let map: Map<String, Value> = children
                        .into_iter()
                        .map(|(k, v)| (k, v.into_value()))
                        .collect();
                    Value::Object(map)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_brackets_build_objects_and_arrays() {
        let tree = parse(
            b"mode=payment&line_items[0][price]=price_a&line_items[0][quantity]=2\
              &line_items[1][price_data][currency]=jpy&metadata[order]=42",
        )
        .unwrap();
        assert_eq!(
            tree,
            json!({
                "mode": "payment",
                "line_items": [
                    {"price": "price_a", "quantity": "2"},
                    {"price_data": {"currency": "jpy"}}
                ],
                "metadata": {"order": "42"}
            })
        );
    }

    #[test]
    fn empty_and_numbered_brackets_both_make_arrays() {
        assert_eq!(
            parse(b"expand[]=line_items&expand[]=customer").unwrap(),
            json!({"expand": ["line_items", "customer"]})
        );
        assert_eq!(
            parse(b"expand[0]=line_items").unwrap(),
            json!({"expand": ["line_items"]})
        );
    }

    #[test]
    fn percent_encoded_brackets_are_decoded_first() {
        assert_eq!(
            parse(b"created%5Bgte%5D=10&types%5B%5D=a").unwrap(),
            json!({"created": {"gte": "10"}, "types": ["a"]})
        );
    }

    #[test]
    fn numeric_keys_sort_numerically() {
        let tree = parse(b"l[10][q]=b&l[2][q]=a").unwrap();
        assert_eq!(tree, json!({"l": [{"q": "a"}, {"q": "b"}]}));
    }

    #[test]
    fn a_scalar_and_a_nested_value_under_one_name_conflict() {
        let err = parse(b"metadata=x&metadata[k]=v").unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.param(), Some("metadata[k]"));
    }

    #[test]
    fn an_unclosed_bracket_is_rejected() {
        assert!(parse(b"line_items[0=x").is_err());
        assert!(parse(b"[a]=x").is_err());
    }
}
