//! The recorder: cardinality folding, quantile accuracy, many threads, the exposition formats
//! parsed back, and the `/metrics` server over real sockets.

mod cardinality;
mod exemplars;
mod exposition;
mod parse;
mod quantiles;
mod redaction;
mod server;
mod stress;
mod threads;
