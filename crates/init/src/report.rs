//! Where tracewire-init's own messages go: `tracing` once a subscriber exists, else stderr.

use crate::warning::Warning;

/// Logs the configuration warnings through `tracing` when a subscriber is in scope, else on
/// stderr.
pub(crate) fn config_warnings(warnings: &[Warning], subscriber: bool) {
    for warning in warnings {
        if subscriber {
            tracing::warn!(target: "tracewire_init", variable = %warning.variable, "{warning}");
        } else {
            eprintln!("tracewire-init: {warning}");
        }
    }
}

/// An export failure, from an exporter thread (which only sees the global dispatcher).
pub(crate) fn export_failure(message: &str) {
    if tracing::dispatcher::has_been_set() {
        tracing::warn!(target: "tracewire_init::export", "{message}");
    } else {
        eprintln!("tracewire-init: {message}");
    }
}
