//! Where series live: per-kind maps keyed by the metric key's precomputed hash, and per-name
//! families that enforce the cardinality limit.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use metrics::{Key, Label, SharedString, Unit};

use crate::cells::{CounterCells, GaugeCell};
use crate::histogram::HistogramCore;
use crate::{Matcher, OVERFLOW_LABEL};

/// Uses the hash `metrics::Key` already carries (it feeds it through `write_u64`).
#[derive(Default)]
pub(crate) struct KeyHashHasher(u64);

impl Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `Key`; a plain FNV-1a keeps other inputs working.
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// A series: its storage and its label set, rendered once (sanitized and escaped) when the
/// series is created, so that a scrape only copies it.
#[derive(Debug)]
pub(crate) struct Series<T> {
    pub(crate) cell: T,
    pub(crate) labels: Box<str>,
    /// Set by every update, cleared by upkeep: only read while set, so a hot series' line
    /// stays shared between cores.
    touched: std::sync::atomic::AtomicBool,
    /// When upkeep last saw the series touched, in nanoseconds since the registry started.
    last_seen: std::sync::atomic::AtomicU64,
}

impl<T> Series<T> {
    fn touch(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.touched.load(Relaxed) {
            self.touched.store(true, Relaxed);
        }
    }

    /// Whether the series went untouched for `idle` (nanoseconds) as of `now`; a touched
    /// series is stamped `now` and its mark cleared.
    fn idle_since(&self, now: u64, idle: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        if self.touched.swap(false, Relaxed) {
            self.last_seen.store(now, Relaxed);
            return false;
        }
        now.saturating_sub(self.last_seen.load(Relaxed)) >= idle
    }
}

impl metrics::CounterFn for Series<CounterCells> {
    fn increment(&self, value: u64) {
        self.touch();
        self.cell.add(value);
    }

    fn absolute(&self, value: u64) {
        self.touch();
        self.cell.raise_to(value);
    }
}

impl metrics::GaugeFn for Series<GaugeCell> {
    fn increment(&self, value: f64) {
        self.touch();
        metrics::GaugeFn::increment(&self.cell, value);
    }

    fn decrement(&self, value: f64) {
        self.touch();
        metrics::GaugeFn::decrement(&self.cell, value);
    }

    fn set(&self, value: f64) {
        self.touch();
        metrics::GaugeFn::set(&self.cell, value);
    }
}

impl metrics::HistogramFn for Series<HistogramCore> {
    fn record(&self, value: f64) {
        self.touch();
        self.cell.record(value);
    }
}

/// A series of any kind, as a family's index holds it.
#[derive(Debug, Clone)]
pub(crate) enum AnySeries {
    Counter(Arc<Series<CounterCells>>),
    Gauge(Arc<Series<GaugeCell>>),
    Histogram(Arc<Series<HistogramCore>>),
}

/// `a="x",b="y"` for a key's labels, sanitized, escaped, first occurrence of a name kept.
fn render_labels(labels: &[(String, String)]) -> Box<str> {
    let mut out = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in labels {
        if seen.contains(&name.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        crate::names::escape_label_value(&mut out, value);
        out.push('"');
        seen.push(name);
    }
    out.into_boxed_str()
}

type KeyMap<T> = HashMap<Key, Arc<Series<T>>, BuildHasherDefault<KeyHashHasher>>;

const MAP_SHARDS: usize = 16;

/// The series of one kind, sharded by key hash so that registrations of unrelated keys do
/// not contend. Lookups take a read lock; only a new series takes a write lock.
pub(crate) struct KindMap<T> {
    shards: Box<[RwLock<KeyMap<T>>]>,
}

impl<T> KindMap<T> {
    fn new() -> Self {
        Self {
            shards: (0..MAP_SHARDS)
                .map(|_| RwLock::new(KeyMap::default()))
                .collect(),
        }
    }

    fn shard(&self, key: &Key) -> &RwLock<KeyMap<T>> {
        &self.shards[(key.get_hash() as usize) & (MAP_SHARDS - 1)]
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Series<T>>> {
        self.shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// The series for `key`, and whether this call created it.
    fn get_or_insert(
        &self,
        key: &Key,
        now: u64,
        make: impl FnOnce() -> T,
    ) -> (Arc<Series<T>>, bool) {
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = shard.get(key) {
            return (existing.clone(), false);
        }
        let labels: Vec<(String, String)> = key
            .labels()
            .map(|l| (crate::names::label_name(l.key()), l.value().to_owned()))
            .collect();
        let series = Arc::new(Series {
            cell: make(),
            labels: render_labels(&labels),
            touched: std::sync::atomic::AtomicBool::new(false),
            last_seen: std::sync::atomic::AtomicU64::new(now),
        });
        shard.insert(key.clone(), series.clone());
        (series, true)
    }

    /// Removes `key`'s series if only the map and one other owner (a family index) hold it.
    /// Checked under the shard's write lock, so no lookup can clone it meanwhile.
    fn remove_if_unshared(&self, key: &Key) -> bool {
        let mut shard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let unshared = shard
            .get(key)
            .is_some_and(|series| Arc::strong_count(series) <= 2);
        if unshared {
            shard.remove(key);
        }
        unshared
    }

    /// Every series, cloned out under short read locks.
    pub(crate) fn collect(&self) -> Vec<Arc<Series<T>>> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(
                shard
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .cloned(),
            );
        }
        all
    }
}

/// Per-name bookkeeping: the cardinality limit, and the series in label order for rendering.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) series: usize,
    pub(crate) limit: usize,
    /// Registrations folded into the overflow series.
    pub(crate) folds: u64,
    /// Every series of the name (overflow included), ordered by rendered labels, with its key.
    pub(crate) index: std::collections::BTreeMap<Box<str>, (Key, AnySeries)>,
}

/// A family as a render sees it.
pub(crate) struct FamilySnapshot {
    pub(crate) name: String,
    pub(crate) series_count: usize,
    pub(crate) folds: u64,
    pub(crate) series: Vec<AnySeries>,
}

/// HELP and UNIT of a metric name.
#[derive(Debug, Clone, Default)]
pub(crate) struct Description {
    pub(crate) help: Option<SharedString>,
    pub(crate) unit: Option<Unit>,
}

/// Limits and bucket layouts, by metric name.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) default_limit: usize,
    /// Series across all names (overflow series aside); past it, new label sets fold into
    /// their name's overflow series.
    pub(crate) total_limit: usize,
    pub(crate) limits: Vec<(Matcher, usize)>,
    pub(crate) default_buckets: Arc<[f64]>,
    pub(crate) buckets: Vec<(Matcher, Arc<[f64]>)>,
    /// Series untouched this long, with no handle held outside the registry, are removed.
    pub(crate) idle_timeout: Option<std::time::Duration>,
    /// Whether and how histograms keep exemplars.
    pub(crate) exemplars: Option<crate::exemplar::ExemplarSettings>,
    /// Labels with a secret name get `[REDACTED]` as their value.
    pub(crate) redaction: telescope_core::Redaction,
}

impl Settings {
    fn limit_for(&self, name: &str) -> usize {
        self.limits
            .iter()
            .find(|(m, _)| m.matches(name))
            .map_or(self.default_limit, |(_, l)| *l)
    }

    fn buckets_for(&self, name: &str) -> Arc<[f64]> {
        self.buckets
            .iter()
            .find(|(m, _)| m.matches(name))
            .map_or_else(|| self.default_buckets.clone(), |(_, b)| b.clone())
    }
}

/// All series and their bookkeeping.
pub(crate) struct Registry {
    pub(crate) counters: KindMap<CounterCells>,
    pub(crate) gauges: KindMap<GaugeCell>,
    pub(crate) histograms: KindMap<HistogramCore>,
    pub(crate) families: Mutex<HashMap<String, Family>>,
    /// Series in every family (changed under the `families` lock).
    total_series: std::sync::atomic::AtomicUsize,
    pub(crate) descriptions: RwLock<HashMap<String, Description>>,
    pub(crate) settings: Settings,
    epoch: std::time::Instant,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            counters: KindMap::new(),
            gauges: KindMap::new(),
            histograms: KindMap::new(),
            families: Mutex::new(HashMap::new()),
            total_series: std::sync::atomic::AtomicUsize::new(0),
            descriptions: RwLock::new(HashMap::new()),
            settings,
            epoch: std::time::Instant::now(),
        }
    }

    /// The series for `key` in `map`: found, created within the name's limit, or the name's
    /// overflow series (`otel_metric_overflow="true"`) once the limit is reached.
    fn series<T>(
        &self,
        map: &KindMap<T>,
        key: &Key,
        make: impl Fn() -> T,
        wrap: impl Fn(Arc<Series<T>>) -> AnySeries,
    ) -> Arc<Series<T>> {
        if let Some(series) = map.get(key) {
            return series;
        }
        // A label with a secret name: every value is the one `[REDACTED]` series, and the
        // secret is stored nowhere. (Looked at only here, off the path of a known series;
        // such keys come back here on every call, which costs them a lock.)
        if let Some(redacted) = self.redacted(key) {
            return self.series(map, &redacted, make, wrap);
        }
        let name = key.name();
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have created it meanwhile.
        if let Some(series) = map.get(key) {
            return series;
        }
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            series: 0,
            limit: self.settings.limit_for(name),
            folds: 0,
            index: std::collections::BTreeMap::new(),
        });
        let overflow;
        let total = self.total_series.load(std::sync::atomic::Ordering::Relaxed);
        let series_key = if family.series < family.limit && total < self.settings.total_limit {
            key
        } else {
            family.folds += 1;
            overflow = Key::from_parts(name.to_owned(), vec![Label::new(OVERFLOW_LABEL, "true")]);
            &overflow
        };
        let (series, created) = map.get_or_insert(series_key, self.now(), make);
        if created {
            if std::ptr::eq(series_key, key) {
                family.series += 1;
                self.total_series
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            family.index.insert(
                series.labels.clone(),
                (series_key.clone(), wrap(series.clone())),
            );
        }
        series
    }

    pub(crate) fn counter(&self, key: &Key) -> Arc<Series<CounterCells>> {
        self.series(&self.counters, key, CounterCells::new, AnySeries::Counter)
    }

    pub(crate) fn gauge(&self, key: &Key) -> Arc<Series<GaugeCell>> {
        self.series(&self.gauges, key, GaugeCell::default, AnySeries::Gauge)
    }

    pub(crate) fn histogram(&self, key: &Key) -> Arc<Series<HistogramCore>> {
        if let Some(series) = self.histograms.get(key) {
            return series;
        }
        let buckets = self.settings.buckets_for(key.name());
        self.series(
            &self.histograms,
            key,
            || HistogramCore::with_exemplars(buckets.clone(), self.settings.exemplars),
            AnySeries::Histogram,
        )
    }

    /// `key` with the values of its secret labels replaced, if it has any not replaced yet.
    fn redacted(&self, key: &Key) -> Option<Key> {
        let redaction = &self.settings.redaction;
        let secret = |label: &Label| {
            label.value() != telescope_core::REDACTED && redaction.matches(label.key())
        };
        if !key.labels().any(secret) {
            return None;
        }
        let labels: Vec<Label> = key
            .labels()
            .map(|label| {
                if secret(label) {
                    Label::new(label.key().to_owned(), telescope_core::REDACTED)
                } else {
                    label.clone()
                }
            })
            .collect();
        Some(Key::from_parts(key.name().to_owned(), labels))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Removes series idle for the configured timeout that nobody outside the registry holds
    /// (a held handle keeps its series, so nothing recorded through it is lost), freeing
    /// their place under the cardinality limit. Returns how many were removed.
    pub(crate) fn expire_idle(&self) -> usize {
        let Some(idle) = self.settings.idle_timeout else {
            return 0;
        };
        let idle = u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX);
        let now = self.now();
        let mut removed = 0;
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        for family in families.values_mut() {
            family.index.retain(|labels, (key, series)| {
                let idle_now = match series {
                    AnySeries::Counter(s) => s.idle_since(now, idle),
                    AnySeries::Gauge(s) => s.idle_since(now, idle),
                    AnySeries::Histogram(s) => s.idle_since(now, idle),
                };
                // A handle held outside the registry keeps the series alive.
                let removed_now = idle_now
                    && match series {
                        AnySeries::Counter(_) => self.counters.remove_if_unshared(key),
                        AnySeries::Gauge(_) => self.gauges.remove_if_unshared(key),
                        AnySeries::Histogram(_) => self.histograms.remove_if_unshared(key),
                    };
                if removed_now {
                    if !labels.contains(OVERFLOW_LABEL) {
                        family.series = family.series.saturating_sub(1);
                        self.total_series
                            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    removed += 1;
                }
                !removed_now
            });
        }
        families.retain(|_, family| !family.index.is_empty() || family.folds > 0);
        removed
    }

    pub(crate) fn describe(&self, name: &str, unit: Option<Unit>, help: SharedString) {
        let mut descriptions = self
            .descriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = descriptions.entry(name.to_owned()).or_default();
        entry.help = Some(help);
        if unit.is_some() {
            entry.unit = unit;
        }
    }

    /// (name, series, folds) for every name with at least one series.
    pub(crate) fn family_stats(&self) -> Vec<(String, usize, u64)> {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families
            .iter()
            .map(|(name, f)| (name.clone(), f.series, f.folds))
            .collect()
    }

    /// Every family's name, counts and series in label order, cloned out under the lock
    /// (a reference-count bump per series) so that formatting happens without it.
    pub(crate) fn families_snapshot(&self) -> Vec<FamilySnapshot> {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families
            .iter()
            .map(|(name, family)| FamilySnapshot {
                name: name.clone(),
                series_count: family.series,
                folds: family.folds,
                series: family
                    .index
                    .values()
                    .map(|(_, series)| series.clone())
                    .collect(),
            })
            .collect()
    }
}
