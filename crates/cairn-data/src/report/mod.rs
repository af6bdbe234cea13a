//! Renderings of results: plots shared by the HTML reports, and the validation report.

pub mod plot;
pub mod validation;
