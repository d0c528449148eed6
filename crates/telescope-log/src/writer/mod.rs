//! Where log lines go: a non-blocking queue in front of any writer, and a rolling file.

mod non_blocking;
mod rolling;
mod wake;

pub use non_blocking::{
    FlushGuard, NonBlocking, NonBlockingBuilder, NonBlockingStats, DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_LINES,
};
pub use rolling::{RollingConfigError, RollingFileBuilder, RollingFileWriter, RotationPeriod};
