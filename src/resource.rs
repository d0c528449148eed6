//! The resource that describes this service, from `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES` (parsed by [`telescope_core::key_values::parse_key_values`]).

/// `unknown_service:<executable name>`, OpenTelemetry's default service name.
pub(crate) fn default_service_name() -> String {
    let executable = std::env::current_exe().ok().and_then(|path| {
        path.file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
    });
    match executable {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}
