//! The scenario on PostgreSQL at `TRACEWIRE_POSTGRES_URL`, the project's test database: skipped by
//! name when unset outside CI, a failure when unset in CI.

use std::io::Write as _;

use opentelemetry::trace::SpanKind;
use tracewire_demo::{DatabaseChoice, INVENTORY, Options};
use tracewire_init::EnvSource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_runs_on_postgres() {
    let Some(url) = std::env::var("TRACEWIRE_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "TRACEWIRE_POSTGRES_URL must be set in CI"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the_scenario_runs_on_postgres (TRACEWIRE_POSTGRES_URL not set)"
        );
        return;
    };
    let options = Options {
        database: DatabaseChoice::Postgres(url),
        env: EnvSource::from_pairs::<&str, &str>([]),
    };
    let report = tracewire_demo::run(options).await.expect("the demo runs");
    let statuses: Vec<u16> = report.orders.iter().map(|order| order.status).collect();
    assert_eq!(statuses, [201, 201, 502]);
    let inventory = report.service_spans(INVENTORY);
    let selects = inventory.named("SELECT demo_items");
    assert_eq!(selects.len(), 3, "{}", inventory.tree());
    for select in selects {
        select
            .assert_kind(SpanKind::Client)
            .assert_attr_str("db.system.name", "postgresql");
    }
}
