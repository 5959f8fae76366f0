//! Paged, searchable, ordered lists: `{total, filtered, items}`.

use sqlx::any::AnyRow;

use super::{Store, StoreError, StoreResult};

#[derive(Clone, Debug, Default)]
pub struct ListParams {
    pub limit: Option<i64>,
    pub offset: i64,
    /// A column name, already checked against the list's orderable columns.
    pub order: Option<String>,
    pub descending: bool,
    pub search: Option<String>,
}

/// What a list reads: `filter` is a WHERE condition over `binds` ($1…); search is a
/// case-insensitive substring over `search_columns`; order is one of `order_columns` (first: default).
pub(super) struct ListQuery<'a> {
    pub table: &'a str,
    pub select: &'a str,
    pub filter: &'a str,
    pub binds: &'a [&'a str],
    pub search_columns: &'a [&'a str],
    pub order_columns: &'a [&'a str],
}

#[derive(Debug)]
pub struct Page<T> {
    pub total: i64,
    pub filtered: i64,
    pub items: Vec<T>,
}

/// `search` as a LIKE pattern: a case-insensitive substring, with `%`, `_` and `\` taken literally.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl Store {
    /// One page of a list. Column names never come from a request unchecked.
    pub(super) async fn list_page<T>(
        &self,
        list: ListQuery<'_>,
        params: &ListParams,
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let ListQuery {
            table,
            select,
            filter,
            binds,
            search_columns,
            order_columns,
        } = list;
        let base = if filter.is_empty() { "TRUE" } else { filter };
        let search_clause = match &params.search {
            Some(_) => {
                let index = binds.len() + 1;
                let alternatives: Vec<String> = search_columns
                    .iter()
                    .map(|c| format!("lower(COALESCE({c}, '')) LIKE ${index} ESCAPE '\\'"))
                    .collect();
                format!("({})", alternatives.join(" OR "))
            }
            None => "TRUE".to_string(),
        };
        let order = match &params.order {
            Some(column) if order_columns.contains(&column.as_str()) => column.as_str(),
            Some(column) => {
                return Err(StoreError::Other(format!("unknown order column {column}")))
            }
            None => order_columns.first().copied().unwrap_or("1"),
        };
        let direction = if params.descending { "DESC" } else { "ASC" };
        let limit = params.limit.unwrap_or(i64::MAX);
        let pattern = params.search.as_deref().map(like_pattern);

        let count = |condition: String, with_search: bool| {
            let sql = format!("SELECT COUNT(*) FROM {table} WHERE {condition}");
            let pattern = pattern.clone().filter(|_| with_search);
            async move {
                let mut query = sqlx::query_scalar::<_, i64>(&sql);
                for bind in binds {
                    query = query.bind(*bind);
                }
                if let Some(pattern) = pattern {
                    query = query.bind(pattern);
                }
                query.fetch_one(&self.pool).await
            }
        };
        let total = count(base.to_string(), false).await?;
        let filtered = count(format!("{base} AND {search_clause}"), true).await?;

        let sql = format!(
            "SELECT {select} FROM {table} WHERE {base} AND {search_clause} \
             ORDER BY {order} {direction} LIMIT {limit} OFFSET {}",
            params.offset
        );
        let mut query = sqlx::query(&sql);
        for bind in binds {
            query = query.bind(*bind);
        }
        if let Some(pattern) = &pattern {
            query = query.bind(pattern.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let items = rows.iter().map(map).collect::<StoreResult<Vec<T>>>()?;
        Ok(Page {
            total,
            filtered,
            items,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_patterns_escape_wildcards() {
        assert_eq!(super::like_pattern("A_b%"), "%a\\_b\\%%");
    }
}
