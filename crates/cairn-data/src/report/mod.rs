//! Renderings of results: plots shared by the HTML reports.

pub mod plot;
