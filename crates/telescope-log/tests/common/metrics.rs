//! Reading what a test recorded through the `metrics` facade.

use metrics_util::debugging::{DebugValue, Snapshotter};

/// The values recorded under the metric `name`, one per label set.
pub(crate) fn recorded(snapshotter: &Snapshotter, name: &str) -> Vec<DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == name)
        .map(|(.., value)| value)
        .collect()
}
