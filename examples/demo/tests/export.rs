//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the same run exports everything it prints: every
//! service under its own `service.name`, every span, the metrics.

use std::time::Duration;

use tracewire_demo::{DatabaseChoice, Options};
use tracewire_init::EnvSource;
use tracewire_testing::FakeCollector;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_endpoint_every_service_is_exported() {
    let collector = FakeCollector::start_http().await.expect("collector");
    let options = Options {
        database: DatabaseChoice::Sqlite,
        env: EnvSource::from_pairs([("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())]),
    };
    let report = tracewire_demo::run(options).await.expect("the demo runs");

    for service in &report.services {
        assert!(
            service.shutdown.is_clean(),
            "{}: {}",
            service.name,
            service.shutdown
        );
    }
    let mut services = collector.service_names();
    services.sort();
    assert_eq!(
        services,
        ["fulfillment", "gateway", "inventory", "payments"]
    );
    // The shutdowns inside `run` waited for the exports: nothing is still on its way.
    assert_eq!(collector.spans().len(), report.spans().len());
    assert!(
        collector
            .wait_for_metric("http.server.request.duration", Duration::from_secs(5))
            .await
            .is_some()
    );
}
