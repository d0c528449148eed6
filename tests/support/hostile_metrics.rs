//! Metric names, labels and values that each broke a parser once (promtool, prometheus_client's
//! text or OpenMetrics parser, or Prometheus' scrape): recorded into the current recorder.

/// Records the set into the recorder in use (`metrics::with_local_recorder`). A summary named
/// `s_summary` is in it, for recorders that render it as one.
pub(crate) fn record() {
    metrics::histogram!("h_seconds", "le" => "x").record(0.1);
    metrics::histogram!("s_summary", "quantile" => "q").record(-1.0);
    metrics::counter!("telescope_metrics_series").increment(1);
    metrics::histogram!("h").record(1.0);
    metrics::gauge!("h_bucket").set(1.0);
    metrics::counter!("h_count").increment(1);
    metrics::counter!("x_total").increment(1);
    metrics::gauge!("x").set(1.0);
    metrics::counter!("_total").increment(1);
    metrics::counter!("c_total").increment(1);
    metrics::gauge!("c_created").set(1.0);
    metrics::counter!("a.b").increment(1);
    metrics::counter!("a_b").increment(1);
    metrics::gauge!("a-b").set(1.0);
    metrics::histogram!("neg_seconds").record(-1.0);
    metrics::counter!("req\rtotal", "v" => "carriage\rreturn").increment(1);
    metrics::describe_gauge!("described", "help with\ra carriage return");
    metrics::gauge!("described").set(1.0);
    metrics::counter!("o_total", "otel_metric_overflow" => "true").increment(1);
    metrics::histogram!("huge_seconds").record(1e308);
    metrics::histogram!("huge_seconds").record(1e308);
    metrics::gauge!("nan_gauge", "é" => "ü\u{85}\t").set(f64::NAN);
}
