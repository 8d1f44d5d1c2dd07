//! With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the same run exports everything it prints: every
//! service under its own `service.name`, every span, the metrics; over `https://` too, with no
//! change to the demo's code.

use std::time::Duration;

use tracewire_demo::{DatabaseChoice, Options};
use tracewire_init::EnvSource;
use tracewire_testing::{FakeCollector, TestCertificateAuthority};

/// Runs the demo with `env` and checks that everything it did reached `collector`.
async fn run_and_check(collector: &FakeCollector, env: Vec<(&str, String)>) {
    let options = Options {
        database: DatabaseChoice::Sqlite,
        env: EnvSource::from_pairs(env),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_endpoint_every_service_is_exported() {
    let collector = FakeCollector::start_http().await.expect("collector");
    run_and_check(
        &collector,
        vec![("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint())],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_https_endpoint_every_service_is_exported() {
    let ca = TestCertificateAuthority::new("demo CA");
    let server = ca.server_certificate();
    let collector = FakeCollector::builder()
        .http()
        .tls(server.certificate_pem(), server.private_key_pem())
        .start()
        .await
        .expect("collector");
    let ca_file =
        std::env::temp_dir().join(format!("tracewire-demo-ca-{}.pem", std::process::id()));
    std::fs::write(&ca_file, ca.certificate_pem()).expect("CA file");
    run_and_check(
        &collector,
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                ca_file.display().to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(collector.tls_failures(), 0);
    let _removed = std::fs::remove_file(&ca_file);
}
