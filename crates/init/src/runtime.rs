//! A small tokio runtime on its own thread that drives every exporter's I/O.
//!
//! The SDK's batch processors and periodic reader export from their own threads with a
//! blocking executor; the tonic and hyper clients need a tokio reactor. Owning one keeps export
//! off the application's runtime (a busy or current-thread runtime can neither slow nor deadlock
//! exports) and lets `init` work in applications without tokio.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

#[derive(Debug)]
pub(crate) struct ExportRuntime {
    handle: Handle,
    stop: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl ExportRuntime {
    pub(crate) fn start() -> io::Result<Self> {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tracewire-export".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match runtime {
                    Ok(runtime) => {
                        let _sent = handle_tx.send(Ok(runtime.handle().clone()));
                        // Parking in `block_on` drives the reactor and timers for every export.
                        runtime.block_on(async {
                            let _stopped = stop_rx.await;
                        });
                    }
                    Err(error) => {
                        let _sent = handle_tx.send(Err(error));
                    }
                }
            })?;
        let handle = handle_rx
            .recv()
            .map_err(|_| io::Error::other("the export runtime thread exited at start"))??;
        Ok(Self {
            handle,
            stop: Mutex::new(Some((stop_tx, thread))),
        })
    }

    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Stops the runtime once every provider is shut down; in-flight I/O is abandoned.
    pub(crate) fn stop(&self) {
        if let Some((stop, thread)) = self.take_stop() {
            let _receiver_gone = stop.send(());
            let _panicked = thread.join();
        }
    }

    /// Leaves the runtime running until the process exits, for exports still in flight.
    pub(crate) fn detach(&self) {
        if let Some((stop, thread)) = self.take_stop() {
            // Dropping the sender would wake the runtime's `block_on` and end it.
            std::mem::forget(stop);
            drop(thread);
        }
    }

    /// The stop signal and the runtime thread, once: whoever takes them decides the ending.
    fn take_stop(&self) -> Option<(oneshot::Sender<()>, JoinHandle<()>)> {
        self.stop
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Drop for ExportRuntime {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `future` with the export runtime entered on every poll and a deadline, from whatever
/// executor polls it (the SDK's worker threads use a blocking one).
pub(crate) fn in_runtime<'a, T: Send + 'a>(
    handle: &Handle,
    timeout: Duration,
    future: impl Future<Output = T> + Send + 'a,
) -> impl Future<Output = Result<T, OTelSdkError>> + Send + 'a {
    InRuntime {
        handle: handle.clone(),
        // The timer is created on the first poll, inside the runtime.
        future: Box::pin(async move {
            tokio::time::timeout(timeout, future)
                .await
                .map_err(|_| OTelSdkError::Timeout(timeout))
        }),
    }
}

struct InRuntime<'a, T> {
    handle: Handle,
    future: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
}

impl<T> Future for InRuntime<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let _entered = this.handle.enter();
        this.future.as_mut().poll(cx)
    }
}

/// Flattens the deadline error into the export result.
pub(crate) fn flatten(result: Result<OTelSdkResult, OTelSdkError>) -> OTelSdkResult {
    result.and_then(|inner| inner)
}
