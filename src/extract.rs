//! Taking the `imp_uid` out of a request: from the query string or from a JSON or form body.

/// Where a route looks for the imp_uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImpUidSource {
    Body,
    Query,
    /// The query first, then the body.
    Auto,
}
