//! Connection-pool metrics from sqlx's pool state.
//!
//! sqlx has no pool hooks, so the counts are sampled whenever the instrumented pool is used
//! (each operation through `&Pool`, each `acquire`) and reported as deltas on the up-down
//! counters; the limit is reported once. sqlx does not expose pending acquires or connection
//! creation, so `db.client.connection.pending_requests` and `.create_time` are not reported.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;
use tracewire_core::metrics::DbConnectionPoolMetrics;
use tracewire_core::semconv::db;

#[derive(Debug)]
pub(crate) struct PoolMetrics {
    instruments: OnceLock<DbConnectionPoolMetrics>,
    name: [KeyValue; 1],
    idle: [KeyValue; 2],
    used: [KeyValue; 2],
    limit: i64,
    last_idle: AtomicI64,
    last_used: AtomicI64,
}

impl PoolMetrics {
    pub(crate) fn new(pool_name: String, limit: i64) -> Self {
        let name = KeyValue::new(db::DB_CLIENT_CONNECTION_POOL_NAME, pool_name);
        let state = |value: &'static str| {
            [
                name.clone(),
                KeyValue::new(db::DB_CLIENT_CONNECTION_STATE, value),
            ]
        };
        Self {
            instruments: OnceLock::new(),
            idle: state(db::CONNECTION_STATE_IDLE),
            used: state(db::CONNECTION_STATE_USED),
            name: [name],
            limit,
            last_idle: AtomicI64::new(0),
            last_used: AtomicI64::new(0),
        }
    }

    /// Creates the instruments on first use and reports the limit then.
    pub(crate) fn init(&self, meter: &Meter) {
        self.instruments.get_or_init(|| {
            let instruments = DbConnectionPoolMetrics::new(meter);
            instruments.limit.add(self.limit, &self.name);
            instruments
        });
    }

    /// Reports the current counts; `swap` makes the deltas of racing samplers add up to the
    /// last value stored.
    pub(crate) fn sample(&self, idle: i64, used: i64) {
        let Some(instruments) = self.instruments.get() else {
            return;
        };
        let idle_delta = idle - self.last_idle.swap(idle, Ordering::AcqRel);
        if idle_delta != 0 {
            instruments.count.add(idle_delta, &self.idle);
        }
        let used_delta = used - self.last_used.swap(used, Ordering::AcqRel);
        if used_delta != 0 {
            instruments.count.add(used_delta, &self.used);
        }
    }

    pub(crate) fn wait_time(&self, seconds: f64) {
        if let Some(instruments) = self.instruments.get() {
            instruments.wait_time.record(seconds, &self.name);
        }
    }

    pub(crate) fn use_time(&self, seconds: f64) {
        if let Some(instruments) = self.instruments.get() {
            instruments.use_time.record(seconds, &self.name);
        }
    }

    pub(crate) fn timeout(&self) {
        if let Some(instruments) = self.instruments.get() {
            instruments.timeouts.add(1, &self.name);
        }
    }
}

impl Drop for PoolMetrics {
    /// A dropped pool no longer holds connections: take its counts and limit back out.
    fn drop(&mut self) {
        if let Some(instruments) = self.instruments.get() {
            self.sample(0, 0);
            instruments.limit.add(-self.limit, &self.name);
        }
    }
}
