//! Health probes over real sockets on 127.0.0.1.

mod builtins;
mod endpoints;
mod flood;
mod lifecycle;
mod support;
