//! Many threads at once, spans crossing threads: every sampled span arrives once, with its own
//! events and its parent, whatever thread created, entered or closed it.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry::trace::SpanId;
use opentelemetry::Value;
use opentelemetry_sdk::trace::SpanData;
use telescope_otlp::sampler::{ConsistentProbability, ParentBased};
use telescope_otlp::{OtlpLayer, PipelineConfig};
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

const THREADS: i64 = 8;
const ROOTS_PER_THREAD: i64 = 400;

fn key_of(attributes: &[opentelemetry::KeyValue]) -> Option<i64> {
    attributes
        .iter()
        .find(|kv| kv.key.as_str() == "key")
        .and_then(|kv| match kv.value {
            Value::I64(key) => Some(key),
            _ => None,
        })
}

fn key_of_span(span: &SpanData) -> i64 {
    key_of(&span.attributes).expect("every span has its key")
}

#[test]
fn spans_crossing_threads_keep_their_events_and_parents() {
    let total_spans = (THREADS * ROOTS_PER_THREAD * 2) as usize;
    let layer = OtlpLayer::builder()
        .sampler(ParentBased::new(ConsistentProbability::new(0.5)))
        .ring_capacity(total_spans)
        .pipeline(PipelineConfig {
            max_queue_size: total_spans,
            schedule_delay: Duration::from_millis(5),
            ..PipelineConfig::default()
        })
        .build();
    let pipeline = layer.pipeline();
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));

    // Each thread creates roots and their children, and hands every root to the next thread,
    // which enters it, records an event in it and closes it there.
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| mpsc::channel::<(i64, tracing::Span)>())
        .unzip();
    std::thread::scope(|scope| {
        for (thread, inbox) in receivers.into_iter().enumerate() {
            let next = senders[(thread + 1) % senders.len()].clone();
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for index in 0..ROOTS_PER_THREAD {
                        let key = thread as i64 * 10_000 + index;
                        let root = tracing::info_span!("root", key);
                        root.in_scope(|| {
                            tracing::info_span!("child", key).in_scope(|| {
                                tracing::info!(key, "in child");
                            });
                            tracing::info!(key, "in root, on the creating thread");
                        });
                        next.send((key, root)).expect("the next thread listens");
                        // Close what arrived from the previous thread meanwhile.
                        while let Ok((key, arrived)) = inbox.try_recv() {
                            close_elsewhere(key, arrived);
                        }
                    }
                    drop(next);
                    // The previous thread may still be sending.
                    while let Ok((key, arrived)) = inbox.recv_timeout(Duration::from_secs(5)) {
                        close_elsewhere(key, arrived);
                    }
                });
            });
        }
        drop(senders);
    });

    assert!(pipeline.force_flush(Duration::from_secs(30)));
    let stats = pipeline.stats();
    assert_eq!(
        (stats.dropped_queue_full, stats.dropped_after_shutdown),
        (0, 0)
    );
    let spans = pipeline.ring().spans();
    assert_eq!(stats.processed as usize, spans.len());

    let roots: HashMap<i64, &SpanData> = spans
        .iter()
        .filter(|s| s.name == "root")
        .map(|s| (key_of_span(s), s.as_ref()))
        .collect();
    let children: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "child")
        .map(AsRef::as_ref)
        .collect();
    assert_eq!(
        roots.len() + children.len(),
        spans.len(),
        "each sampled span arrives once"
    );
    let all_roots = (THREADS * ROOTS_PER_THREAD) as usize;
    assert!(
        !roots.is_empty() && roots.len() < all_roots,
        "about half the roots are sampled: {}",
        roots.len()
    );
    // Parent-based: a child is kept exactly when its root is, under it.
    assert_eq!(children.len(), roots.len());
    for child in &children {
        let root = roots[&key_of_span(child)];
        assert_eq!(child.parent_span_id, root.span_context.span_id());
        assert_eq!(child.span_context.trace_id(), root.span_context.trace_id());
        assert_eq!(child.events.len(), 1);
    }
    // Every event sits in the span it was recorded in, including the one recorded on
    // another thread after the span crossed over.
    for span in &spans {
        let key = key_of_span(span);
        for event in span.events.iter() {
            assert_eq!(key_of(&event.attributes), Some(key), "{}", event.name);
        }
    }
    for root in roots.values() {
        let names: Vec<&str> = root.events.iter().map(|e| e.name.as_ref()).collect();
        assert_eq!(
            names,
            [
                "in root, on the creating thread",
                "in root, on another thread"
            ]
        );
        assert_eq!(root.parent_span_id, SpanId::INVALID);
    }
}

/// Enters a span that came from another thread, records an event in it and closes it.
fn close_elsewhere(key: i64, span: tracing::Span) {
    span.in_scope(|| tracing::info!(key, "in root, on another thread"));
    drop(span);
}
