//! A lock-free rate limiter for new traces: at most N a second per process.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use opentelemetry::metrics::Meter;

const NANOS_PER_SECOND: f64 = 1e9;

/// A monotonic clock in nanoseconds, so tests can drive the limiter with a fake one.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since an arbitrary, fixed origin; never decreasing.
    fn now_nanos(&self) -> u64;
}

/// The process's monotonic clock ([`Instant`]).
#[derive(Debug)]
struct MonotonicClock(Instant);

impl Clock for MonotonicClock {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Lets at most `per_second` traces start a second, with bursts of up to one second's worth.
///
/// It is a cell-rate algorithm over one atomic (the theoretical arrival time of the next
/// trace): an admission is a load and a compare-and-swap, with no lock and no allocation. What it
/// refuses is counted ([`dropped`](Self::dropped)) and reported as the metric
/// `tracewire.sampler.rate_limited` once [`observe`](Self::observe) is called with a meter.
///
/// ```
/// use tracewire_core::sampling::RateLimiter;
///
/// let limiter = RateLimiter::new(100.0).expect("a positive rate");
/// let admitted = (0..1_000).filter(|_| limiter.try_acquire()).count();
/// assert_eq!(admitted, 100); // one second's burst, taken at once
/// assert_eq!(limiter.dropped(), 900);
/// ```
pub struct RateLimiter {
    /// Nanoseconds between two admissions at the steady rate.
    interval: u64,
    /// How far ahead of now the next arrival time may be: one second (or one interval).
    burst: u64,
    next_arrival: AtomicU64,
    dropped: Arc<AtomicU64>,
    per_second: f64,
    clock: Box<dyn Clock>,
}

impl RateLimiter {
    /// A limiter of `per_second` traces a second on the process's monotonic clock; `None`
    /// unless the rate is positive and finite.
    pub fn new(per_second: f64) -> Option<Self> {
        Self::with_clock(per_second, MonotonicClock(Instant::now()))
    }

    /// A limiter reading `clock`, for tests that count decisions against a fake clock.
    pub fn with_clock(per_second: f64, clock: impl Clock + 'static) -> Option<Self> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let interval = (NANOS_PER_SECOND / per_second).max(1.0) as u64;
        Some(Self {
            interval,
            burst: interval.max(NANOS_PER_SECOND as u64),
            next_arrival: AtomicU64::new(0),
            dropped: Arc::new(AtomicU64::new(0)),
            per_second,
            clock: Box::new(clock),
        })
    }

    /// The configured rate.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Admits one trace if the rate allows it; counts a refusal.
    pub fn try_acquire(&self) -> bool {
        let now = self.clock.now_nanos();
        let mut next_arrival = self.next_arrival.load(Ordering::Relaxed);
        loop {
            let after = next_arrival.max(now).saturating_add(self.interval);
            if after > now.saturating_add(self.burst) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            match self.next_arrival.compare_exchange_weak(
                next_arrival,
                after,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => next_arrival = actual,
            }
        }
    }

    /// How many traces this limiter refused.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Reports [`dropped`](Self::dropped) as the counter `tracewire.sampler.rate_limited`
    /// (`{trace}`) on `meter`, read at each collection: the hot path only increments an atomic.
    pub fn observe(&self, meter: &Meter) {
        let dropped = Arc::clone(&self.dropped);
        meter
            .u64_observable_counter("tracewire.sampler.rate_limited")
            .with_unit("{trace}")
            .with_description("New traces the rate-limited sampler dropped.")
            .with_callback(move |observer| observer.observe(dropped.load(Ordering::Relaxed), &[]))
            .build();
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.per_second)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    /// A clock the test moves.
    #[derive(Debug, Clone, Default)]
    struct FakeClock(Arc<AtomicU64>);

    impl FakeClock {
        fn advance(&self, nanos: u64) {
            self.0.fetch_add(nanos, Ordering::Relaxed);
        }
    }

    impl Clock for FakeClock {
        fn now_nanos(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    #[test]
    fn a_loaded_loop_is_held_to_the_rate() {
        let clock = FakeClock::default();
        let limiter = RateLimiter::with_clock(100.0, clock.clone()).expect("rate");
        // 10 simulated seconds at 5,000 attempts a second.
        let mut admitted = 0;
        for _ in 0..50_000 {
            admitted += usize::from(limiter.try_acquire());
            clock.advance(200_000);
        }
        // One second's burst, then 100 a second.
        assert!((1_090..=1_101).contains(&admitted), "{admitted}");
        assert_eq!(limiter.dropped(), 50_000 - admitted as u64);
    }

    #[test]
    fn an_idle_limiter_refills_only_one_burst() {
        let clock = FakeClock::default();
        let limiter = RateLimiter::with_clock(10.0, clock.clone()).expect("rate");
        clock.advance(3_600 * 1_000_000_000);
        let admitted = (0..100).filter(|_| limiter.try_acquire()).count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn rates_below_one_a_second() {
        let clock = FakeClock::default();
        let limiter = RateLimiter::with_clock(0.5, clock.clone()).expect("rate");
        let mut admitted = 0;
        for _ in 0..100 {
            admitted += usize::from(limiter.try_acquire());
            clock.advance(100_000_000);
        }
        // 10 seconds at one every two seconds.
        assert_eq!(admitted, 5);
    }

    #[test]
    fn threads_share_the_budget() {
        let clock = FakeClock::default();
        let limiter = Arc::new(RateLimiter::with_clock(1_000.0, clock).expect("rate"));
        let admitted: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let limiter = Arc::clone(&limiter);
                    scope.spawn(move || (0..10_000).filter(|_| limiter.try_acquire()).count())
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("worker")).sum()
        });
        assert_eq!(admitted, 1_000);
        assert_eq!(limiter.dropped(), 39_000);
    }

    #[test]
    fn invalid_rates_are_refused() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(RateLimiter::new(rate).is_none(), "{rate}");
        }
    }
}
