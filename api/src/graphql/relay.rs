//! Relay plumbing: opaque global ids, cursors, page arguments and connection types.

use async_graphql::{ID, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tandem_persistence::{Page, Slice, SyncCursor, SyncSlice, SyncWindow};
use uuid::Uuid;

use crate::error::ApiError;

/// Encodes a global id for a node of `kind`.
pub fn global_id(kind: &str, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{kind}:{id}")))
}

/// Decodes any global id into its kind and row id.
pub fn decode_global_id(id: &str) -> Option<(String, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, raw) = text.split_once(':')?;
    Some((kind.to_owned(), Uuid::parse_str(raw).ok()?))
}

/// Decodes a global id that must be of `kind`; `field` names the argument for errors.
pub fn expect_global_id(id: &ID, kind: &str, field: &str) -> Result<Uuid, ApiError> {
    match decode_global_id(id) {
        Some((k, uuid)) if k == kind => Ok(uuid),
        Some((k, _)) => Err(ApiError::bad_input(
            field,
            format!("expected a {kind} id, got a {k} id"),
        )),
        None => Err(ApiError::bad_input(field, "not a valid id")),
    }
}

fn cursor(position: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("cursor:{position}"))
}

fn decode_cursor(cursor: &str, field: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| t.strip_prefix("cursor:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| ApiError::bad_input(field, "not a cursor from this list"))
}

const SYNC_PREFIX: &str = "sync:";

/// The opaque cursor of a row in a change-ordered list.
pub fn sync_cursor(position: &SyncCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{SYNC_PREFIX}{}", position.encode()))
}

/// Reads a cursor of a change-ordered list; `None` when it is a cursor of a list in its
/// default order. Used by the export endpoint too, so a saved cursor works in both.
pub fn decode_sync_cursor(cursor: &str, field: &str) -> Result<Option<SyncCursor>, ApiError> {
    let text = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| ApiError::bad_input(field, "not a cursor from this list"))?;
    match text.strip_prefix(SYNC_PREFIX) {
        None => Ok(None),
        Some(rest) => SyncCursor::decode(rest)
            .map(Some)
            .ok_or_else(|| ApiError::bad_input(field, "not a cursor from this list")),
    }
}

/// Arguments of a list read for incremental sync.
#[derive(Debug, Clone, Default)]
pub struct SyncArgs {
    /// `updatedSince`: only rows changed at or after this time.
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// `first`.
    pub first: Option<i32>,
    /// `after`.
    pub after: Option<String>,
    /// `last`, refused in change order.
    pub last: Option<i32>,
    /// `before`, refused in change order.
    pub before: Option<String>,
}

impl SyncArgs {
    /// The change-ordered window these arguments ask for, or `None` when they ask for the
    /// list's default order (no `updatedSince` and no change-order cursor) and `always` is off.
    pub fn window(
        &self,
        limits: &crate::graphql::Limits,
        always: bool,
    ) -> Result<Option<SyncWindow>, ApiError> {
        let after = self
            .after
            .as_deref()
            .map(|c| decode_sync_cursor(c, "after"))
            .transpose()?
            .flatten();
        if !always && self.updated_since.is_none() && after.is_none() {
            return Ok(None);
        }
        if self.after.is_some() && after.is_none() {
            return Err(ApiError::bad_input(
                "after",
                "this cursor is from the default order; in change order use the cursors it returns",
            ));
        }
        if self.last.is_some() || self.before.is_some() {
            return Err(ApiError::bad_input(
                if self.last.is_some() {
                    "last"
                } else {
                    "before"
                },
                "change-ordered lists page forward only: use `first` and `after`",
            ));
        }
        let page = PageArgs::new(self.first, None, None, None)
            .page(limits.max_page_size, limits.default_page_size)?;
        let settle = chrono::Duration::from_std(limits.sync_settle).unwrap_or_default();
        Ok(Some(SyncWindow {
            since: self.updated_since,
            after,
            first: page.first.unwrap_or(limits.default_page_size),
            until: chrono::Utc::now() - settle,
        }))
    }
}

/// Cursors and page info for a page of a change-ordered list.
pub fn sync_page_parts<T>(slice: &SyncSlice<T>, window: &SyncWindow) -> (Vec<String>, PageInfo) {
    let cursors: Vec<String> = slice.items.iter().map(|(c, _)| sync_cursor(c)).collect();
    let info = PageInfo {
        has_next_page: slice.has_next,
        has_previous_page: window.after.is_some(),
        start_cursor: cursors.first().cloned(),
        end_cursor: cursors
            .last()
            .cloned()
            .or_else(|| window.after.as_ref().map(sync_cursor)),
    };
    (cursors, info)
}

/// Relay page arguments as received.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    /// `first`.
    pub first: Option<i32>,
    /// `after`.
    pub after: Option<String>,
    /// `last`.
    pub last: Option<i32>,
    /// `before`.
    pub before: Option<String>,
}

impl PageArgs {
    /// Builds args from the four Relay arguments.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }

    /// Validates the arguments against the page-size limit; with neither `first` nor `last`,
    /// returns the first `default_size` rows.
    pub fn page(&self, max_size: u64, default_size: u64) -> Result<Page, ApiError> {
        let size = |value: Option<i32>, field: &str| -> Result<Option<u64>, ApiError> {
            match value {
                None => Ok(None),
                Some(n) if n < 0 => Err(ApiError::bad_input(field, "must not be negative")),
                Some(n) if n as u64 > max_size => Err(ApiError::bad_input(
                    field,
                    format!("at most {max_size} items per page"),
                )),
                Some(n) => Ok(Some(n as u64)),
            }
        };
        let first = size(self.first, "first")?;
        let last = size(self.last, "last")?;
        if first.is_some() && last.is_some() {
            return Err(ApiError::bad_input(
                "last",
                "use either `first` or `last`, not both",
            ));
        }
        let after = self
            .after
            .as_deref()
            .map(|c| decode_cursor(c, "after"))
            .transpose()?;
        let before = self
            .before
            .as_deref()
            .map(|c| decode_cursor(c, "before"))
            .transpose()?;
        let first = if first.is_none() && last.is_none() {
            Some(default_size.min(max_size))
        } else {
            first
        };
        Ok(Page {
            after,
            before,
            first,
            last,
        })
    }
}

/// Where a page sits in its list.
#[derive(Debug, Clone, SimpleObject)]
pub struct PageInfo {
    /// Whether items follow this page.
    pub has_next_page: bool,
    /// Whether items precede this page.
    pub has_previous_page: bool,
    /// Cursor of the first item of the page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of the page.
    pub end_cursor: Option<String>,
}

/// Cursors and page info for a slice.
pub fn page_parts<T>(slice: &Slice<T>) -> (Vec<String>, PageInfo) {
    let cursors: Vec<String> = (0..slice.items.len() as u64)
        .map(|i| cursor(slice.offset + i))
        .collect();
    let info = PageInfo {
        has_next_page: slice.offset + (slice.items.len() as u64) < slice.total,
        has_previous_page: slice.offset > 0,
        start_cursor: cursors.first().cloned(),
        end_cursor: cursors.last().cloned(),
    };
    (cursors, info)
}

/// Declares a described connection type and its edge type for one node type.
macro_rules! connection {
    ($conn:ident, $edge:ident, $node:ty, $conn_doc:literal, $edge_doc:literal) => {
        #[doc = $conn_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $conn {
            /// The items of this page, each with its cursor.
            pub edges: Vec<$edge>,
            /// The items of this page, without cursors.
            pub nodes: Vec<$node>,
            /// Where this page sits in the whole list.
            pub page_info: $crate::graphql::relay::PageInfo,
            /// How many items the whole list holds, across pages.
            pub total_count: i64,
        }

        #[doc = $edge_doc]
        #[derive(async_graphql::SimpleObject)]
        pub struct $edge {
            /// Opaque cursor for `after` / `before`.
            pub cursor: String,
            /// The item.
            pub node: $node,
        }

        impl $conn {
            /// Builds the connection from a page of a change-ordered list.
            #[allow(dead_code)]
            pub fn from_sync<T>(
                slice: tandem_persistence::SyncSlice<T>,
                window: &tandem_persistence::SyncWindow,
                to_node: impl Fn(T) -> $node,
            ) -> Self {
                let (cursors, page_info) = $crate::graphql::relay::sync_page_parts(&slice, window);
                let total_count = i64::try_from(slice.total).unwrap_or(i64::MAX);
                let nodes: Vec<$node> = slice
                    .items
                    .into_iter()
                    .map(|(_, item)| to_node(item))
                    .collect();
                let edges = cursors
                    .into_iter()
                    .zip(nodes.iter().cloned())
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect();
                Self {
                    edges,
                    nodes,
                    page_info,
                    total_count,
                }
            }

            /// Builds the connection from a slice of rows.
            #[allow(dead_code)]
            pub fn from_slice<T>(
                slice: tandem_persistence::Slice<T>,
                to_node: impl Fn(T) -> $node,
            ) -> Self {
                let (cursors, page_info) = $crate::graphql::relay::page_parts(&slice);
                let total_count = i64::try_from(slice.total).unwrap_or(i64::MAX);
                let nodes: Vec<$node> = slice.items.into_iter().map(to_node).collect();
                let edges = cursors
                    .into_iter()
                    .zip(nodes.iter().cloned())
                    .map(|(cursor, node)| $edge { cursor, node })
                    .collect();
                Self {
                    edges,
                    nodes,
                    page_info,
                    total_count,
                }
            }
        }
    };
}
pub(crate) use connection;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_check_their_kind() {
        let id = Uuid::now_v7();
        let gid = global_id("Metric", id);
        assert_eq!(decode_global_id(&gid), Some(("Metric".to_owned(), id)));
        assert_eq!(expect_global_id(&gid, "Metric", "id").unwrap(), id);
        assert!(expect_global_id(&gid, "Segment", "id").is_err());
        assert!(expect_global_id(&ID("nope".into()), "Metric", "id").is_err());
    }

    #[test]
    fn page_args_are_bounded() {
        let ok = PageArgs::new(Some(10), None, None, None)
            .page(100, 20)
            .unwrap();
        assert_eq!(ok.first, Some(10));
        assert_eq!(PageArgs::default().page(100, 20).unwrap().first, Some(20));
        assert!(
            PageArgs::new(Some(101), None, None, None)
                .page(100, 20)
                .is_err()
        );
        assert!(
            PageArgs::new(Some(-1), None, None, None)
                .page(100, 20)
                .is_err()
        );
        assert!(
            PageArgs::new(Some(1), None, Some(1), None)
                .page(100, 20)
                .is_err()
        );
        assert!(
            PageArgs::new(None, Some("garbage".into()), None, None)
                .page(100, 20)
                .is_err()
        );
        let after = cursor(4);
        assert_eq!(
            PageArgs::new(Some(5), Some(after), None, None)
                .page(100, 20)
                .unwrap()
                .after,
            Some(4)
        );
    }
}
