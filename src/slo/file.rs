//! SLOs, alerts and routing from a small TOML file, for teams that keep them outside code
//! (and for the `telescope-slo` command).
//!
//! ```toml
//! [[slo]]
//! name = "checkout-availability"
//! kind = "http_availability"      # http_availability, http_latency, latency, counters
//! objective = 0.999
//! window = "30d"                  # optional, default 30d
//! route = "/checkout"             # optional
//! labels = { team = "payments" }  # optional
//! runbook = "https://runbooks.example/checkout"
//!
//! [[slo]]
//! name = "checkout-latency"
//! kind = "http_latency"
//! objective = 0.99
//! threshold = 0.25                # must be a bucket bound
//! buckets = [0.1, 0.25, 1.0]      # optional: the histogram's bounds, when not the default
//!
//! [[slo]]
//! name = "orders-placed"
//! kind = "counters"
//! objective = 0.99
//! errors = "orders_total"
//! total = "orders_total"
//! errors_where = { outcome = "unavailable" }
//!
//! [[alert]]
//! name = "HighErrorRate"
//! expr = "sum(rate(http_server_request_duration_seconds_count{status=~\"5..\"}[5m])) > 1"
//! for = "5m"
//! severity = "page"
//! annotations = { summary = "Many failures" }
//!
//! [routing]
//! default = "hook"
//! receivers = [
//!   { name = "hook", type = "webhook", url = "http://127.0.0.1:5001/" },
//!   { name = "oncall", type = "pagerduty", routing_key_file = "/etc/alertmanager/pd-key" },
//! ]
//! routes = [{ severity = "page", receiver = "oncall" }]
//! ```

use std::path::Path;
use std::time::Duration;

use toml_edit::{DocumentMut, Item, TableLike};

use super::promql::parse_duration;
use super::{Alert, Receiver, Routing, Slo, SloError};

/// Why an SLO file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SloFileError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It is not TOML.
    #[error("not valid TOML: {0}")]
    Syntax(String),
    /// A field is missing or of the wrong type.
    #[error("{at}: {reason}")]
    Field {
        /// Where (`slo[2].objective`).
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// A declaration is refused.
    #[error("{at}: {source}")]
    Slo {
        /// Where (`slo[2]`).
        at: String,
        /// Why.
        source: SloError,
    },
}

/// What an SLO file declares.
#[derive(Debug, Clone, PartialEq)]
pub struct SloFile {
    /// The SLOs, in order.
    pub slos: Vec<Slo>,
    /// The threshold alerts.
    pub alerts: Vec<Alert>,
    /// Latency SLOs' histogram bounds given in the file (`name`, bounds).
    pub buckets: Vec<(String, Vec<f64>)>,
    /// The Alertmanager routing, if the file has a `[routing]` table.
    pub routing: Option<Routing>,
}

/// Reads fields of one table, naming the table in every error.
struct Fields<'a> {
    at: String,
    table: &'a dyn TableLike,
}

impl<'a> Fields<'a> {
    fn error(&self, field: &str, reason: &str) -> SloFileError {
        SloFileError::Field {
            at: format!("{}.{field}", self.at),
            reason: reason.to_owned(),
        }
    }

    fn get(&self, field: &str) -> Option<&'a Item> {
        self.table.get(field)
    }

    fn text(&self, field: &str) -> Result<Option<&'a str>, SloFileError> {
        match self.get(field) {
            None => Ok(None),
            Some(item) => item
                .as_str()
                .map(Some)
                .ok_or_else(|| self.error(field, "expected a string")),
        }
    }

    fn required_text(&self, field: &str) -> Result<&'a str, SloFileError> {
        self.text(field)?
            .ok_or_else(|| self.error(field, "missing"))
    }

    fn number(&self, field: &str) -> Result<Option<f64>, SloFileError> {
        match self.get(field) {
            None => Ok(None),
            Some(item) => item
                .as_float()
                .or_else(|| item.as_integer().map(|n| n as f64))
                .map(Some)
                .ok_or_else(|| self.error(field, "expected a number")),
        }
    }

    fn required_number(&self, field: &str) -> Result<f64, SloFileError> {
        self.number(field)?
            .ok_or_else(|| self.error(field, "missing"))
    }

    fn duration(&self, field: &str) -> Result<Option<Duration>, SloFileError> {
        self.text(field)?
            .map(|text| {
                parse_duration(text)
                    .ok_or_else(|| self.error(field, "expected a duration such as 30d, 6h or 5m"))
            })
            .transpose()
    }

    /// An inline table of strings (`{ team = "payments" }`), in order.
    fn pairs(&self, field: &str) -> Result<Vec<(String, String)>, SloFileError> {
        let Some(item) = self.get(field) else {
            return Ok(Vec::new());
        };
        let table = item
            .as_table_like()
            .ok_or_else(|| self.error(field, "expected a table of strings"))?;
        table
            .iter()
            .map(|(key, value)| {
                value
                    .as_str()
                    .map(|text| (key.to_owned(), text.to_owned()))
                    .ok_or_else(|| self.error(&format!("{field}.{key}"), "expected a string"))
            })
            .collect()
    }

    fn numbers(&self, field: &str) -> Result<Option<Vec<f64>>, SloFileError> {
        let Some(item) = self.get(field) else {
            return Ok(None);
        };
        let array = item
            .as_array()
            .ok_or_else(|| self.error(field, "expected an array of numbers"))?;
        array
            .iter()
            .map(|value| {
                value
                    .as_float()
                    .or_else(|| value.as_integer().map(|n| n as f64))
                    .ok_or_else(|| self.error(field, "expected an array of numbers"))
            })
            .collect::<Result<Vec<f64>, _>>()
            .map(Some)
    }

    fn slo_error(&self, source: SloError) -> SloFileError {
        SloFileError::Slo {
            at: self.at.clone(),
            source,
        }
    }
}

/// The tables of an array of tables (`[[slo]]`) or of an array of inline tables.
fn tables<'a>(
    document: &'a DocumentMut,
    key: &str,
) -> Result<Vec<&'a dyn TableLike>, SloFileError> {
    tables_in(document.as_table(), key, key)
}

fn tables_in<'a>(
    table: &'a dyn TableLike,
    key: &str,
    at: &str,
) -> Result<Vec<&'a dyn TableLike>, SloFileError> {
    match table.get(key) {
        None => Ok(Vec::new()),
        Some(Item::ArrayOfTables(array)) => {
            Ok(array.iter().map(|table| table as &dyn TableLike).collect())
        }
        Some(Item::Value(toml_edit::Value::Array(array))) => array
            .iter()
            .map(|value| {
                value
                    .as_inline_table()
                    .map(|table| table as &dyn TableLike)
                    .ok_or_else(|| SloFileError::Field {
                        at: at.to_owned(),
                        reason: "expected tables".to_owned(),
                    })
            })
            .collect(),
        Some(_) => Err(SloFileError::Field {
            at: at.to_owned(),
            reason: "expected an array of tables".to_owned(),
        }),
    }
}

fn slo_of(fields: &Fields<'_>) -> Result<(Slo, Option<Vec<f64>>), SloFileError> {
    let name = fields.required_text("name")?;
    let objective = fields.required_number("objective")?;
    let kind = fields.required_text("kind")?;
    let e = |error| fields.slo_error(error);
    let mut slo = match kind {
        "http_availability" => Slo::http_availability(name, objective).map_err(e)?,
        "http_latency" => {
            Slo::http_latency(name, objective, fields.required_number("threshold")?).map_err(e)?
        }
        "latency" => Slo::latency(
            name,
            objective,
            fields.required_text("histogram")?,
            fields.required_number("threshold")?,
        )
        .map_err(e)?,
        "counters" => Slo::counters(
            name,
            objective,
            fields.required_text("errors")?,
            fields.required_text("total")?,
        )
        .map_err(e)?,
        _ => {
            return Err(fields.error(
                "kind",
                "expected http_availability, http_latency, latency or counters",
            ))
        }
    };
    if let Some(route) = fields.text("route")? {
        slo = slo.route(route);
    }
    for (label, value) in fields.pairs("filters")? {
        slo = slo.filter(&label, &value).map_err(e)?;
    }
    for (label, value) in fields.pairs("errors_where")? {
        slo = slo.errors_where(&label, &value).map_err(e)?;
    }
    if let Some(window) = fields.duration("window")? {
        slo = slo.window(window).map_err(e)?;
    }
    for (label, value) in fields.pairs("labels")? {
        slo = slo.label(&label, &value).map_err(e)?;
    }
    if let Some(runbook) = fields.text("runbook")? {
        slo = slo.runbook(runbook);
    }
    Ok((slo, fields.numbers("buckets")?))
}

fn alert_of(fields: &Fields<'_>) -> Result<Alert, SloFileError> {
    let e = |error| fields.slo_error(error);
    let mut alert =
        Alert::new(fields.required_text("name")?, fields.required_text("expr")?).map_err(e)?;
    if let Some(held) = fields.duration("for")? {
        alert = alert.for_duration(held);
    }
    if let Some(severity) = fields.text("severity")? {
        alert = alert.severity(severity);
    }
    for (label, value) in fields.pairs("labels")? {
        alert = alert.label(&label, &value).map_err(e)?;
    }
    for (name, text) in fields.pairs("annotations")? {
        alert = alert.annotation(&name, &text);
    }
    if let Some(runbook) = fields.text("runbook")? {
        alert = alert.runbook(runbook);
    }
    Ok(alert)
}

fn receiver_of(fields: &Fields<'_>) -> Result<Receiver, SloFileError> {
    let name = fields.required_text("name")?;
    let e = |error| fields.slo_error(error);
    match fields.required_text("type")? {
        "slack" => Receiver::slack(
            name,
            fields.required_text("api_url_file")?,
            fields.required_text("channel")?,
        ),
        "pagerduty" => Receiver::pagerduty(name, fields.required_text("routing_key_file")?),
        "email" => Receiver::email(
            name,
            fields.required_text("to")?,
            fields.required_text("from")?,
            fields.required_text("smarthost")?,
            fields.required_text("auth_username")?,
            fields.required_text("auth_password_file")?,
        ),
        "webhook" => match fields.text("bearer_token_file")? {
            Some(token_file) => {
                Receiver::webhook_with_token(name, fields.required_text("url")?, token_file)
            }
            None => Receiver::webhook(name, fields.required_text("url")?),
        },
        _ => {
            return Err(fields.error("type", "expected slack, pagerduty, email or webhook"));
        }
    }
    .map_err(e)
}

fn routing_of(table: &dyn TableLike) -> Result<Routing, SloFileError> {
    let fields = Fields {
        at: "routing".to_owned(),
        table,
    };
    let default = fields.required_text("default")?;
    let mut receivers = Vec::new();
    for (index, receiver) in tables_in(table, "receivers", "routing.receivers")?
        .into_iter()
        .enumerate()
    {
        receivers.push(receiver_of(&Fields {
            at: format!("routing.receivers[{index}]"),
            table: receiver,
        })?);
    }
    let Some(first) = receivers
        .iter()
        .position(|receiver| receiver.name() == default)
    else {
        return Err(fields.error("default", "names no receiver"));
    };
    let mut routing = Routing::new(receivers.remove(first));
    for receiver in receivers {
        routing = routing.receiver(receiver);
    }
    for (index, route) in tables_in(table, "routes", "routing.routes")?
        .into_iter()
        .enumerate()
    {
        let route = Fields {
            at: format!("routing.routes[{index}]"),
            table: route,
        };
        let receiver = route.required_text("receiver")?;
        routing = match (route.text("severity")?, route.text("team")?) {
            (Some(severity), None) => routing.route_severity(severity, receiver),
            (None, Some(team)) => routing.route_team(team, receiver),
            _ => return Err(route.error("severity", "expected severity or team, not both")),
        }
        .map_err(|error| route.slo_error(error))?;
    }
    Ok(routing)
}

impl SloFile {
    /// Parses an SLO file's text.
    ///
    /// # Errors
    /// [`SloFileError::Syntax`] for text that is not TOML; [`SloFileError::Field`] naming the
    /// first field missing or of the wrong type; [`SloFileError::Slo`] for a declaration
    /// refused.
    pub fn parse(text: &str) -> Result<Self, SloFileError> {
        let document: DocumentMut = text
            .parse()
            .map_err(|error: toml_edit::TomlError| SloFileError::Syntax(error.to_string()))?;
        let mut slos = Vec::new();
        let mut buckets = Vec::new();
        for (index, table) in tables(&document, "slo")?.into_iter().enumerate() {
            let (slo, bounds) = slo_of(&Fields {
                at: format!("slo[{index}]"),
                table,
            })?;
            if let Some(bounds) = bounds {
                buckets.push((slo.name().to_owned(), bounds));
            }
            slos.push(slo);
        }
        let alerts = tables(&document, "alert")?
            .into_iter()
            .enumerate()
            .map(|(index, table)| {
                alert_of(&Fields {
                    at: format!("alert[{index}]"),
                    table,
                })
            })
            .collect::<Result<_, _>>()?;
        let routing = match document.get("routing") {
            None => None,
            Some(item) => Some(routing_of(item.as_table_like().ok_or_else(|| {
                SloFileError::Field {
                    at: "routing".to_owned(),
                    reason: "expected a table".to_owned(),
                }
            })?)?),
        };
        Ok(Self {
            slos,
            alerts,
            buckets,
            routing,
        })
    }

    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// [`SloFileError::Read`], then as [`parse`](Self::parse).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SloFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SloFileError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// The histogram bounds to check latency thresholds against: those the file gives for an
    /// SLO's histogram, else the recorder's defaults.
    pub fn buckets_of(&self, histogram: &str) -> Vec<f64> {
        self.buckets
            .iter()
            .find(|(name, _)| {
                self.slos
                    .iter()
                    .any(|slo| slo.name() == name && slo.histogram() == Some(histogram))
            })
            .map_or_else(
                || telescope_metrics::DEFAULT_BUCKETS.to_vec(),
                |(_, bounds)| bounds.clone(),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[[slo]]
name = "checkout-availability"
kind = "http_availability"
objective = 0.999
route = "/checkout"
labels = { team = "payments" }
runbook = "https://runbooks.example/checkout"

[[slo]]
name = "checkout-latency"
kind = "http_latency"
objective = 0.99
threshold = 0.3
buckets = [0.1, 0.3, 1]
window = "7d"

[[slo]]
name = "orders-placed"
kind = "counters"
objective = 0.99
errors = "orders_total"
total = "orders_total"
errors_where = { outcome = "unavailable" }

[[alert]]
name = "HighErrorRate"
expr = "vector(1) > 0"
for = "5m"
severity = "page"
annotations = { summary = "Many failures" }

[routing]
default = "hook"
receivers = [
  { name = "hook", type = "webhook", url = "http://127.0.0.1:5001/" },
  { name = "oncall", type = "pagerduty", routing_key_file = "/run/pd" },
]
routes = [{ severity = "page", receiver = "oncall" }]
"#;

    #[test]
    fn a_file_declares_what_code_would() {
        let file = SloFile::parse(EXAMPLE).expect("valid");
        let in_code = Slo::http_availability("checkout-availability", 0.999)
            .expect("valid")
            .route("/checkout")
            .label("team", "payments")
            .expect("valid")
            .runbook("https://runbooks.example/checkout");
        assert_eq!(file.slos[0], in_code);
        assert_eq!(file.slos.len(), 3);
        assert_eq!(file.alerts.len(), 1);
        assert_eq!(
            file.buckets_of("http_server_request_duration_seconds"),
            [0.1, 0.3, 1.0]
        );
        let rules = super::super::Rules::new(&file.slos, &file.alerts);
        assert_eq!(
            rules.check_buckets(|histogram| file.buckets_of(histogram)),
            Ok(())
        );
        let routing = file.routing.expect("a routing table").alertmanager_config();
        assert!(
            routing.contains("routing_key_file: \"/run/pd\""),
            "{routing}"
        );
    }

    #[test]
    fn every_mistake_is_named_where_it_is() {
        for (text, expected) in [
            ("[[slo]\n", "not valid TOML"),
            ("[[slo]]\nname = \"a\"\nkind = \"http_availability\"\n", "slo[0].objective: missing"),
            ("[[slo]]\nname = \"a\"\nkind = \"nope\"\nobjective = 0.9\n", "slo[0].kind: expected"),
            ("[[slo]]\nname = \"a\"\nkind = \"http_availability\"\nobjective = \"high\"\n", "slo[0].objective: expected a number"),
            ("[[slo]]\nname = \"a\"\nkind = \"http_availability\"\nobjective = 1.5\n", "slo[0]: objective 1.5"),
            ("[[slo]]\nname = \"a\"\nkind = \"http_availability\"\nobjective = 0.9\nwindow = \"a month\"\n", "slo[0].window: expected a duration"),
            ("[[slo]]\nname = \"a\"\nkind = \"http_availability\"\nobjective = 0.9\nlabels = { severity = \"x\" }\n", "slo[0]: \"severity\" is not a label name"),
            ("[[alert]]\nname = \"A\"\n", "alert[0].expr: missing"),
            ("[routing]\ndefault = \"x\"\n", "routing.default: names no receiver"),
            ("slo = 3\n", "slo: expected an array of tables"),
        ] {
            let error = SloFile::parse(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
