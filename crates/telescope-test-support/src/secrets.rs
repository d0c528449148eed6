//! Secrets planted through every way a named field enters a span, for the redaction tests of
//! the OTLP layer and of the facade's sinks.

use telescope_core::Secret;

/// The secret strings [`plant_named_secrets`] plants: none may appear in any sink.
pub const NAMED_SECRETS: [&str; 6] = [
    "hunter2",
    "tok_visa_4242",
    "sk_live_51H",
    "pw-in-debug",
    "DE89370400440532013000",
    "wrapped-secret",
];

/// A struct whose Debug output holds a password.
#[derive(Debug)]
#[allow(dead_code)] // read through Debug only
pub struct Creds {
    /// Not secret.
    pub user: &'static str,
    /// Secret.
    pub password: &'static str,
}

/// An error whose message holds an API key.
#[derive(Debug)]
pub struct LeakyError;

impl std::fmt::Display for LeakyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("rejected sk_live_51H")
    }
}

impl std::error::Error for LeakyError {}

/// Opens a span `login` with secret fields (at creation and by `record`, `iban` being secret
/// only if the policy adds it), logs an event with secret fields of every kind (string, Debug,
/// error, `Secret`) next to `user = "ada"` and `attempt = 2`, then runs `inside` in the span.
pub fn plant_named_secrets(inside: impl FnOnce()) {
    let span = tracing::info_span!(
        "login",
        password = "hunter2",
        user = "ada",
        token = tracing::field::Empty,
        iban = "DE89370400440532013000",
    );
    span.record("token", "tok_visa_4242");
    let _entered = span.enter();
    let error = LeakyError;
    tracing::warn!(
        api_key = "sk_live_51H",
        credentials = ?Creds { user: "ada", password: "pw-in-debug" },
        private_key = &error as &(dyn std::error::Error + 'static),
        wrapped = %Secret::new("wrapped-secret"),
        attempt = 2,
        "signing in"
    );
    inside();
}
