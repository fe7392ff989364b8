//! Per-caller budgets: a leaky bucket per token subject within its organization, charged each
//! request's calculated cost (the model Shopify publishes). The bucket holds at most
//! `capacity` points and refills `restore` points per second; a request whose cost is more
//! than what is left runs all the same while the bucket is not empty, and leaves it in debt
//! (below zero); a bucket in debt refuses every request, with the time to wait, until the
//! points are restored. Large queries stay possible but rare, and since the unused part of
//! a charge is given back, the debt follows what requests really cost. Buckets live in the process, or in
//! Redis (one atomic script per charge) so every replica shares them.
//!
//! Points are kept as thousandths and time as milliseconds, so refills are exact integers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context as _;

/// How full a caller's bucket is, as responses report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleStatus {
    /// The bucket's size, in points.
    pub maximum_available: u64,
    /// Points left now.
    pub currently_available: u64,
    /// Points restored per second.
    pub restore_rate: u64,
}

impl ThrottleStatus {
    /// Seconds until the bucket is full again.
    pub fn seconds_to_full(&self) -> u64 {
        let missing = self
            .maximum_available
            .saturating_sub(self.currently_available);
        missing.div_ceil(self.restore_rate.max(1))
    }
}

/// What a charge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// The points were taken; the request may run.
    Admitted(ThrottleStatus),
    /// Not enough points: nothing was taken; retry after the given time.
    Throttled {
        /// The bucket as it is.
        status: ThrottleStatus,
        /// When enough points will have been restored for this cost.
        retry_after: Duration,
    },
}

/// The per-caller budgets of a server.
pub struct RateLimiter {
    capacity: u64,
    restore: u64,
    store: Buckets,
}

enum Buckets {
    Memory(Mutex<HashMap<String, Bucket>>),
    Redis(redis::aio::ConnectionManager),
}

/// One caller's bucket in memory, in thousandths of a point.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Below zero while in debt.
    available: i64,
    at: Instant,
}

/// Buckets kept in memory before full ones are dropped (a full bucket is the default).
const MEMORY_SWEEP_AT: usize = 10_000;

/// Thousandths per point.
const MILLI: u64 = 1_000;

/// Takes (or, with a negative cost, gives back) points atomically: refills by the time
/// elapsed on the Redis server's clock, then charges if enough is left.
/// KEYS[1] bucket; ARGV capacity (milli), restore (milli per ms), cost (milli).
const REDIS_SCRIPT: &str = r"
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HMGET', KEYS[1], 'a', 't')
local a = tonumber(v[1]) or cap
local last = tonumber(v[2]) or now
if now > last then a = math.min(cap, a + (now - last) * rate) end
local ok = 0
if cost <= 0 or cost <= a or a > 0 then
  a = math.min(cap, a - cost)
  ok = 1
end
redis.call('HSET', KEYS[1], 'a', a, 't', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / math.max(rate, 1)) + 1000)
return {ok, a}
";

impl RateLimiter {
    /// Budgets kept in this process.
    pub fn in_memory(capacity: u64, restore: u64) -> Self {
        Self {
            capacity,
            restore: restore.max(1),
            store: Buckets::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Budgets shared through the Redis server at `url`.
    pub async fn redis(url: &str, capacity: u64, restore: u64) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("Failed to read the Redis URL")?;
        let manager = redis::aio::ConnectionManager::new(client)
            .await
            .context("Failed to connect to Redis")?;
        Ok(Self {
            capacity,
            restore: restore.max(1),
            store: Buckets::Redis(manager),
        })
    }

    /// The bucket's size in points.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Where the buckets are kept, for logs.
    pub fn kind(&self) -> &'static str {
        match self.store {
            Buckets::Memory(_) => "memory",
            Buckets::Redis(_) => "redis",
        }
    }

    fn status(&self, available_milli: i64) -> ThrottleStatus {
        ThrottleStatus {
            maximum_available: self.capacity,
            currently_available: u64::try_from(available_milli.max(0)).unwrap_or(0) / MILLI,
            restore_rate: self.restore,
        }
    }

    /// Takes `cost` points from `caller`'s bucket if it holds them.
    pub async fn charge(&self, caller: &str, cost: u64) -> Charge {
        let cost_milli = cost.saturating_mul(MILLI);
        let (admitted, available) = self.apply(caller, i128::from(cost_milli)).await;
        let status = self.status(available);
        if admitted {
            Charge::Admitted(status)
        } else {
            // A bucket out of debt admits the next request: wait until it holds a point.
            let needed = i128::from(cost_milli.min(MILLI));
            let missing = u64::try_from(needed - i128::from(available)).unwrap_or(0);
            // restore points/s = restore milli-points/ms.
            let wait_ms = missing.div_ceil(self.restore);
            Charge::Throttled {
                status,
                retry_after: Duration::from_millis(wait_ms),
            }
        }
    }

    /// Gives back points charged for work that did not happen (a request that cost less
    /// than its bound); the bucket never grows past its size.
    pub async fn refund(&self, caller: &str, points: u64) -> ThrottleStatus {
        let (_, available) = self
            .apply(caller, -i128::from(points.saturating_mul(MILLI)))
            .await;
        self.status(available)
    }

    /// Refills, then takes `cost` thousandths when they are there or the bucket is full
    /// (gives back when negative). Returns whether it took them and what is left.
    async fn apply(&self, caller: &str, cost: i128) -> (bool, i64) {
        let capacity = i64::try_from(self.capacity.saturating_mul(MILLI)).unwrap_or(i64::MAX);
        match &self.store {
            Buckets::Memory(buckets) => {
                let Ok(mut buckets) = buckets.lock() else {
                    return (true, capacity);
                };
                let now = Instant::now();
                if buckets.len() >= MEMORY_SWEEP_AT {
                    let restore = self.restore;
                    buckets.retain(|_, b| refilled(b, now, restore, capacity) < capacity);
                }
                let bucket = buckets.entry(caller.to_owned()).or_insert(Bucket {
                    available: capacity,
                    at: now,
                });
                let available = refilled(bucket, now, self.restore, capacity);
                let (admitted, left) = take(available, cost, capacity);
                *bucket = Bucket {
                    available: left,
                    at: now,
                };
                (admitted, left)
            }
            Buckets::Redis(manager) => {
                let mut conn = manager.clone();
                let result: redis::RedisResult<(i64, i64)> = redis::Script::new(REDIS_SCRIPT)
                    .key(format!("tandem:budget:{caller}"))
                    .arg(capacity)
                    .arg(self.restore)
                    .arg(cost.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
                    .invoke_async(&mut conn)
                    .await;
                match result {
                    Ok((admitted, left)) => (admitted == 1, left),
                    Err(e) => {
                        // Budgets protect the service; an outage of their store must not
                        // take the API down with it, so requests pass and the log says so.
                        tracing::warn!(error = %e, "rate-limit store unavailable; request admitted");
                        (true, capacity)
                    }
                }
            }
        }
    }
}

/// A bucket's thousandths after refilling up to `now`.
fn refilled(bucket: &Bucket, now: Instant, restore: u64, capacity: i64) -> i64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_millis();
    let gained = i64::try_from(elapsed.saturating_mul(u128::from(restore))).unwrap_or(i64::MAX);
    bucket.available.saturating_add(gained).min(capacity)
}

/// Takes `cost` from `available` when it is there or the bucket is not empty (then it may go
/// into debt); a negative cost always gives back, up to the bucket's size.
fn take(available: i64, cost: i128, capacity: i64) -> (bool, i64) {
    if cost <= 0 || cost <= i128::from(available) || available > 0 {
        let left = (i128::from(available) - cost).min(i128::from(capacity));
        (true, i64::try_from(left).unwrap_or(i64::MIN))
    } else {
        (false, available)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_bucket_admits_until_in_debt_then_names_the_wait() {
        let limiter = RateLimiter::in_memory(100, 10);
        assert!(
            matches!(limiter.charge("a", 60).await, Charge::Admitted(s) if s.currently_available == 40)
        );
        // 40 left: a cost of 60 still runs, and leaves 20 points of debt.
        assert!(
            matches!(limiter.charge("a", 60).await, Charge::Admitted(s) if s.currently_available == 0)
        );
        match limiter.charge("a", 1).await {
            Charge::Throttled {
                status,
                retry_after,
            } => {
                assert_eq!(status.currently_available, 0);
                // 20 points of debt and one to hold, at 10 per second: about 2.1 seconds.
                assert!(
                    retry_after <= Duration::from_millis(2_100),
                    "{retry_after:?}"
                );
                assert!(
                    retry_after >= Duration::from_millis(2_000),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected a throttle, got {other:?}"),
        }
        // Another caller has a bucket of their own.
        assert!(matches!(
            limiter.charge("b", 100).await,
            Charge::Admitted(_)
        ));
    }

    #[tokio::test]
    async fn refunds_never_overfill_the_bucket() {
        let limiter = RateLimiter::in_memory(100, 10);
        let _ = limiter.charge("a", 30).await;
        let status = limiter.refund("a", 500).await;
        assert_eq!(status.currently_available, 100);
        assert_eq!(status.seconds_to_full(), 0);
    }

    #[test]
    fn refills_are_exact_and_capped() {
        let start = Instant::now();
        let bucket = Bucket {
            available: 0,
            at: start,
        };
        let later = start + Duration::from_millis(1_500);
        // 10 points a second = 10 thousandths a millisecond.
        assert_eq!(refilled(&bucket, later, 10, 100_000), 15_000);
        assert_eq!(refilled(&bucket, later, 1_000, 100_000), 100_000);
        assert_eq!(take(5_000, -200_000, 100_000), (true, 100_000));
        // Refunds apply in debt too.
        assert_eq!(take(-50_000, -20_000, 100_000), (true, -30_000));
        // A cost above what is left runs while the bucket is not empty and leaves a debt.
        assert_eq!(take(100_000, 150_000, 100_000), (true, -50_000));
        assert_eq!(take(1, 150_000, 100_000), (true, -149_999));
        // In debt, or empty, nothing runs.
        assert_eq!(take(0, 1_000, 100_000), (false, 0));
        assert_eq!(take(-5, 1_000, 100_000), (false, -5));
    }

    #[tokio::test]
    async fn a_debt_must_be_restored_before_the_next_request() {
        let limiter = RateLimiter::in_memory(100, 10);
        assert!(
            matches!(limiter.charge("a", 150).await, Charge::Admitted(s) if s.currently_available == 0)
        );
        match limiter.charge("a", 1).await {
            // 50 points of debt and 1 point of cost at 10 per second: about 5.1 s.
            Charge::Throttled { retry_after, .. } => {
                assert!(
                    retry_after >= Duration::from_millis(5_000),
                    "{retry_after:?}"
                );
                assert!(
                    retry_after <= Duration::from_millis(5_100),
                    "{retry_after:?}"
                );
            }
            other => panic!("expected a throttle, got {other:?}"),
        }
    }
}
