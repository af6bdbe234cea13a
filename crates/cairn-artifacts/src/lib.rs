//! Artifacts (being written).
