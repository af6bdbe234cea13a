//! cairn's HTTP server: the MLflow-compatible REST API and the artifact proxy.
//!
//! The server is an adapter: it reads requests, validates them with `cairn_core`, calls the
//! `cairn_store::MetadataStore` and `cairn_artifacts::ArtifactStore` traits and writes MLflow's JSON.

pub mod api;
pub mod governance;
pub mod webhooks;

use std::future::Future;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

pub use api::AppState;

/// Serves until `shutdown` resolves, then finishes in-flight requests and returns. The webhook
/// delivery worker runs alongside and stops after the last request (pending deliveries stay in the
/// store for the next start).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let worker = webhooks::worker::spawn(state.store.clone(), state.webhooks.clone());
    let app = api::router(state).layer(TraceLayer::new_for_http());
    // Small JSON answers go out at once instead of waiting on Nagle's algorithm.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    worker.stop().await;
    served
}
