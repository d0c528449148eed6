//! The audit trail on real files: tampering of every kind detected, rotation, concurrency,
//! crashes, full disks and slow disks.

mod attacks;
mod content;
mod crash;
mod edits;
mod failures;
mod rotation;
mod support;
mod tamper;
#[path = "../common/tmpfs.rs"]
mod tmpfs;
