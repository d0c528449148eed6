//! Test support for telescope's own tests, examples and benchmarks (not published): an OTLP
//! trace receiver on 127.0.0.1 that decodes requests with the official protobuf definitions
//! and answers as scripted (over TLS too, with certificates from [`tls::TestPki`]), and
//! secrets planted for the redaction tests.
//!
//! ```
//! use telescope_test_support::otlp_receiver::{Receiver, Reply};
//!
//! let receiver = Receiver::http(0, &[Reply::Refuse(503)]);
//! assert_eq!(receiver.requests(), 0);
//! ```

pub mod http_client;
pub mod otlp_receiver;
pub mod secrets;
pub mod span_data;
pub mod tls;
