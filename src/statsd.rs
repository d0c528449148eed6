//! Pushing metrics to a StatsD daemon over UDP (`TELESCOPE_STATSD_ADDR`, or
//! [`TelemetryBuilder::statsd`](crate::TelemetryBuilder::statsd)).
//!
//! Every interval (10 s by default, StatsD's own flush interval), what changed since the last
//! push is sent, from the recorder's totals, never from the application's threads:
//!
//! - a counter as its increase: `prefix.name:5|c`;
//! - a gauge as its value: `prefix.name:2.5|g` (a negative value is sent as `0|g` then the
//!   value, since StatsD reads a leading `-` as a decrement);
//! - a histogram **pre-aggregated per interval**, not as timing samples: the recorder keeps no
//!   samples, only bucket counts, so each push sends the new observations' count and sum and
//!   the count per bucket (`prefix.name.count:3|c`, `prefix.name.sum:0.75|c`,
//!   `prefix.name.bucket:2|c|#le:0.25`). That is exact (the cumulative buckets a Prometheus
//!   scrape shows can be rebuilt from it) and costs the application nothing per observation
//!   (recording stays the lock-free histogram core); StatsD's own timer percentiles are not
//!   computed, since it receives no individual timings.
//!
//! Labels become DogStatsD tags (`|#code:200,route:/orders`), which the Datadog agent and the
//! Etsy daemon (0.9 and later) read, or, with tags off, part of the name
//! (`prefix.name.code_200`). Lines are packed into datagrams of at most
//! [`StatsdConfig::max_packet_bytes`] (1432 by default: what fits an Ethernet frame without
//! fragmentation). The socket never blocks: a datagram the kernel will not take is dropped and
//! counted in `telescope_statsd_packets_dropped_total{reason}`.

use std::fmt::Write as _;
use std::net::{ToSocketAddrs, UdpSocket};
use std::time::Duration;

use telescope_core::metric_names::STATSD_PACKETS_DROPPED_TOTAL;
use telescope_otlp::{ExportError, HistogramPoint, Metric, MetricData, NumberPoint, NumberValue};

use crate::metrics_push::MetricSink;

/// The most a UDP datagram carries over IPv4.
const MAX_DATAGRAM: usize = 65_507;

/// How labels are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsdTags {
    /// DogStatsD tags: `|#key:value,…` (the default).
    #[default]
    DogStatsd,
    /// No tags: labels are appended to the name, `name.key_value`.
    Off,
}

/// Where and how metrics are sent to StatsD.
///
/// ```
/// use std::time::Duration;
/// use telescope::statsd::{StatsdConfig, StatsdTags};
///
/// let config = StatsdConfig::new("127.0.0.1:8125")
///     .prefix("checkout")
///     .tags(StatsdTags::DogStatsd)
///     .interval(Duration::from_secs(10));
/// assert_eq!(config.max_packet_bytes, 1432);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsdConfig {
    /// `host:port` of the daemon.
    pub address: String,
    /// Put before every name, with a dot (`checkout.http_requests_total`).
    pub prefix: Option<String>,
    /// How labels are written.
    pub tags: StatsdTags,
    /// How often changes are sent.
    pub interval: Duration,
    /// The largest datagram sent (a longer single line goes alone, up to 65,507 bytes).
    pub max_packet_bytes: usize,
}

/// Why the StatsD settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}={value:?} is invalid: {reason}")]
pub struct StatsdConfigError {
    /// The variable.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong.
    pub reason: String,
}

impl StatsdConfig {
    /// Sends to `address` (`host:port`) every 10 s, DogStatsD tags, no prefix.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            prefix: None,
            tags: StatsdTags::default(),
            interval: Duration::from_secs(10),
            max_packet_bytes: 1432,
        }
    }

    /// Puts `prefix.` before every name.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// How labels are written.
    #[must_use]
    pub fn tags(mut self, tags: StatsdTags) -> Self {
        self.tags = tags;
        self
    }

    /// How often changes are sent (default 10 s; zero counts as 1 ms).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Reads `TELESCOPE_STATSD_ADDR` (`host:port`; unset: no StatsD),
    /// `TELESCOPE_STATSD_PREFIX`, `TELESCOPE_STATSD_TAGS` (`dogstatsd`, `off`),
    /// `TELESCOPE_STATSD_INTERVAL` (ms, default 10000) and `TELESCOPE_STATSD_MAX_PACKET`
    /// (bytes, 64 to 65507, default 1432) through `get`. Every variable is checked even when
    /// no address is set.
    ///
    /// # Errors
    /// [`StatsdConfigError`] naming a variable with an unusable value.
    pub fn from_env(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, StatsdConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let refuse = |var: &'static str, value: String, reason: &str| StatsdConfigError {
            var,
            value,
            reason: reason.to_owned(),
        };
        let tags = match get("TELESCOPE_STATSD_TAGS") {
            None => StatsdTags::default(),
            Some(text) => match text.to_ascii_lowercase().as_str() {
                "dogstatsd" => StatsdTags::DogStatsd,
                "off" | "none" => StatsdTags::Off,
                _ => {
                    return Err(refuse(
                        "TELESCOPE_STATSD_TAGS",
                        text,
                        "expected dogstatsd or off",
                    ))
                }
            },
        };
        let number = |var: &'static str, range: std::ops::RangeInclusive<u64>| {
            get(var)
                .map(|text| match text.parse::<u64>() {
                    Ok(n) if range.contains(&n) => Ok(n),
                    _ => Err(refuse(
                        var,
                        text,
                        &format!(
                            "expected a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )),
                })
                .transpose()
        };
        let interval = number("TELESCOPE_STATSD_INTERVAL", 1..=86_400_000)?
            .map_or(Duration::from_secs(10), Duration::from_millis);
        let max_packet = number("TELESCOPE_STATSD_MAX_PACKET", 64..=MAX_DATAGRAM as u64)?
            .map_or(1432, |n| n as usize);
        let prefix = get("TELESCOPE_STATSD_PREFIX");
        let Some(address) = get("TELESCOPE_STATSD_ADDR") else {
            return Ok(None);
        };
        if !address.contains(':')
            || address
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err(refuse(
                "TELESCOPE_STATSD_ADDR",
                address,
                "expected host:port",
            ));
        }
        Ok(Some(Self {
            address,
            prefix,
            tags,
            interval,
            max_packet_bytes: max_packet,
        }))
    }
}

/// Sends rendered lines over UDP.
pub(crate) struct StatsdSink {
    socket: UdpSocket,
    config: StatsdConfig,
}

impl StatsdSink {
    /// A non-blocking socket connected to the daemon's address (resolved now).
    pub(crate) fn connect(config: StatsdConfig) -> std::io::Result<Self> {
        let target = config.address.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::other(format!("{} resolves to nothing", config.address))
        })?;
        let local = if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(local)?;
        socket.connect(target)?;
        socket.set_nonblocking(true)?;
        Ok(Self { socket, config })
    }
}

impl MetricSink for StatsdSink {
    fn name(&self) -> &'static str {
        "statsd"
    }

    /// Sends every datagram once; UDP has no answer, so what the kernel refuses is counted,
    /// not retried (a retry could count twice what did arrive).
    fn send(&self, metrics: &[Metric]) -> Result<(), ExportError> {
        for packet in packets(&lines(metrics, &self.config), self.config.max_packet_bytes) {
            if packet.len() > MAX_DATAGRAM {
                metrics::counter!(STATSD_PACKETS_DROPPED_TOTAL, "reason" => "too_large")
                    .increment(1);
                continue;
            }
            if self.socket.send(packet.as_bytes()).is_err() {
                metrics::counter!(STATSD_PACKETS_DROPPED_TOTAL, "reason" => "send_error")
                    .increment(1);
            }
        }
        Ok(())
    }
}

/// A name or tag made safe for the line protocol: the protocol's own characters
/// (`:`, `|`, `@`, `#`, `,`), whitespace and control characters become `_`.
fn safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if matches!(c, ':' | '|' | '@' | '#' | ',') || c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// Every metric's lines.
pub(crate) fn lines(metrics: &[Metric], config: &StatsdConfig) -> Vec<String> {
    let mut out = Vec::new();
    for metric in metrics {
        let name = match &config.prefix {
            Some(prefix) => format!("{}.{}", safe(prefix), safe(&metric.name)),
            None => safe(&metric.name),
        };
        match &metric.data {
            MetricData::Sum { points, .. } => {
                for point in points {
                    let value = match point.value {
                        NumberValue::Int(n) => n.to_string(),
                        NumberValue::Double(x) if x.is_finite() => x.to_string(),
                        NumberValue::Double(_) => continue,
                    };
                    out.push(line(&name, &value, "c", &point.attributes, None, config));
                }
            }
            MetricData::Gauge { points } => {
                out.extend(
                    points
                        .iter()
                        .filter_map(|point| gauge_lines(&name, point, config)),
                );
            }
            MetricData::Histogram { points, .. } => {
                for point in points {
                    histogram_lines(&name, point, config, &mut out);
                }
            }
            // Not asked of the StatsD push, which sends classic buckets.
            MetricData::ExponentialHistogram { .. } => {}
        }
    }
    out
}

/// A gauge's line (two for a negative value: `-x|g` is a decrement to StatsD, so zero is set
/// first); `None` for a value StatsD cannot read.
fn gauge_lines(name: &str, point: &NumberPoint, config: &StatsdConfig) -> Option<String> {
    let value = match point.value {
        NumberValue::Int(n) => n as f64,
        NumberValue::Double(x) => x,
    };
    if !value.is_finite() {
        return None;
    }
    let mut text = String::new();
    if value < 0.0 {
        text = line(name, "0", "g", &point.attributes, None, config);
        text.push('\n');
    }
    text.push_str(&line(
        name,
        &value.to_string(),
        "g",
        &point.attributes,
        None,
        config,
    ));
    Some(text)
}

/// A histogram's count, sum and non-empty buckets, as counters.
fn histogram_lines(
    name: &str,
    point: &HistogramPoint,
    config: &StatsdConfig,
    out: &mut Vec<String>,
) {
    let attributes = &point.attributes;
    let count = point.count.to_string();
    out.push(line(
        &format!("{name}.count"),
        &count,
        "c",
        attributes,
        None,
        config,
    ));
    if let Some(sum) = point.sum.filter(|s| s.is_finite()) {
        out.push(line(
            &format!("{name}.sum"),
            &sum.to_string(),
            "c",
            attributes,
            None,
            config,
        ));
    }
    for (index, count) in point.counts.iter().enumerate() {
        if *count == 0 {
            continue;
        }
        let le = point.bounds.get(index).map_or_else(
            || "+Inf".to_owned(),
            |b| telescope_metrics::bucket_label(*b),
        );
        out.push(line(
            &format!("{name}.bucket"),
            &count.to_string(),
            "c",
            attributes,
            Some(("le", &le)),
            config,
        ));
    }
}

/// `name:value|type` with the labels as tags (or in the name).
fn line(
    name: &str,
    value: &str,
    kind: &str,
    labels: &[(String, String)],
    extra: Option<(&str, &str)>,
    config: &StatsdConfig,
) -> String {
    let all = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra);
    let mut out = String::with_capacity(name.len() + 32);
    match config.tags {
        StatsdTags::DogStatsd => {
            let _ = write!(out, "{name}:{value}|{kind}");
            for (index, (key, label)) in all.enumerate() {
                out.push_str(if index == 0 { "|#" } else { "," });
                let _ = write!(out, "{}:{}", safe(key), safe(label));
            }
        }
        StatsdTags::Off => {
            out.push_str(name);
            for (key, label) in all {
                let _ = write!(out, ".{}_{}", safe(key), safe(label).replace('.', "_"));
            }
            let _ = write!(out, ":{value}|{kind}");
        }
    }
    out
}

/// Lines joined by newlines into datagrams of at most `max` bytes (a longer line alone).
pub(crate) fn packets(lines: &[String], max: usize) -> Vec<String> {
    let mut packets = Vec::new();
    let mut current = String::new();
    for line in lines {
        let needed = if current.is_empty() {
            line.len()
        } else {
            current.len() + 1 + line.len()
        };
        if needed > max && !current.is_empty() {
            packets.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        packets.push(current);
    }
    packets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_never_exceed_the_limit_unless_a_line_alone_does() {
        let lines: Vec<String> = (0..100).map(|i| format!("metric_{i}:1|c")).collect();
        let packets = packets(&lines, 64);
        assert!(packets.iter().all(|p| p.len() <= 64), "{packets:?}");
        let joined: Vec<&str> = packets.iter().flat_map(|p| p.split('\n')).collect();
        assert_eq!(joined.len(), 100, "every line once, in order");
        assert_eq!(joined[99], "metric_99:1|c");
        let long = vec!["x".repeat(100), "y:1|c".to_owned()];
        assert_eq!(packets_len(&long, 64), [100, 5]);
    }

    fn packets_len(lines: &[String], max: usize) -> Vec<usize> {
        packets(lines, max).iter().map(String::len).collect()
    }

    #[test]
    fn the_protocol_characters_cannot_be_injected() {
        assert_eq!(safe("a:b|c@d#e,f g\nh"), "a_b_c_d_e_f_g_h");
    }
}
