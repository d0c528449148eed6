//! The audit trail on real files: tampering of every kind detected, rotation, concurrency,
//! crashes, full disks and slow disks.

mod content;
mod crash;
mod failures;
mod rotation;
mod support;
mod tamper;
