//! The scenario on PostgreSQL at `TRACEWIRE_POSTGRES_URL`, the project's test database (default:
//! this machine's server, as `.ci/run` and `cargo xtask ci` use). Without a server it fails;
//! `cargo xtask ci` names it skipped outside CI before it runs.

use opentelemetry::trace::SpanKind;
use tracewire_demo::{DatabaseChoice, INVENTORY, Options};
use tracewire_init::EnvSource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_runs_on_postgres() {
    let url = std::env::var("TRACEWIRE_POSTGRES_URL")
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".to_owned());
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
