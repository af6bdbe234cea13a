//! The embedded SQLite store. (Being written.)

/// The SQLite implementation of [`crate::MetadataStore`].
pub struct SqliteStore {}
