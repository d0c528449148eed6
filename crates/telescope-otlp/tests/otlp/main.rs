//! The OTLP layer's spans, the samplers, and W3C propagation.

mod layer;
mod pipeline;
mod propagation;
mod samplers;
