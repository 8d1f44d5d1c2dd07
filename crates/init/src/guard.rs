//! The guard `init` returns: owns the providers and shuts them down with a bounded wait.

use std::fmt;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire_core::propagation::Propagator;
use tracing::Dispatch;

use crate::config::Config;
use crate::pipeline::{SpanCounts, SpanStats};
use crate::prometheus::PrometheusServer;
use crate::runtime::ExportRuntime;
use crate::warning::Warning;

/// What [`TelemetryGuard::shutdown`] could not do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// One message per provider whose flush or shutdown failed or timed out.
    pub errors: Vec<String>,
    /// The span counts once everything stopped; `queued` spans were never exported.
    pub spans: SpanCounts,
}

impl ShutdownReport {
    /// Whether everything was flushed and exported.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
            && self.spans.failed == 0
            && self.spans.dropped == 0
            && self.spans.queued == 0
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.spans;
        write!(
            f,
            "spans exported {}, failed {}, dropped {}, never exported {}",
            s.exported, s.failed, s.dropped, s.queued
        )?;
        for error in &self.errors {
            write!(f, "; {error}")?;
        }
        Ok(())
    }
}

/// Keeps telemetry running; dropping it (or [`shutdown`](Self::shutdown)) flushes and shuts
/// down every provider, waiting at most the configured shutdown timeout.
///
/// Keep it alive for the whole program, typically in `main`:
/// `let _telemetry = tracewire_init::init()?;` (not `let _ = …`, which drops it at once).
pub struct TelemetryGuard {
    pub(crate) config: Config,
    pub(crate) warnings: Vec<Warning>,
    pub(crate) tracer_provider: Option<SdkTracerProvider>,
    pub(crate) meter_provider: Option<SdkMeterProvider>,
    pub(crate) logger_provider: Option<SdkLoggerProvider>,
    pub(crate) span_stats: Vec<Arc<SpanStats>>,
    pub(crate) runtime: Option<ExportRuntime>,
    pub(crate) dispatch: Option<Dispatch>,
    pub(crate) propagator: Propagator,
    pub(crate) prometheus: Option<PrometheusServer>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) shut_down: bool,
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("config", &self.config)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl TelemetryGuard {
    /// Every configuration problem found, each with the fallback that was used.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The configuration in effect.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The tracer provider (`None` with `OTEL_SDK_DISABLED=true`).
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// The meter provider (`None` with `OTEL_SDK_DISABLED=true`).
    pub fn meter_provider(&self) -> Option<&SdkMeterProvider> {
        self.meter_provider.as_ref()
    }

    /// The logger provider (`None` with `OTEL_SDK_DISABLED=true`). OpenTelemetry has no global
    /// logger provider; the `tracing` appender layer is wired to this one.
    pub fn logger_provider(&self) -> Option<&SdkLoggerProvider> {
        self.logger_provider.as_ref()
    }

    /// The subscriber, when [`Builder::install_globals(false)`](crate::Builder::install_globals)
    /// kept it out of the global default: use it with `tracing::dispatcher::with_default`.
    pub fn dispatch(&self) -> Option<&Dispatch> {
        self.dispatch.as_ref()
    }

    /// The configured propagator (also installed globally unless globals are off).
    pub fn propagator(&self) -> &Propagator {
        &self.propagator
    }

    /// The address the Prometheus endpoint listens on (`/metrics`), when
    /// `OTEL_METRICS_EXPORTER` includes `prometheus` and the port could be bound.
    pub fn prometheus_address(&self) -> Option<std::net::SocketAddr> {
        self.prometheus.as_ref().map(PrometheusServer::address)
    }

    /// What happened to spans so far, over all span exporters.
    pub fn span_counts(&self) -> SpanCounts {
        let mut total = SpanCounts::default();
        for stats in &self.span_stats {
            total.add(stats.counts());
        }
        total
    }

    /// Exports everything queued now, waiting at most the shutdown timeout.
    pub fn force_flush(&self) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self
            .each_provider(|tracer, meter, logger| {
                [
                    tracer.map(|p| ("traces", Box::new(move || p.force_flush()) as Job)),
                    logger.map(|p| ("logs", Box::new(move || p.force_flush()) as Job)),
                    meter.map(|p| ("metrics", Box::new(move || p.force_flush()) as Job)),
                ]
            })
            .iter()
            .map(ToString::to_string)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Flushes and shuts down every provider (traces, then logs, then metrics so the last
    /// metric export carries the final self-telemetry), within the shutdown timeout overall.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_in_place()
    }

    fn shutdown_in_place(&mut self) -> ShutdownReport {
        if self.shut_down {
            return ShutdownReport {
                errors: Vec::new(),
                spans: self.span_counts(),
            };
        }
        self.shut_down = true;
        let failures = self.each_provider(|tracer, meter, logger| {
            [
                tracer.map(|p| ("traces", Box::new(move || p.shutdown()) as Job)),
                logger.map(|p| ("logs", Box::new(move || p.shutdown()) as Job)),
                meter.map(|p| ("metrics", Box::new(move || p.shutdown()) as Job)),
            ]
        });
        // Scrapes after the meter provider's shutdown would find nothing to collect.
        self.prometheus = None;
        if let Some(runtime) = &self.runtime {
            // A provider we stopped waiting for may still be exporting through the runtime:
            // stopping it would panic that export, so it is left to end with the process.
            if failures.iter().any(JobFailure::timed_out) {
                runtime.detach();
            } else {
                runtime.stop();
            }
        }
        ShutdownReport {
            errors: failures.iter().map(ToString::to_string).collect(),
            spans: self.span_counts(),
        }
    }

    /// Runs one job per provider, in order, each on its own thread so that the overall wait is
    /// bounded even when a provider ignores its timeout.
    fn each_provider(
        &self,
        jobs: impl FnOnce(
            Option<SdkTracerProvider>,
            Option<SdkMeterProvider>,
            Option<SdkLoggerProvider>,
        ) -> [Option<(&'static str, Job)>; 3],
    ) -> Vec<JobFailure> {
        let deadline = Instant::now() + self.shutdown_timeout;
        let jobs = jobs(
            self.tracer_provider.clone(),
            self.meter_provider.clone(),
            self.logger_provider.clone(),
        );
        jobs.into_iter()
            .flatten()
            .filter_map(|(signal, job)| {
                bounded(job, deadline.saturating_duration_since(Instant::now()))
                    .err()
                    .map(|reason| JobFailure { signal, reason })
            })
            .collect()
    }
}

type Job = Box<dyn FnOnce() -> OTelSdkResult + Send>;

/// Why one provider's flush or shutdown did not complete.
#[derive(Debug)]
enum FailureReason {
    Failed(String),
    GaveUp(Duration),
}

/// One provider's failure, for the report.
#[derive(Debug)]
struct JobFailure {
    signal: &'static str,
    reason: FailureReason,
}

impl JobFailure {
    fn timed_out(&self) -> bool {
        matches!(self.reason, FailureReason::GaveUp(_))
    }
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            FailureReason::Failed(error) => write!(f, "{}: {error}", self.signal),
            FailureReason::GaveUp(wait) => {
                write!(f, "{}: gave up after {} ms", self.signal, wait.as_millis())
            }
        }
    }
}

fn bounded(job: Job, wait: Duration) -> Result<(), FailureReason> {
    let (done, result) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("tracewire-shutdown".to_owned())
        .spawn(move || {
            let _receiver_gone = done.send(job());
        });
    if let Err(error) = spawned {
        return Err(FailureReason::Failed(format!(
            "cannot start the shutdown thread: {error}"
        )));
    }
    match result.recv_timeout(wait) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(FailureReason::Failed(error.to_string())),
        Err(_) => Err(FailureReason::GaveUp(wait)),
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if self.shut_down {
            return;
        }
        let report = self.shutdown_in_place();
        if !report.is_clean() {
            crate::report::export_failure(&format!("telemetry shutdown: {report}"));
        }
    }
}
