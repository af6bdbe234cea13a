//! Renderings of an [`Evaluation`]: text, Markdown, JSON and HTML.
