//! The OTLP layer's spans, the samplers, and W3C propagation.

mod export;
mod layer;
mod logs;
mod pipeline;
mod propagation;
mod redaction;
mod samplers;
mod stress;
mod tls;
mod zipkin;
