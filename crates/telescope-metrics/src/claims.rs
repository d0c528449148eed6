//! Which exposition names each metric takes, decided when it is first registered.
//!
//! A metric produces several names: a histogram `h` writes `h_bucket`, `h_sum` and `h_count`;
//! a counter `c_total` is the OpenMetrics family `c` with samples `c_total` (and `c_created`
//! is that family's too); names are made valid, so `a.b`, `a-b` and `a_b` are one. When a
//! metric name is first registered, every name it produces in either format is claimed for
//! it; a later metric that needs one of them (another kind under the same name, another
//! spelling of it, a gauge `h_count` beside a histogram `h`, telescope's own
//! `telescope_metrics_*`) is refused: its handle records nothing, the refusal is counted in
//! `telescope_metrics_rejected_total{reason}`, and one line on stderr names both. The first
//! registration wins, whatever comes later, so every scrape has each name once.

use std::collections::HashMap;
use std::sync::Arc;

use crate::names::metric_name;

/// The kinds of series a metric name can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

impl MetricKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a registration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The name is registered as another kind.
    KindConflict,
    /// A name it would produce is produced by another metric.
    NameCollision,
    /// A name it would produce is one of telescope's own.
    ReservedName,
    /// A counter named `_total`: its family name would be empty.
    InvalidName,
}

impl Refusal {
    /// Every reason, in the order of [`Refusal::index`].
    pub(crate) const ALL: [Refusal; 4] = [
        Refusal::KindConflict,
        Refusal::NameCollision,
        Refusal::ReservedName,
        Refusal::InvalidName,
    ];

    /// The `reason` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::KindConflict => "kind_conflict",
            Refusal::NameCollision => "name_collision",
            Refusal::ReservedName => "reserved_name",
            Refusal::InvalidName => "invalid_name",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The families telescope renders itself, with their kinds.
pub(crate) const OWN_FAMILIES: [(&str, MetricKind); 5] = [
    (
        "telescope_metrics_cardinality_overflow_total",
        MetricKind::Counter,
    ),
    (
        "telescope_metrics_nan_observations_total",
        MetricKind::Counter,
    ),
    ("telescope_metrics_rejected_total", MetricKind::Counter),
    ("telescope_metrics_series", MetricKind::Gauge),
    ("telescope_metrics_render_seconds", MetricKind::Gauge),
];

/// The OpenMetrics family of a counter named `name` (valid): without its `_total`, unless
/// nothing would be left.
pub(crate) fn counter_family(name: &str) -> &str {
    match name.strip_suffix("_total") {
        Some(base) if !base.is_empty() => base,
        _ => name,
    }
}

/// Every family and sample name a metric named `name` (valid) of `kind` produces in either
/// format. Histograms claim the summary's names too (`summary_for` can render them as one).
fn names_of(name: &str, kind: MetricKind) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    match kind {
        MetricKind::Counter => {
            let family = counter_family(name);
            names.push(family.to_owned());
            names.push(format!("{family}_total"));
            names.push(format!("{family}_created"));
        }
        MetricKind::Gauge => {}
        MetricKind::Histogram => {
            for suffix in ["_bucket", "_sum", "_count", "_created"] {
                names.push(format!("{name}{suffix}"));
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

/// Who holds a claimed name.
#[derive(Debug, Clone)]
struct Holder {
    /// The metric name as registered; `None` for telescope's own families.
    metric: Option<Arc<str>>,
    kind: MetricKind,
}

impl Holder {
    fn describe(&self) -> String {
        match &self.metric {
            Some(metric) => format!("{} {metric:?}", self.kind.name()),
            None => "telescope's own metrics".to_owned(),
        }
    }
}

/// A refused registration: why, and, the first time only, a description of what holds the
/// name (to warn about).
#[derive(Debug, Clone)]
pub(crate) struct Refused {
    pub(crate) reason: Refusal,
    pub(crate) first_time: Option<String>,
}

/// The names claimed so far, and the registrations refused (so that a refused metric is
/// answered from one lookup on each later call, and warned about once).
#[derive(Debug)]
pub(crate) struct NameClaims {
    claimed: HashMap<String, Holder>,
    refused: HashMap<Arc<str>, [Option<Refusal>; 3]>,
}

impl Default for NameClaims {
    fn default() -> Self {
        let mut claims = Self {
            claimed: HashMap::new(),
            refused: HashMap::new(),
        };
        for (name, kind) in OWN_FAMILIES {
            for produced in names_of(name, kind) {
                claims
                    .claimed
                    .insert(produced, Holder { metric: None, kind });
            }
        }
        claims
    }
}

impl NameClaims {
    /// Why `metric` as `kind` was refused before, if it was.
    pub(crate) fn refused_before(&self, metric: &str, kind: MetricKind) -> Option<Refusal> {
        self.refused.get(metric)?[kind.index()]
    }

    /// Claims every name that `metric` (as registered) of `kind` produces, or refuses it: the
    /// first refusal of a metric and kind is remembered (and is the one to warn about).
    pub(crate) fn claim(&mut self, metric: &Arc<str>, kind: MetricKind) -> Result<(), Refused> {
        let valid = metric_name(metric);
        if kind == MetricKind::Counter && valid == "_total" {
            self.refused.entry(metric.clone()).or_default()[kind.index()] =
                Some(Refusal::InvalidName);
            return Err(Refused {
                reason: Refusal::InvalidName,
                first_time: Some("a counter needs a name before `_total`".to_owned()),
            });
        }
        let produced = names_of(&valid, kind);
        let conflict = produced.iter().find_map(|name| {
            let holder = self.claimed.get(name)?;
            let same = holder.kind == kind && holder.metric.as_deref() == Some(&**metric);
            (!same).then(|| (name.clone(), holder.clone()))
        });
        if let Some((name, holder)) = conflict {
            let reason = match &holder.metric {
                None => Refusal::ReservedName,
                Some(other) if metric_name(other) == metric_name(metric) && holder.kind != kind => {
                    Refusal::KindConflict
                }
                Some(_) => Refusal::NameCollision,
            };
            self.refused.entry(metric.clone()).or_default()[kind.index()] = Some(reason);
            return Err(Refused {
                reason,
                first_time: Some(format!("{name:?} is produced by {}", holder.describe())),
            });
        }
        for name in produced {
            self.claimed.insert(
                name,
                Holder {
                    metric: Some(metric.clone()),
                    kind,
                },
            );
        }
        Ok(())
    }
}

#[cfg(all(test, not(telescope_loom)))]
mod tests {
    use super::*;

    fn claim(claims: &mut NameClaims, name: &str, kind: MetricKind) -> Result<(), Refusal> {
        claims
            .claim(&Arc::from(name), kind)
            .map_err(|refused| refused.reason)
    }

    #[test]
    fn the_first_registration_of_every_produced_name_wins() {
        use MetricKind::*;
        let mut claims = NameClaims::default();
        assert_eq!(claim(&mut claims, "h", Histogram), Ok(()));
        assert_eq!(claim(&mut claims, "h", Histogram), Ok(()), "itself again");
        assert_eq!(claim(&mut claims, "h", Gauge), Err(Refusal::KindConflict));
        assert_eq!(
            claim(&mut claims, "h_bucket", Gauge),
            Err(Refusal::NameCollision)
        );
        assert_eq!(
            claim(&mut claims, "h_count", Counter),
            Err(Refusal::NameCollision)
        );
        assert_eq!(claim(&mut claims, "x_total", Counter), Ok(()));
        assert_eq!(claim(&mut claims, "x", Gauge), Err(Refusal::NameCollision));
        assert_eq!(
            claim(&mut claims, "x_created", Gauge),
            Err(Refusal::NameCollision)
        );
        assert_eq!(claim(&mut claims, "a.b", Counter), Ok(()));
        assert_eq!(
            claim(&mut claims, "a_b", Counter),
            Err(Refusal::NameCollision)
        );
        assert_eq!(claim(&mut claims, "a-b", Gauge), Err(Refusal::KindConflict));
        assert_eq!(
            claim(&mut claims, "telescope_metrics_series", Gauge),
            Err(Refusal::ReservedName)
        );
        assert_eq!(
            claim(&mut claims, "telescope_metrics_rejected", Gauge),
            Err(Refusal::ReservedName),
            "the OpenMetrics family of telescope_metrics_rejected_total"
        );
        assert_eq!(
            claim(&mut claims, "_total", Counter),
            Err(Refusal::InvalidName)
        );
        assert_eq!(claim(&mut claims, "_total", Gauge), Ok(()));
        assert_eq!(
            claims.refused_before("a_b", Counter),
            Some(Refusal::NameCollision)
        );
        assert_eq!(claims.refused_before("a_b", Gauge), None);
    }
}
