//! Stripe's cursor pagination, shared by every list endpoint.
//!
//! A list is a sequence in a fixed order (newest first for events and sessions, insertion order
//! for line items). `starting_after=X` returns the page that follows object X in that order,
//! `ending_before=X` the page that precedes it (still in list order), and `has_more` says whether
//! more objects lie beyond the page in the direction of travel. Cursors are compared by position
//! key rather than by index, so a cursor that a filter (say `type=`) excludes still works.

use crate::error::SimError;

/// The biggest page Stripe serves.
pub const MAX_LIMIT: usize = 100;
/// The page size when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 10;

/// Which way a cursor points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// `starting_after=id`: the page after this object.
    StartingAfter(String),
    /// `ending_before=id`: the page before this object.
    EndingBefore(String),
}

impl Cursor {
    /// The object id the cursor names.
    pub fn id(&self) -> &str {
        match self {
            Cursor::StartingAfter(id) | Cursor::EndingBefore(id) => id,
        }
    }

    /// The request parameter the cursor came from, for error messages.
    pub fn param(&self) -> &'static str {
        match self {
            Cursor::StartingAfter(_) => "starting_after",
            Cursor::EndingBefore(_) => "ending_before",
        }
    }
}

/// `limit` plus an optional cursor, as parsed from a list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

/// Cuts one page out of `items`, which must be sorted by key in list order. `cursor_key` finds
/// the position key of the cursor object (`None`: no such object → 400 naming the cursor).
pub fn paginate<K: Ord, T>(
    items: Vec<(K, T)>,
    request: &PageRequest,
    object_name: &str,
    cursor_key: impl FnOnce(&str) -> Option<K>,
) -> Result<Page<T>, SimError> {
    let limit = request.limit;
    let Some(cursor) = &request.cursor else {
        return Ok(first_page(items, limit));
    };
    let Some(key) = cursor_key(cursor.id()) else {
        return Err(SimError::missing_reference(
            object_name,
            cursor.id(),
            cursor.param(),
        ));
    };
    match cursor {
        Cursor::StartingAfter(_) => {
            let after: Vec<(K, T)> = items.into_iter().filter(|(k, _)| *k > key).collect();
            Ok(first_page(after, limit))
        }
        Cursor::EndingBefore(_) => {
            let mut before: Vec<T> = items
                .into_iter()
                .filter(|(k, _)| *k < key)
                .map(|(_, t)| t)
                .collect();
            // The page is the `limit` objects closest to the cursor; anything earlier is "more".
            let has_more = before.len() > limit;
            let data = before.split_off(before.len().saturating_sub(limit));
            Ok(Page { data, has_more })
        }
    }
}

fn first_page<K, T>(items: Vec<(K, T)>, limit: usize) -> Page<T> {
    let has_more = items.len() > limit;
    Page {
        data: items.into_iter().take(limit).map(|(_, t)| t).collect(),
        has_more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: usize) -> Vec<(usize, String)> {
        (0..n).map(|i| (i, format!("o{i}"))).collect()
    }

    fn key_of(id: &str) -> Option<usize> {
        id.strip_prefix('o')?.parse().ok()
    }

    fn page(cursor: Option<Cursor>, limit: usize) -> Page<String> {
        paginate(numbers(25), &PageRequest { limit, cursor }, "thing", key_of).unwrap()
    }

    #[test]
    fn pages_forward_until_has_more_is_false() {
        let p = page(None, 10);
        assert_eq!((p.data.first().unwrap().as_str(), p.has_more), ("o0", true));
        let p = page(Some(Cursor::StartingAfter("o19".into())), 10);
        assert_eq!(p.data, vec!["o20", "o21", "o22", "o23", "o24"]);
        assert!(!p.has_more);
    }

    #[test]
    fn ending_before_returns_the_closest_objects_in_list_order() {
        let p = page(Some(Cursor::EndingBefore("o12".into())), 5);
        assert_eq!(p.data, vec!["o7", "o8", "o9", "o10", "o11"]);
        assert!(p.has_more);
        let p = page(Some(Cursor::EndingBefore("o3".into())), 5);
        assert_eq!(p.data, vec!["o0", "o1", "o2"]);
        assert!(!p.has_more);
    }

    #[test]
    fn an_unknown_cursor_names_its_parameter() {
        let err = paginate(
            numbers(3),
            &PageRequest {
                limit: 10,
                cursor: Some(Cursor::EndingBefore("zz".into())),
            },
            "thing",
            key_of,
        )
        .unwrap_err();
        assert_eq!(err.status(), 400);
        assert_eq!(err.param(), Some("ending_before"));
        assert_eq!(err.message(), "No such thing: 'zz'");
    }
}
