//! Paged, searchable, ordered lists: `{total, filtered, items}`.

use super::{Db, Store};
use crate::store::columns::{Arg, Id};
use crate::store::{like_pattern, ListParams, Page, StoreError, StoreResult};

/// What a list reads. `scope` (over `scope_binds`, `$1`…) bounds `total`; `narrow` (over
/// `narrow_binds`, numbered after them) and the search bound only `filtered` and the items. Search is
/// a case-insensitive substring of the row's `search_text`; order is one of `order_columns` (first: default).
#[derive(Default)]
pub(super) struct ListQuery<'a> {
    pub table: &'a str,
    pub select: &'a str,
    pub scope: &'a str,
    pub scope_binds: &'a [Arg<'a>],
    pub narrow: &'a str,
    pub narrow_binds: &'a [Arg<'a>],
    pub order_columns: &'a [&'a str],
}

/// Binds an [`Arg`] as its column's type.
macro_rules! bind_arg {
    ($query:expr, $arg:expr) => {
        match $arg {
            Arg::Text(text) => $query.bind(text),
            Arg::Id(uuid) => $query.bind(Id(uuid)),
        }
    };
}

impl Store {
    /// One page of a list. Column names never come from a request unchecked.
    pub(super) async fn list_page<T>(
        &self,
        list: ListQuery<'_>,
        params: &ListParams,
    ) -> StoreResult<Page<T>>
    where
        T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    {
        let scope = or_true(list.scope);
        let pattern = params.search.as_deref().map(like_pattern);
        let selected = selected_rows(&list, pattern.is_some());
        let order = order_column(&list, params)?;
        let direction = if params.descending { "DESC" } else { "ASC" };
        let all_binds = || {
            list.scope_binds
                .iter()
                .chain(list.narrow_binds)
                .copied()
                .chain(pattern.as_deref().map(Arg::Text))
        };

        let total_sql = format!("SELECT COUNT(*) FROM {} WHERE {scope}", list.table);
        let mut total = sqlx::query_scalar::<_, i64>(&total_sql);
        for bind in list.scope_binds {
            total = bind_arg!(total, *bind);
        }
        let total = total.fetch_one(&self.pool).await?;

        let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {selected}", list.table);
        let mut filtered = sqlx::query_scalar::<_, i64>(&count_sql);
        for bind in all_binds() {
            filtered = bind_arg!(filtered, bind);
        }
        let filtered = filtered.fetch_one(&self.pool).await?;

        let items_sql = format!(
            "SELECT {} FROM {} WHERE {selected} ORDER BY {order} {direction} LIMIT {} OFFSET {}",
            list.select,
            list.table,
            params.limit.unwrap_or(i64::MAX),
            params.offset
        );
        let mut items = sqlx::query_as(&items_sql);
        for bind in all_binds() {
            items = bind_arg!(items, bind);
        }
        Ok(Page {
            total,
            filtered,
            items: items.fetch_all(&self.pool).await?,
        })
    }
}

/// `condition` in parentheses, or `TRUE` when there is none.
fn or_true(condition: &str) -> String {
    if condition.is_empty() {
        "TRUE".to_string()
    } else {
        format!("({condition})")
    }
}

/// The condition of the rows a list shows: its scope, its narrowing and, when `searched`, the
/// search pattern (bound after the scope's and the narrowing's values).
fn selected_rows(list: &ListQuery<'_>, searched: bool) -> String {
    let search = match searched {
        true => {
            let index = list.scope_binds.len() + list.narrow_binds.len() + 1;
            format!("search_text LIKE ${index} ESCAPE '\\'")
        }
        false => String::new(),
    };
    format!(
        "{} AND {} AND {}",
        or_true(list.scope),
        or_true(list.narrow),
        or_true(&search)
    )
}

/// The column a list is ordered by: one of its own, never a request's text unchecked.
fn order_column<'a>(list: &ListQuery<'a>, params: &ListParams) -> StoreResult<&'a str> {
    match &params.order {
        Some(column) => list
            .order_columns
            .iter()
            .copied()
            .find(|known| *known == column.as_str())
            .ok_or_else(|| StoreError::Other(format!("unknown order column {column}"))),
        None => Ok(list.order_columns.first().copied().unwrap_or("1")),
    }
}
