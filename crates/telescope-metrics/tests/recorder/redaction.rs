//! Labels with a secret name: every value folds into one `[REDACTED]` series, in both formats,
//! through the macros and through held handles; the secret is never scraped.

use telescope_core::Redaction;
use telescope_metrics::{Format, TelescopeRecorder};

use crate::parse::samples;

#[test]
fn secret_label_values_are_one_redacted_series() {
    let (recorder, handle) = TelescopeRecorder::builder()
        .redaction(Redaction::default().with_name("iban"))
        .build();
    metrics::with_local_recorder(&recorder, || {
        for key in ["sk_live_1", "sk_live_2", "sk_live_3"] {
            metrics::counter!("logins_total", "api_key" => key, "route" => "/login").increment(1);
        }
        metrics::histogram!("charge_seconds", "IBAN" => "DE89370400440532013000").record(0.2);
        metrics::gauge!("sessions", "session_id" => "s-77").set(1.0);
        // Not secret: kept as is.
        metrics::counter!("tokens_total", "token_count" => "3").increment(1);
        // A value that already reads `[REDACTED]` is left alone (no loop).
        metrics::counter!("logins_total", "api_key" => "[REDACTED]", "route" => "/login")
            .increment(1);
    });
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let text = handle.render(format);
        for secret in ["sk_live", "DE89370400440532013000", "s-77"] {
            assert!(!text.contains(secret), "{format:?} shows {secret}:\n{text}");
        }
        let logins: Vec<_> = samples(&text)
            .into_iter()
            .filter(|s| s.name == "logins_total")
            .collect();
        assert_eq!(logins.len(), 1, "{text}");
        assert_eq!(logins[0].label("api_key"), Some("[REDACTED]"));
        assert_eq!(logins[0].label("route"), Some("/login"));
        assert_eq!(logins[0].number(), 4.0);
        assert!(text.contains(r#"token_count="3""#), "{text}");
    }
    assert_eq!(handle.series_count("logins_total"), 1);
}
