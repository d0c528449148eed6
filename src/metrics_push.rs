//! Pushing the recorder's metrics every interval, over OTLP (`OTEL_METRICS_EXPORTER=otlp`) or
//! to StatsD: counters as monotonic sums, gauges as gauges, histograms as explicit-bucket
//! histograms with their exemplars, cumulative or delta. Each push reads the recorder as a
//! scrape would at that moment ([`MetricsHandle::snapshot`]), so the values sent are the
//! values `/metrics` shows; a [`MetricSink`] sends them.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use telescope_core::metric_names::{METRIC_EXPORT_ERRORS_TOTAL, METRIC_POINTS_EXPORTED_TOTAL};
use telescope_metrics::{
    ExponentialSnapshot, FamilySnapshot, HistogramSnapshot, MetricsHandle, ValueSnapshot,
};
use telescope_otlp::{
    ExponentialPoint, ExportError, HistogramPoint, Metric, MetricData, MetricExemplar, NumberPoint,
    NumberValue, OtlpExport, Temporality,
};

/// Where pushed metrics go: one request (or a few packets) per push. Called on the push
/// thread only; may block within its own timeout; must not retry by itself.
pub(crate) trait MetricSink: Send + 'static {
    /// The `exporter` label of the push counters: `otlp`, `statsd`.
    fn name(&self) -> &'static str;

    /// Sends `metrics` once.
    fn send(&self, metrics: &[Metric]) -> Result<(), ExportError>;
}

impl MetricSink for OtlpExport {
    fn name(&self) -> &'static str {
        "otlp"
    }

    fn send(&self, metrics: &[Metric]) -> Result<(), ExportError> {
        self.export_metrics(metrics).map(drop)
    }
}

/// How a push is made: every `interval`, each try within `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PushSchedule {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) temporality: Temporality,
    /// Histograms that keep exponential buckets go out as exponential histograms.
    pub(crate) exponential: bool,
}

/// A series' identity across pushes: its metric name and labels.
type SeriesKey = (String, Vec<(String, String)>);

/// What was last sent for a series, for deltas.
#[derive(Debug, Clone, PartialEq)]
enum Sent {
    Counter(u64),
    Histogram {
        counts: Vec<u64>,
        sum: f64,
    },
    Exponential {
        buckets: ExponentialSnapshot,
        sum: f64,
    },
}

/// What successive pushes remember.
struct PushState {
    metrics: MetricsHandle,
    sink: Box<dyn MetricSink>,
    schedule: PushSchedule,
    /// When cumulative points count from.
    started: SystemTime,
    /// When the last push that was accepted read the recorder (deltas count from there).
    last_push: SystemTime,
    /// The cumulative values that push sent, by series (deltas only).
    sent: HashMap<SeriesKey, Sent>,
}

impl PushState {
    /// The metrics to send now, and what to remember once they are accepted.
    fn collect(&self, now: SystemTime) -> (Vec<Metric>, HashMap<SeriesKey, Sent>) {
        let families = self.metrics.snapshot();
        let mut sent = HashMap::new();
        let metrics = families
            .into_iter()
            .filter_map(|family| self.metric(family, now, &mut sent))
            .collect();
        (metrics, sent)
    }

    /// `family` as OTLP sends it; `None` when a delta push has nothing new for it.
    // One function (~100 lines): one match over the metric kinds (counter, gauge, histogram
    // with its explicit or exponential buckets), each arm the OTLP shape of that kind.
    fn metric(
        &self,
        family: FamilySnapshot,
        now: SystemTime,
        sent: &mut HashMap<SeriesKey, Sent>,
    ) -> Option<Metric> {
        let temporality = self.schedule.temporality;
        let start = match temporality {
            Temporality::Cumulative => self.started,
            Temporality::Delta => self.last_push,
        };
        let mut sums = Vec::new();
        let mut gauges = Vec::new();
        let mut histograms = Vec::new();
        let mut exponentials = Vec::new();
        for series in family.series {
            let key = (family.name.clone(), series.labels.clone());
            let previous = self.sent.get(&key);
            match series.value {
                ValueSnapshot::Counter(total) => {
                    sent.insert(key, Sent::Counter(total));
                    sums.extend(counter_point(
                        total,
                        previous,
                        temporality,
                        start,
                        now,
                        series.labels,
                    ));
                }
                ValueSnapshot::Gauge(value) => gauges.push(NumberPoint {
                    attributes: series.labels,
                    start,
                    time: now,
                    value: NumberValue::Double(value),
                }),
                ValueSnapshot::Histogram(histogram)
                    if self.schedule.exponential && histogram.exponential.is_some() =>
                {
                    if let Some(point) = exponential_point(
                        &histogram,
                        previous,
                        temporality,
                        start,
                        now,
                        &series.labels,
                    ) {
                        exponentials.push(point);
                    }
                    if let Some(buckets) = histogram.exponential {
                        let sum = histogram.sum;
                        sent.insert(key, Sent::Exponential { buckets, sum });
                    }
                }
                ValueSnapshot::Histogram(histogram) => {
                    let point = explicit_point(
                        &histogram,
                        previous,
                        temporality,
                        start,
                        now,
                        &series.labels,
                    );
                    sent.insert(
                        key,
                        Sent::Histogram {
                            counts: histogram.buckets,
                            sum: histogram.sum,
                        },
                    );
                    histograms.extend(point);
                }
            }
        }
        if sums.is_empty() && gauges.is_empty() && histograms.is_empty() && exponentials.is_empty()
        {
            return None;
        }
        let data = if !exponentials.is_empty() {
            MetricData::ExponentialHistogram {
                temporality,
                points: exponentials,
            }
        } else if !histograms.is_empty() {
            MetricData::Histogram {
                temporality,
                points: histograms,
            }
        } else if !sums.is_empty() {
            MetricData::Sum {
                monotonic: true,
                temporality,
                points: sums,
            }
        } else {
            MetricData::Gauge { points: gauges }
        };
        Some(Metric {
            name: family.name,
            description: family.help.unwrap_or_default(),
            unit: family.unit.map(ucum).unwrap_or_default().to_owned(),
            data,
        })
    }

    /// Reads the recorder and sends what it holds, retrying what may succeed later until
    /// `deadline`. Returns whether the receiver took it.
    fn push(&mut self, deadline: Instant, pause: &dyn Fn(Duration) -> bool) -> bool {
        let now = SystemTime::now();
        let (metrics, sent) = self.collect(now);
        if metrics.is_empty() {
            // Nothing recorded, or (delta) nothing new: no request.
            self.sent = sent;
            self.last_push = now;
            return true;
        }
        let points: usize = metrics.iter().map(Metric::points).sum();
        let mut backoff = Duration::from_millis(100);
        loop {
            let exporter = self.sink.name();
            match self.sink.send(&metrics) {
                Ok(()) => {
                    metrics::counter!(METRIC_POINTS_EXPORTED_TOTAL, "exporter" => exporter)
                        .increment(points as u64);
                    self.sent = sent;
                    self.last_push = now;
                    return true;
                }
                Err(error) => {
                    metrics::counter!(METRIC_EXPORT_ERRORS_TOTAL, "exporter" => exporter)
                        .increment(1);
                    let wait = match &error {
                        ExportError::Permanent { .. } => None,
                        ExportError::Retryable { after, .. } => Some(after.unwrap_or(backoff)),
                    };
                    match wait {
                        Some(wait) if Instant::now() + wait < deadline && pause(wait) => {
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                        // Deltas not accepted stay in the totals: the next push sends them.
                        _ => {
                            warn_once(&error);
                            return false;
                        }
                    }
                }
            }
        }
    }
}

/// A counter as a point: its total, or (delta) its increase since the last push; `None` for a
/// delta with nothing new.
fn counter_point(
    total: u64,
    previous: Option<&Sent>,
    temporality: Temporality,
    start: SystemTime,
    now: SystemTime,
    labels: Vec<(String, String)>,
) -> Option<NumberPoint> {
    let value = match (temporality, previous) {
        // A total below the last one sent: the series was removed and made again; it counts
        // from zero.
        (Temporality::Delta, Some(Sent::Counter(before))) if total >= *before => total - before,
        _ => total,
    };
    if temporality == Temporality::Delta && previous.is_some() && value == 0 {
        return None;
    }
    Some(NumberPoint {
        attributes: labels,
        start,
        time: now,
        value: NumberValue::Int(i64::try_from(value).unwrap_or(i64::MAX)),
    })
}

/// A histogram's classic buckets as a point: cumulative, or (delta) less what was last sent;
/// `None` for a delta with nothing new.
fn explicit_point(
    histogram: &HistogramSnapshot,
    previous: Option<&Sent>,
    temporality: Temporality,
    start: SystemTime,
    now: SystemTime,
    labels: &[(String, String)],
) -> Option<HistogramPoint> {
    let (counts, sum) = match (temporality, previous) {
        (Temporality::Delta, Some(Sent::Histogram { counts, sum }))
            if counts.len() == histogram.buckets.len()
                && counts.iter().zip(&histogram.buckets).all(|(b, n)| n >= b) =>
        {
            (
                histogram
                    .buckets
                    .iter()
                    .zip(counts)
                    .map(|(now, before)| now - before)
                    .collect::<Vec<u64>>(),
                histogram.sum - sum,
            )
        }
        _ => (histogram.buckets.clone(), histogram.sum),
    };
    if temporality == Temporality::Delta && previous.is_some() && counts.iter().all(|n| *n == 0) {
        return None;
    }
    Some(HistogramPoint {
        attributes: labels.to_vec(),
        start,
        time: now,
        count: counts.iter().sum(),
        sum: (!histogram.negative).then_some(sum),
        bounds: histogram.bounds.to_vec(),
        counts,
        exemplars: exemplars_of(histogram, temporality, start),
    })
}

/// A histogram's exponential buckets as a point: cumulative, or (delta) less what was last
/// sent, bucket by bucket; `None` for a delta with nothing new.
fn exponential_point(
    histogram: &HistogramSnapshot,
    previous: Option<&Sent>,
    temporality: Temporality,
    start: SystemTime,
    now: SystemTime,
    labels: &[(String, String)],
) -> Option<ExponentialPoint> {
    let buckets = histogram.exponential.as_ref()?;
    let before = match (temporality, previous) {
        (Temporality::Delta, Some(Sent::Exponential { buckets, sum })) => Some((buckets, *sum)),
        _ => None,
    };
    let minus = |offset: i32, counts: &[u64], before_offset: i32, before: &[u64]| {
        counts
            .iter()
            .enumerate()
            .map(|(k, count)| {
                let index = offset + k as i32;
                let old = usize::try_from(index - before_offset)
                    .ok()
                    .and_then(|at| before.get(at))
                    .copied()
                    .unwrap_or(0);
                count.saturating_sub(old)
            })
            .collect::<Vec<u64>>()
    };
    let (zero_count, positive, negative, sum) = match before {
        // Counts below the last ones sent: the series was made again; it counts from zero.
        Some((before, before_sum)) if before.zero_count <= buckets.zero_count => (
            buckets.zero_count - before.zero_count,
            minus(
                buckets.positive_offset,
                &buckets.positive,
                before.positive_offset,
                &before.positive,
            ),
            minus(
                buckets.negative_offset,
                &buckets.negative,
                before.negative_offset,
                &before.negative,
            ),
            histogram.sum - before_sum,
        ),
        _ => (
            buckets.zero_count,
            buckets.positive.clone(),
            buckets.negative.clone(),
            histogram.sum,
        ),
    };
    let count = zero_count + positive.iter().sum::<u64>() + negative.iter().sum::<u64>();
    if before.is_some() && count == 0 {
        return None;
    }
    let sum = (!histogram.negative).then_some(sum);
    Some(ExponentialPoint {
        attributes: labels.to_vec(),
        start,
        time: now,
        count,
        sum,
        scale: buckets.scale,
        zero_count,
        zero_threshold: buckets.zero_threshold,
        positive_offset: buckets.positive_offset,
        positive,
        negative_offset: buckets.negative_offset,
        negative,
        exemplars: exemplars_of(histogram, temporality, start),
    })
}

/// A histogram's exemplars as OTLP sends them; for a delta, those observed since `start`.
fn exemplars_of(
    histogram: &HistogramSnapshot,
    temporality: Temporality,
    start: SystemTime,
) -> Vec<MetricExemplar> {
    histogram
        .exemplars
        .iter()
        .filter(|(_, e)| temporality == Temporality::Cumulative || e.time >= start)
        .map(|(_, e)| MetricExemplar {
            value: e.value,
            time: e.time,
            trace_id: e.trace_id.to_bytes(),
            span_id: e.span_id.to_bytes(),
        })
        .collect()
}

/// Says the first failed push on stderr; later ones are counted only.
fn warn_once(error: &ExportError) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "telescope: a metrics push failed ({error}); the next push sends the values again; \
             failures are counted in {METRIC_EXPORT_ERRORS_TOTAL}"
        );
    }
}

/// The UCUM unit OTLP expects for a `metrics` unit.
fn ucum(unit: metrics::Unit) -> &'static str {
    use metrics::Unit;
    match unit {
        Unit::Count => "1",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "1/s",
    }
}

/// The push thread: pushes every interval, and once more when stopped.
#[derive(Debug)]
pub(crate) struct MetricsPush {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    state: Mutex<PushState>,
    /// Set by `shutdown`: the last push's deadline.
    stop: Mutex<Option<Instant>>,
    wake: Condvar,
    /// Whether the last push (at shutdown) was taken.
    last_taken: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    /// Waits `pause` unless a stop comes first; returns whether it waited it all.
    fn pause(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        let mut stop = self.stop.lock().unwrap_or_else(PoisonError::into_inner);
        while stop.is_none() && Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            stop = match self.wake.wait_timeout(stop, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        stop.is_none()
    }

    fn stopping(&self) -> Option<Instant> {
        *self.stop.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MetricsPush {
    /// Starts pushing `metrics` to `sink` on `schedule`.
    pub(crate) fn start(
        metrics: MetricsHandle,
        sink: Box<dyn MetricSink>,
        schedule: PushSchedule,
    ) -> std::io::Result<Self> {
        let now = SystemTime::now();
        let sink_name = sink.name();
        let shared = Arc::new(Shared {
            state: Mutex::new(PushState {
                metrics,
                sink,
                schedule,
                started: now,
                last_push: now,
                sent: HashMap::new(),
            }),
            stop: Mutex::new(None),
            wake: Condvar::new(),
            last_taken: std::sync::atomic::AtomicBool::new(false),
        });
        let running = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("telescope-push-{sink_name}"))
            .spawn(move || run(&running))?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Pushes now, within `timeout` (a request already under way is waited for); returns
    /// whether the receiver took it.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = telescope_core::time::deadline_after(timeout);
        let shared = &*self.shared;
        shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(deadline, &|pause| shared.pause(pause))
    }

    /// Has the thread push a last time and stop, and waits for it until `timeout`: a push
    /// stuck on a receiver that does not answer is left behind, not waited for past it.
    /// Returns whether the last push was taken in time.
    pub(crate) fn shutdown(&self, timeout: Duration) -> bool {
        let deadline = telescope_core::time::deadline_after(timeout);
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(deadline);
        self.shared.wake.notify_all();
        let Some(thread) = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return false;
        };
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if !thread.is_finished() {
            return false;
        }
        let _ = thread.join();
        self.shared
            .last_taken
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn run(shared: &Shared) {
    let interval = shared
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .schedule
        .interval;
    loop {
        let stopped = !shared.pause(interval);
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(deadline) = shared.stopping().filter(|_| stopped) {
            // The last push: retries end at the shutdown's deadline, not at another stop.
            let taken = state.push(deadline, &|pause| {
                std::thread::sleep(pause);
                true
            });
            shared
                .last_taken
                .store(taken, std::sync::atomic::Ordering::SeqCst);
            return;
        }
        let deadline = Instant::now() + state.schedule.timeout.min(interval);
        state.push(deadline, &|pause| shared.pause(pause));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_has_its_ucum_name() {
        assert_eq!(ucum(metrics::Unit::Seconds), "s");
        assert_eq!(ucum(metrics::Unit::Bytes), "By");
        assert_eq!(ucum(metrics::Unit::Count), "1");
    }
}
