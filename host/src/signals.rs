//! Termination signals, as a future: SIGINT (Ctrl-C) and SIGTERM (what Kubernetes and
//! systemd send to stop a job).

use std::future::Future;

/// Starts listening now (so a signal that arrives before the future is polled is not lost
/// to the default action), and returns a future that resolves with the signal's name.
pub fn listen() -> impl Future<Output = &'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let handlers = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    );
    async move {
        let (Ok(mut int), Ok(mut term)) = handlers else {
            // Without handlers the default action (exit) applies; never resolve.
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        }
    }
}
