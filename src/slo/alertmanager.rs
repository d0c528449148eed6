//! An Alertmanager configuration for the alerts the rules raise: receivers (Slack,
//! PagerDuty, e-mail, a webhook), routes by severity and team, grouping per alert and SLO, and
//! a page inhibiting the ticket of the same SLO. Secrets (webhook URLs, routing keys, SMTP
//! passwords) are referred to by file (Alertmanager's `*_file` fields) and never written.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::promql::duration;
use super::SloError;

/// Where notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    name: String,
    kind: ReceiverKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ReceiverKind {
    Slack {
        url_file: PathBuf,
        channel: String,
    },
    PagerDuty {
        routing_key_file: PathBuf,
    },
    Email {
        to: String,
        from: String,
        smarthost: String,
        username: String,
        password_file: PathBuf,
    },
    Webhook {
        url: String,
        bearer_file: Option<PathBuf>,
    },
}

impl Receiver {
    fn new(name: &str, kind: ReceiverKind) -> Result<Self, SloError> {
        Ok(Self {
            name: super::spec::checked_name(name)?,
            kind,
        })
    }

    /// A Slack channel; the incoming-webhook URL is read from `url_file`.
    ///
    /// # Errors
    /// [`SloError::InvalidName`] for a name that is not letters, digits, `_`, `-`, `.`.
    pub fn slack(name: &str, url_file: impl AsRef<Path>, channel: &str) -> Result<Self, SloError> {
        Self::new(
            name,
            ReceiverKind::Slack {
                url_file: url_file.as_ref().to_owned(),
                channel: channel.to_owned(),
            },
        )
    }

    /// PagerDuty (Events API v2); the routing key is read from `routing_key_file`. Severity
    /// `page` becomes PagerDuty's `critical`, anything else `warning`.
    ///
    /// # Errors
    /// As [`slack`](Self::slack).
    pub fn pagerduty(name: &str, routing_key_file: impl AsRef<Path>) -> Result<Self, SloError> {
        Self::new(
            name,
            ReceiverKind::PagerDuty {
                routing_key_file: routing_key_file.as_ref().to_owned(),
            },
        )
    }

    /// E-mail through `smarthost` (`host:port`), logging in as `username` with the password
    /// in `password_file`.
    ///
    /// # Errors
    /// As [`slack`](Self::slack).
    pub fn email(
        name: &str,
        to: &str,
        from: &str,
        smarthost: &str,
        username: &str,
        password_file: impl AsRef<Path>,
    ) -> Result<Self, SloError> {
        Self::new(
            name,
            ReceiverKind::Email {
                to: to.to_owned(),
                from: from.to_owned(),
                smarthost: smarthost.to_owned(),
                username: username.to_owned(),
                password_file: password_file.as_ref().to_owned(),
            },
        )
    }

    /// A webhook at `url`, which holds no secret (see
    /// [`webhook_with_token`](Self::webhook_with_token)).
    ///
    /// # Errors
    /// As [`slack`](Self::slack).
    pub fn webhook(name: &str, url: &str) -> Result<Self, SloError> {
        Self::new(
            name,
            ReceiverKind::Webhook {
                url: url.to_owned(),
                bearer_file: None,
            },
        )
    }

    /// A webhook at `url` that wants `Authorization: Bearer <token>`, the token read from
    /// `token_file`.
    ///
    /// # Errors
    /// As [`slack`](Self::slack).
    pub fn webhook_with_token(
        name: &str,
        url: &str,
        token_file: impl AsRef<Path>,
    ) -> Result<Self, SloError> {
        Self::new(
            name,
            ReceiverKind::Webhook {
                url: url.to_owned(),
                bearer_file: Some(token_file.as_ref().to_owned()),
            },
        )
    }

    /// The receiver's name, as routes name it.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "  - name: {}", quoted(&self.name));
        let path = |path: &Path| quoted(&path.to_string_lossy());
        match &self.kind {
            ReceiverKind::Slack { url_file, channel } => {
                let _ = writeln!(
                    out,
                    "    slack_configs:\n      - api_url_file: {}\n        channel: {}\n        send_resolved: true\n        title: {}\n        text: {}",
                    path(url_file),
                    quoted(channel),
                    quoted("{{ .CommonLabels.severity }}: {{ .CommonAnnotations.summary }}"),
                    quoted("{{ range .Alerts }}{{ .Annotations.description }} {{ .Annotations.runbook_url }}\n{{ end }}"),
                );
            }
            ReceiverKind::PagerDuty { routing_key_file } => {
                let _ = writeln!(
                    out,
                    "    pagerduty_configs:\n      - routing_key_file: {}\n        severity: {}\n        description: {}\n        send_resolved: true",
                    path(routing_key_file),
                    quoted("{{ if eq .CommonLabels.severity \"page\" }}critical{{ else }}warning{{ end }}"),
                    quoted("{{ .CommonAnnotations.summary }}"),
                );
            }
            ReceiverKind::Email {
                to,
                from,
                smarthost,
                username,
                password_file,
            } => {
                let _ = writeln!(
                    out,
                    "    email_configs:\n      - to: {}\n        from: {}\n        smarthost: {}\n        auth_username: {}\n        auth_password_file: {}\n        send_resolved: true",
                    quoted(to),
                    quoted(from),
                    quoted(smarthost),
                    quoted(username),
                    path(password_file),
                );
            }
            ReceiverKind::Webhook { url, bearer_file } => {
                let _ = writeln!(
                    out,
                    "    webhook_configs:\n      - url: {}\n        send_resolved: true",
                    quoted(url)
                );
                if let Some(file) = bearer_file {
                    let _ = writeln!(
                        out,
                        "        http_config:\n          authorization:\n            type: \"Bearer\"\n            credentials_file: {}",
                        path(file)
                    );
                }
            }
        }
    }
}

fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Which alerts a route takes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    matchers: Vec<(String, String)>,
    receiver: String,
}

/// An Alertmanager configuration: a default receiver, routes by label to others.
///
/// ```
/// use telescope::slo::{Receiver, Routing};
///
/// let routing = Routing::new(Receiver::webhook("default", "http://127.0.0.1:5001/alerts")?)
///     .receiver(Receiver::pagerduty("oncall", "/etc/alertmanager/pagerduty-key")?)
///     .receiver(Receiver::slack("payments", "/etc/alertmanager/slack-url", "#payments")?)
///     .route_severity("page", "oncall")?
///     .route_team("payments", "payments")?;
/// let yaml = routing.alertmanager_config();
/// assert!(yaml.contains("routing_key_file"));
/// # Ok::<(), telescope::slo::SloError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    receivers: Vec<Receiver>,
    routes: Vec<Route>,
    group_wait: Duration,
    group_interval: Duration,
    repeat_interval: Duration,
}

impl Routing {
    /// Alerts no route takes go to `default`.
    pub fn new(default: Receiver) -> Self {
        Self {
            receivers: vec![default],
            routes: Vec::new(),
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3_600),
        }
    }

    /// Another receiver, for routes to name.
    pub fn receiver(mut self, receiver: Receiver) -> Self {
        self.receivers.push(receiver);
        self
    }

    fn route(mut self, label: &str, value: &str, receiver: &str) -> Result<Self, SloError> {
        if !self.receivers.iter().any(|known| known.name == receiver) {
            return Err(SloError::InvalidName(receiver.to_owned()));
        }
        self.routes.push(Route {
            matchers: vec![(label.to_owned(), value.to_owned())],
            receiver: receiver.to_owned(),
        });
        Ok(self)
    }

    /// Alerts of this severity (`page`) go to `receiver`; routes are tried in the order added.
    ///
    /// # Errors
    /// [`SloError::InvalidName`] if no receiver has that name.
    pub fn route_severity(self, severity: &str, receiver: &str) -> Result<Self, SloError> {
        self.route("severity", severity, receiver)
    }

    /// Alerts of this team (the SLO's `team` label) go to `receiver`.
    ///
    /// # Errors
    /// [`SloError::InvalidName`] if no receiver has that name.
    pub fn route_team(self, team: &str, receiver: &str) -> Result<Self, SloError> {
        self.route("team", team, receiver)
    }

    /// How long a new group waits for more alerts, how often it is sent again when it
    /// changes, and when it repeats unchanged (defaults 30 s, 5 min, 4 h).
    pub fn timing(mut self, wait: Duration, interval: Duration, repeat: Duration) -> Self {
        self.group_wait = wait;
        self.group_interval = interval;
        self.repeat_interval = repeat;
        self
    }

    /// The `alertmanager.yml` (`amtool check-config` accepts it).
    pub fn alertmanager_config(&self) -> String {
        let seconds = |d: Duration| duration(d.as_secs().max(1));
        let mut out = String::from(
            "# Generated by telescope::slo; secrets are read from the files named here.\nroute:\n",
        );
        let _ = writeln!(
            out,
            "  receiver: {}\n  group_by: [\"alertname\", \"slo\"]\n  group_wait: {}\n  group_interval: {}\n  repeat_interval: {}",
            quoted(&self.receivers[0].name),
            seconds(self.group_wait),
            seconds(self.group_interval),
            seconds(self.repeat_interval),
        );
        if !self.routes.is_empty() {
            out.push_str("  routes:\n");
            for route in &self.routes {
                let matchers: Vec<String> = route
                    .matchers
                    .iter()
                    .map(|(label, value)| {
                        let mut matcher = format!("{label}=");
                        super::promql::push_quoted(&mut matcher, value);
                        quoted(&matcher)
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "    - receiver: {}\n      matchers: [{}]",
                    quoted(&route.receiver),
                    matchers.join(", ")
                );
            }
        }
        out.push_str(
            "inhibit_rules:\n  # A page already says what the ticket of the same SLO would.\n",
        );
        out.push_str("  - source_matchers: [\"severity=\\\"page\\\"\"]\n    target_matchers: [\"severity=\\\"ticket\\\"\"]\n    equal: [\"slo\"]\n");
        out.push_str("receivers:\n");
        for receiver in &self.receivers {
            receiver.write(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_files_and_routes_need_known_receivers() {
        let routing =
            Routing::new(Receiver::webhook("default", "http://127.0.0.1:5001/").expect("valid"))
                .receiver(Receiver::pagerduty("oncall", "/run/secrets/pd").expect("valid"))
                .receiver(
                    Receiver::email(
                        "mail",
                        "ops@example.com",
                        "am@example.com",
                        "smtp.example:587",
                        "am",
                        "/run/secrets/smtp",
                    )
                    .expect("valid"),
                )
                .route_severity("page", "oncall")
                .expect("known receiver");
        let yaml = routing.alertmanager_config();
        assert!(
            yaml.contains("routing_key_file: \"/run/secrets/pd\""),
            "{yaml}"
        );
        assert!(
            yaml.contains("auth_password_file: \"/run/secrets/smtp\""),
            "{yaml}"
        );
        assert!(
            yaml.contains("matchers: [\"severity=\\\"page\\\"\"]"),
            "{yaml}"
        );
        assert!(yaml.contains("equal: [\"slo\"]"));
        assert!(matches!(
            routing.route_team("payments", "nobody"),
            Err(SloError::InvalidName(name)) if name == "nobody"
        ));
        assert!(Receiver::webhook("has space", "http://x").is_err());
    }
}
