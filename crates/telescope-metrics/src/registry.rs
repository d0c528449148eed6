//! Where series live: per-kind tables keyed by the metric key's precomputed hash, and per-name
//! families that enforce the cardinality limit.
//!
//! A series is stored once: the kind's table and its family's index hold the same `Arc`, and
//! the series itself keeps what identifies it (hash, shared name, packed labels), so a new
//! series costs one allocation for itself and one for its labels.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use hashbrown::HashTable;
use metrics::{Key, Label, SharedString, Unit};

use crate::cells::{CounterCells, GaugeCell};
use crate::claims::{MetricKind, NameClaims, Refusal, Refused};
use crate::histogram::{HistogramCore, HistogramOptions};
use crate::labels::PackedLabels;
use crate::Matcher;

/// A series: its storage and what identifies it.
#[derive(Debug)]
pub(crate) struct Series<T> {
    pub(crate) cell: T,
    /// The key's precomputed hash.
    hash: u64,
    /// The metric name, shared with its family.
    name: Arc<str>,
    pub(crate) labels: PackedLabels,
    /// Bit 0: updated since upkeep last looked (set by every update, but only written while
    /// clear, so a hot series' line stays shared between cores). Above it: when upkeep last
    /// saw it updated, in nanoseconds since the registry started.
    activity: AtomicU64,
}

impl<T> Series<T> {
    fn new(cell: T, hash: u64, name: &Arc<str>, labels: PackedLabels) -> Self {
        Self {
            cell,
            hash,
            name: name.clone(),
            labels,
            // Born updated: upkeep stamps it with the time it first looks, so a new series
            // is never idle before a whole idle period has passed after that (and creating
            // one reads no clock).
            activity: AtomicU64::new(1),
        }
    }

    /// Whether this is the series of `key`.
    #[inline]
    fn is(&self, key: &Key) -> bool {
        self.hash == key.get_hash()
            && crate::short_eq::same(self.name.as_bytes(), key.name().as_bytes())
            && self.labels.matches(key.labels())
    }

    fn touch(&self) {
        if self.activity.load(Relaxed) & 1 == 0 {
            self.activity.fetch_or(1, Relaxed);
        }
    }

    /// Whether the series went untouched for `idle` (nanoseconds) as of `now`; a touched
    /// series is stamped `now` and its mark cleared.
    fn idle_since(&self, now: u64, idle: u64) -> bool {
        let mut current = self.activity.load(Relaxed);
        loop {
            if current & 1 == 0 {
                return now.saturating_sub(current >> 1) >= idle;
            }
            match self
                .activity
                .compare_exchange_weak(current, now << 1, Relaxed, Relaxed)
            {
                Ok(_) => return false,
                Err(actual) => current = actual,
            }
        }
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

/// The storage of one kind of series, and how a family's index holds it.
pub(crate) trait SeriesKind: Sized {
    const KIND: MetricKind;
    fn wrap(series: Arc<Series<Self>>) -> AnySeries;
    fn unwrap(any: &AnySeries) -> Option<&Arc<Series<Self>>>;
}

impl SeriesKind for CounterCells {
    const KIND: MetricKind = MetricKind::Counter;

    fn wrap(series: Arc<Series<Self>>) -> AnySeries {
        AnySeries::Counter(series)
    }

    fn unwrap(any: &AnySeries) -> Option<&Arc<Series<Self>>> {
        match any {
            AnySeries::Counter(series) => Some(series),
            _ => None,
        }
    }
}

impl SeriesKind for GaugeCell {
    const KIND: MetricKind = MetricKind::Gauge;

    fn wrap(series: Arc<Series<Self>>) -> AnySeries {
        AnySeries::Gauge(series)
    }

    fn unwrap(any: &AnySeries) -> Option<&Arc<Series<Self>>> {
        match any {
            AnySeries::Gauge(series) => Some(series),
            _ => None,
        }
    }
}

impl SeriesKind for HistogramCore {
    const KIND: MetricKind = MetricKind::Histogram;

    fn wrap(series: Arc<Series<Self>>) -> AnySeries {
        AnySeries::Histogram(series)
    }

    fn unwrap(any: &AnySeries) -> Option<&Arc<Series<Self>>> {
        match any {
            AnySeries::Histogram(series) => Some(series),
            _ => None,
        }
    }
}

impl AnySeries {
    pub(crate) fn labels(&self) -> &PackedLabels {
        match self {
            AnySeries::Counter(series) => &series.labels,
            AnySeries::Gauge(series) => &series.labels,
            AnySeries::Histogram(series) => &series.labels,
        }
    }
}

const MAP_SHARDS: usize = 16;

/// One shard of a [`KindMap`]: series found by key hash.
type SeriesTable<T> = RwLock<HashTable<Arc<Series<T>>>>;

/// The series of one kind, sharded by key hash so that registrations of unrelated keys do
/// not contend. Lookups take a read lock; only a new series takes a write lock.
pub(crate) struct KindMap<T> {
    shards: Box<[SeriesTable<T>]>,
}

impl<T> KindMap<T> {
    fn new() -> Self {
        Self {
            shards: (0..MAP_SHARDS)
                .map(|_| RwLock::new(HashTable::new()))
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> &SeriesTable<T> {
        // Bits the tables do not use: the low ones pick a bucket, the top seven tag it.
        &self.shards[(hash >> 40) as usize & (MAP_SHARDS - 1)]
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Series<T>>> {
        let hash = key.get_hash();
        self.shard(hash)
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .find(hash, |series| series.is(key))
            .cloned()
    }

    /// The series for `key` (named `name`), and whether this call created it.
    fn get_or_insert(
        &self,
        key: &Key,
        name: &Arc<str>,
        make: impl FnOnce() -> T,
    ) -> (Arc<Series<T>>, bool) {
        let hash = key.get_hash();
        let mut shard = self
            .shard(hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = shard.find(hash, |series| series.is(key)) {
            return (existing.clone(), false);
        }
        let series = Arc::new(Series::new(
            make(),
            hash,
            name,
            PackedLabels::pack(key.labels()),
        ));
        shard.insert_unique(hash, series.clone(), |series| series.hash);
        (series, true)
    }

    /// Removes `series` if only the table and one other owner (a family index, whose `Arc`
    /// `series` is) hold it. Checked under the shard's write lock, so no lookup can clone it
    /// meanwhile.
    fn remove_if_unshared(&self, series: &Arc<Series<T>>) -> bool {
        let mut shard = self
            .shard(series.hash)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match shard.find_entry(series.hash, |stored| Arc::ptr_eq(stored, series)) {
            Ok(entry) if Arc::strong_count(series) <= 2 => {
                entry.remove();
                true
            }
            _ => false,
        }
    }

    /// Every series, cloned out under short read locks.
    pub(crate) fn collect(&self) -> Vec<Arc<Series<T>>> {
        let mut all = Vec::new();
        for shard in self.shards.iter() {
            all.extend(
                shard
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                    .cloned(),
            );
        }
        all
    }
}

/// Per-name bookkeeping: the cardinality limit, and the series in label order for rendering.
#[derive(Debug)]
pub(crate) struct Family {
    name: Arc<str>,
    kind: MetricKind,
    pub(crate) series: usize,
    pub(crate) limit: usize,
    /// Registrations folded into the overflow series.
    pub(crate) folds: u64,
    /// Every series of the name (overflow included): the first `settled` in label order,
    /// then those created since the last render, in creation order.
    index: Vec<AnySeries>,
    settled: usize,
    /// The series that label sets beyond a limit fold into, one per kind registered under
    /// the name. Not in the kind's table, so that no key finds it: a user's own
    /// `otel_metric_overflow="true"` label is a series of its own.
    overflows: Vec<AnySeries>,
}

impl Family {
    fn add(&mut self, series: AnySeries) {
        self.index.push(series);
    }

    /// Puts the series created since the last call in label order among the others: a sort
    /// of the new ones and a merge, so a render pays for what is new, and creating a series
    /// costs a push.
    fn settle(&mut self) {
        if self.settled == self.index.len() {
            return;
        }
        let mut fresh = self.index.split_off(self.settled);
        fresh.sort_by(|a, b| a.labels().cmp(b.labels()));
        let settled = std::mem::take(&mut self.index);
        let mut merged = Vec::with_capacity(settled.len() + fresh.len());
        let (mut old, mut new) = (settled.into_iter().peekable(), fresh.into_iter().peekable());
        loop {
            let take_new = match (old.peek(), new.peek()) {
                (Some(o), Some(n)) => n.labels() < o.labels(),
                (None, Some(_)) => true,
                (_, None) => false,
            };
            match if take_new { new.next() } else { old.next() } {
                Some(series) => merged.push(series),
                None => break,
            }
        }
        self.index = merged;
        self.settled = self.index.len();
    }
}

/// Every family, found by a hash of its name (computed once per lookup), and the exposition
/// names they claimed.
#[derive(Default)]
pub(crate) struct Families {
    table: HashTable<Family>,
    hasher: std::hash::RandomState,
    claims: NameClaims,
}

impl Families {
    /// The family of `name` holding `kind`, created (with the series limit `limit()`) if
    /// there is none and the names it produces are free ([`crate::claims`]).
    fn named(
        &mut self,
        name: &str,
        kind: MetricKind,
        limit: impl FnOnce() -> usize,
    ) -> Result<&mut Family, Refused> {
        use std::hash::BuildHasher;
        if let Some(reason) = self.claims.refused_before(name, kind) {
            return Err(Refused {
                reason,
                first_time: None,
            });
        }
        let hash = self.hasher.hash_one(name);
        let exists = self
            .table
            .find(hash, |family| *family.name == *name)
            .map(|family| family.kind == kind);
        match exists {
            Some(true) => {}
            // Another kind under this name: refused (and remembered) by its claims.
            Some(false) => {
                self.claims.claim(&Arc::from(name), kind)?;
            }
            None => {
                let name: Arc<str> = Arc::from(name);
                self.claims.claim(&name, kind)?;
                let hasher = &self.hasher;
                self.table.insert_unique(
                    hash,
                    Family {
                        name,
                        kind,
                        series: 0,
                        limit: limit(),
                        folds: 0,
                        index: Vec::new(),
                        settled: 0,
                        overflows: Vec::new(),
                    },
                    |family| hasher.hash_one(&*family.name),
                );
            }
        }
        match self.table.find_mut(hash, |family| *family.name == *name) {
            Some(family) => Ok(family),
            None => unreachable!("found or inserted above"),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Family> {
        self.table.iter()
    }

    /// The series of `name` (overflow included), cloned out.
    fn series_of(&self, name: &str) -> Vec<AnySeries> {
        use std::hash::BuildHasher;
        self.table
            .find(self.hasher.hash_one(name), |family| *family.name == *name)
            .map(|family| family.index.clone())
            .unwrap_or_default()
    }
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
    /// Shards a contended series spreads over (a power of two).
    pub(crate) shards: usize,
    /// Histograms that keep quantile estimates (those rendered as summaries).
    pub(crate) quantiles: Vec<Matcher>,
}

impl Settings {
    fn limit_for(&self, name: &str) -> usize {
        self.limits
            .iter()
            .find(|(m, _)| m.matches(name))
            .map_or(self.default_limit, |(_, l)| *l)
    }

    pub(crate) fn buckets_for(&self, name: &str) -> Arc<[f64]> {
        self.buckets
            .iter()
            .find(|(m, _)| m.matches(name))
            .map_or_else(|| self.default_buckets.clone(), |(_, b)| b.clone())
    }

    fn keeps_quantiles(&self, name: &str) -> bool {
        self.quantiles.iter().any(|m| m.matches(name))
    }
}

/// All series and their bookkeeping.
pub(crate) struct Registry {
    pub(crate) counters: KindMap<CounterCells>,
    pub(crate) gauges: KindMap<GaugeCell>,
    pub(crate) histograms: KindMap<HistogramCore>,
    families: Mutex<Families>,
    /// Series in every family (changed under the `families` lock).
    total_series: AtomicUsize,
    /// Registrations refused, by [`Refusal::index`].
    rejected: [AtomicU64; 4],
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
            families: Mutex::new(Families::default()),
            total_series: AtomicUsize::new(0),
            rejected: Default::default(),
            descriptions: RwLock::new(HashMap::new()),
            settings,
            epoch: std::time::Instant::now(),
        }
    }

    /// The series for `key` in `map`: found, created within the name's limit, or the name's
    /// overflow series (`otel_metric_overflow="true"`) once the limit is reached.
    ///
    /// `None` when the metric is refused: its name, or a name it would produce, belongs to
    /// another metric ([`crate::claims`]).
    #[inline]
    fn series<T: SeriesKind>(
        &self,
        map: &KindMap<T>,
        key: &Key,
        make: impl Fn() -> T,
    ) -> Option<Arc<Series<T>>> {
        match map.get(key) {
            Some(series) => Some(series),
            None => self.new_series(map, key, make),
        }
    }

    /// [`Registry::series`] for a key not found in its table: kept out of line, so that a
    /// lookup of a known series pays no stack frame for it.
    #[inline(never)]
    fn new_series<T: SeriesKind>(
        &self,
        map: &KindMap<T>,
        key: &Key,
        make: impl Fn() -> T,
    ) -> Option<Arc<Series<T>>> {
        // A label with a secret name: every value is the one `[REDACTED]` series, and the
        // secret is stored nowhere. (Looked at only here, off the path of a known series;
        // such keys come back here on every call, which costs them a lock.)
        if let Some(redacted) = self.redacted(key) {
            return self.series(map, &redacted, make);
        }
        let name = key.name();
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let family = match families.named(name, T::KIND, || self.settings.limit_for(name)) {
            Ok(family) => family,
            Err(refused) => {
                self.rejected[refused.reason.index()].fetch_add(1, Relaxed);
                if let Some(holder) = refused.first_time {
                    eprintln!(
                        "telescope-metrics: {} {name:?} refused ({}): {holder}; its updates are dropped",
                        T::KIND.name(),
                        refused.reason.label(),
                    );
                }
                return None;
            }
        };
        let within_limits = family.series < family.limit
            && self.total_series.load(Relaxed) < self.settings.total_limit;
        if within_limits {
            // Found if another thread created it meanwhile (new series take this lock).
            let (series, created) = map.get_or_insert(key, &family.name, make);
            if created {
                family.series += 1;
                self.total_series.fetch_add(1, Relaxed);
                family.add(T::wrap(series.clone()));
            }
            return Some(series);
        }
        // At a limit: a series created before it was reached is still itself.
        if let Some(series) = map.get(key) {
            return Some(series);
        }
        family.folds += 1;
        if let Some(overflow) = family.overflows.iter().find_map(T::unwrap) {
            return Some(overflow.clone());
        }
        let overflow = Arc::new(Series::new(
            make(),
            0,
            &family.name,
            PackedLabels::overflow(),
        ));
        family.overflows.push(T::wrap(overflow.clone()));
        family.add(T::wrap(overflow.clone()));
        Some(overflow)
    }

    /// Registrations refused so far, with their reason.
    pub(crate) fn rejected(&self) -> Vec<(Refusal, u64)> {
        Refusal::ALL
            .iter()
            .map(|reason| (*reason, self.rejected[reason.index()].load(Relaxed)))
            .collect()
    }

    pub(crate) fn counter(&self, key: &Key) -> Option<Arc<Series<CounterCells>>> {
        let shards = self.settings.shards;
        self.series(&self.counters, key, || CounterCells::new(shards))
    }

    pub(crate) fn gauge(&self, key: &Key) -> Option<Arc<Series<GaugeCell>>> {
        self.series(&self.gauges, key, GaugeCell::default)
    }

    pub(crate) fn histogram(&self, key: &Key) -> Option<Arc<Series<HistogramCore>>> {
        let options = || HistogramOptions {
            bounds: self.settings.buckets_for(key.name()),
            shards: self.settings.shards,
            quantiles: self.settings.keeps_quantiles(key.name()),
            exemplars: self.settings.exemplars,
        };
        self.series(&self.histograms, key, || {
            HistogramCore::with_options(options())
        })
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
        for family in families.table.iter_mut() {
            family.settle();
            family.index.retain(|series| {
                // A handle held outside the registry keeps the series alive.
                let removed_now = match series {
                    AnySeries::Counter(s) => {
                        s.idle_since(now, idle) && self.counters.remove_if_unshared(s)
                    }
                    AnySeries::Gauge(s) => {
                        s.idle_since(now, idle) && self.gauges.remove_if_unshared(s)
                    }
                    AnySeries::Histogram(s) => {
                        s.idle_since(now, idle) && self.histograms.remove_if_unshared(s)
                    }
                };
                // (Overflow series are in no table, so they stay: they hold folded counts.)
                if removed_now {
                    family.series = family.series.saturating_sub(1);
                    self.total_series.fetch_sub(1, Relaxed);
                    removed += 1;
                }
                !removed_now
            });
            family.settled = family.index.len();
        }
        families
            .table
            .retain(|family| !family.index.is_empty() || family.folds > 0);
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

    /// The series of `name` (a reference-count bump each, under the lock).
    pub(crate) fn series_of(&self, name: &str) -> Vec<AnySeries> {
        self.families
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .series_of(name)
    }

    /// (name, series, folds) for every name with at least one series.
    pub(crate) fn family_stats(&self) -> Vec<(String, usize, u64)> {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families
            .iter()
            .map(|f| (f.name.to_string(), f.series, f.folds))
            .collect()
    }

    /// Every family's name, counts and series in label order, cloned out under the lock
    /// (a reference-count bump per series) so that formatting happens without it.
    pub(crate) fn families_snapshot(&self) -> Vec<FamilySnapshot> {
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        families
            .table
            .iter_mut()
            .map(|family| {
                family.settle();
                FamilySnapshot {
                    name: family.name.to_string(),
                    series_count: family.series,
                    folds: family.folds,
                    series: family.index.clone(),
                }
            })
            .collect()
    }
}
