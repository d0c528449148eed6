//! What a caught panic said, for the one line telescope prints about it.

use std::any::Any;

/// The message a panic carried (`panic!("…")` gives a `&str` or a `String`), or
/// `"no message"` for any other payload.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("the exporter broke")).unwrap_err();
/// assert_eq!(telescope_core::panic_message(&*caught), "the exporter broke");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
