//! `/slo`: each SLO's objective, SLI, error budget left and burn rates, as the process
//! computes them from its own metrics.

use std::fmt::Write as _;

use crate::slo::{SloMonitor, SloStatus};

use super::traces_page::escape;

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{:.3}%", value * 100.0))
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |value| format!("{value:.2}×"))
}

fn human(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..=119 => format!("{seconds} s"),
        120..=7_199 => format!("{} min", seconds / 60),
        7_200..=172_799 => format!("{} h", seconds / 3_600),
        _ => format!("{} d", seconds / 86_400),
    }
}

/// The row of one SLO.
fn row(out: &mut String, status: &SloStatus) {
    let spent = status.budget_left.is_some_and(|left| left < 0.0);
    let fast = status
        .burn_rates
        .iter()
        .any(|(_, rate)| rate.is_some_and(|rate| rate > 1.0));
    let class = if spent {
        "bad"
    } else if fast {
        "warn"
    } else {
        "ok"
    };
    let _ = write!(
        out,
        "<tr class={class}><td>{}</td><td>{:.3}% over {}</td><td>{} (over {})</td><td>{}</td>",
        escape(&status.name),
        status.objective * 100.0,
        human(status.window),
        percent(status.sli),
        human(status.observed),
        percent(status.budget_left),
    );
    for (_, burn) in &status.burn_rates {
        let _ = write!(out, "<td>{}</td>", rate(*burn));
    }
    out.push_str("</tr>");
}

/// The page.
pub(crate) fn render(service: &str, monitor: &SloMonitor) -> String {
    let service = escape(service);
    let mut out = format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>SLOs · {service}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}}td:first-child,th:first-child{{text-align:left}}\
         tr.bad td{{background:#fdd}}tr.warn td{{background:#ffd}}</style></head><body>\
         <h1>SLOs of {service}</h1><p>Computed in this process from its own metrics since it \
         started (no Prometheus needed). A burn rate of 1 spends the error budget exactly over \
         the SLO's window; the alerts page at 14.4 (1 h) and 6 (6 h), and open a ticket at 3 \
         (1 d) and 1 (3 d), for a 30-day window. <a href=\"/slo/rules.yml\">Prometheus rules</a>.</p>\
         <table><tr><th>SLO</th><th>objective</th><th>SLI</th><th>error budget left</th>"
    );
    for window in crate::slo::STATUS_WINDOWS {
        let _ = write!(out, "<th>burn {}</th>", human(window));
    }
    out.push_str("</tr>");
    for status in monitor.status() {
        row(&mut out, &status);
    }
    out.push_str("</table></body></html>");
    out
}
