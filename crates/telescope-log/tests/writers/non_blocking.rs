//! `NonBlocking`: bounded queue, drops counted in lossy mode, nothing lost in blocking mode,
//! everything flushed when the guard drops, and a hung sink cannot hang shutdown.

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use telescope_log::NonBlockingBuilder;

/// A sink that sleeps before each write and keeps what it was given.
#[derive(Clone, Default)]
struct SlowSink {
    written: Arc<Mutex<Vec<u8>>>,
    delay: Duration,
}

impl SlowSink {
    fn new(delay: Duration) -> Self {
        Self {
            written: Arc::default(),
            delay,
        }
    }

    fn lines(&self) -> Vec<String> {
        let bytes = self.written.lock().expect("sink").clone();
        String::from_utf8(bytes)
            .expect("utf8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for SlowSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        std::thread::sleep(self.delay);
        self.written.lock().expect("sink").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn is_notice(line: &str) -> bool {
    line.contains("log lines dropped")
}

#[test]
fn a_full_queue_drops_counts_and_announces_in_lossy_mode() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let sink = SlowSink::new(Duration::from_millis(2));
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_lines(8)
        .finish(sink.clone());
    metrics::with_local_recorder(&recorder, || {
        for n in 0..2000 {
            (&writer)
                .write_all(format!("{{\"n\":{n}}}\n").as_bytes())
                .expect("never fails");
        }
    });
    let stats_before_drop = writer.stats();
    drop(guard);
    let stats = writer.stats();
    assert!(
        stats_before_drop.dropped > 0,
        "a 2 ms sink cannot keep up with a tight loop"
    );
    assert_eq!(stats.written + stats.dropped, 2000, "{stats:?}");

    let lines = sink.lines();
    let (notices, data): (Vec<_>, Vec<_>) = lines.iter().partition(|l| is_notice(l));
    assert_eq!(data.len() as u64, stats.written);
    let announced: u64 = notices
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("notice is JSON")["dropped"]
                .as_u64()
                .expect("count")
        })
        .sum();
    assert_eq!(
        announced, stats.dropped,
        "every drop is announced in the log"
    );

    let counted = crate::metrics_support::recorded(&snapshotter, "telescope_log_dropped_total");
    assert_eq!(counted, [DebugValue::Counter(stats.dropped)]);
}

#[test]
fn blocking_mode_loses_nothing_and_keeps_each_threads_order() {
    let sink = SlowSink::new(Duration::from_micros(200));
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_lines(4)
        .lossy(false)
        .finish(sink.clone());
    let threads: Vec<_> = (0..3)
        .map(|thread| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                for n in 0..300 {
                    (&writer)
                        .write_all(format!("{thread} {n}\n").as_bytes())
                        .expect("write");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("join");
    }
    drop(guard);
    assert_eq!(writer.stats().dropped, 0);
    let lines = sink.lines();
    assert_eq!(lines.len(), 900);
    for thread in 0..3 {
        let seen: Vec<usize> = lines
            .iter()
            .filter_map(|l| l.split_once(' '))
            .filter(|(t, _)| *t == thread.to_string())
            .map(|(_, n)| n.parse().expect("n"))
            .collect();
        assert_eq!(seen, (0..300).collect::<Vec<_>>());
    }
}

#[test]
fn dropping_the_guard_writes_everything_queued() {
    let sink = SlowSink::new(Duration::ZERO);
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_lines(20_000)
        .finish(sink.clone());
    for n in 0..10_000 {
        (&writer)
            .write_all(format!("{n}\n").as_bytes())
            .expect("write");
    }
    drop(guard);
    let lines = sink.lines();
    assert_eq!(lines.len(), 10_000);
    assert_eq!(lines.last().map(String::as_str), Some("9999"));
    assert_eq!(writer.stats().written, 10_000);
}

#[test]
fn flush_waits_for_earlier_lines() {
    let sink = SlowSink::new(Duration::from_millis(1));
    let (writer, guard) = NonBlockingBuilder::default().finish(sink.clone());
    for n in 0..50 {
        (&writer)
            .write_all(format!("{n}\n").as_bytes())
            .expect("write");
    }
    assert!(guard.flush(Duration::from_secs(30)));
    assert_eq!(sink.lines().len(), 50);
    // Any timeout a caller may give is fine, the largest included (no `Instant` overflow).
    assert!(guard.flush(Duration::MAX));
}

/// A sink whose writes never return until the test ends.
struct HungSink(Mutex<mpsc::Receiver<()>>);

impl Write for HungSink {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let _ = self.0.lock().expect("hung").recv();
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_hung_sink_cannot_hang_the_application_or_shutdown() {
    let (_never, receiver) = mpsc::channel::<()>();
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_lines(4)
        .shutdown_timeout(Duration::from_millis(200))
        .finish(HungSink(Mutex::new(receiver)));
    for n in 0..100 {
        (&writer)
            .write_all(format!("{n}\n").as_bytes())
            .expect("lossy writes return at once");
    }
    assert!(
        !guard.flush(Duration::from_millis(50)),
        "flush reports that it timed out"
    );
    drop(guard); // returns after the shutdown timeout instead of waiting forever
    let stats = writer.stats();
    assert_eq!(stats.written, 0);
    assert!(stats.dropped >= 95, "{stats:?}");
}

/// A sink that always fails.
struct FailingSink;

impl Write for FailingSink {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn sink_failures_are_counted_and_the_worker_keeps_going() {
    let (writer, guard) = NonBlockingBuilder::default().finish(FailingSink);
    for n in 0..10 {
        (&writer)
            .write_all(format!("{n}\n").as_bytes())
            .expect("write");
        assert!(
            guard.flush(Duration::from_secs(10)),
            "the worker is still alive"
        );
    }
    let stats = guard.stats();
    assert_eq!(stats.write_errors, 10);
    assert_eq!(stats.written, 0);
    assert_eq!(
        stats.dropped, 10,
        "every line not written is counted as dropped"
    );
}

/// Many threads, bursts separated by idle gaps long enough for the worker to park, a sink
/// with uneven speed: in blocking mode every line arrives exactly once and each thread's
/// lines stay in order. This crosses the park/wake handshake many times.
#[test]
fn stress_many_threads_with_idle_gaps_lose_nothing() {
    const THREADS: usize = 8;
    const BURSTS: usize = 6;
    const PER_BURST: usize = 2_000;

    #[derive(Clone, Default)]
    struct UnevenSink(Arc<Mutex<(Vec<u8>, u64)>>);
    impl Write for UnevenSink {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut state = self.0.lock().expect("sink");
            state.1 += 1;
            if state.1.is_multiple_of(7) {
                std::thread::sleep(Duration::from_micros(300));
            }
            state.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let sink = UnevenSink::default();
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_lines(64)
        .lossy(false)
        .finish(sink.clone());
    for burst in 0..BURSTS {
        let threads: Vec<_> = (0..THREADS)
            .map(|thread| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..PER_BURST {
                        let seq = burst * PER_BURST + n;
                        (&writer)
                            .write_all(format!("{thread} {seq}\n").as_bytes())
                            .expect("write");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("join");
        }
        // Long enough for the worker to run out of polls and park.
        std::thread::sleep(Duration::from_millis(80));
    }
    assert!(guard.flush(Duration::from_secs(60)));
    let text = String::from_utf8(sink.0.lock().expect("sink").0.clone()).expect("utf8");
    let mut per_thread: Vec<Vec<usize>> = vec![Vec::new(); THREADS];
    for line in text.lines() {
        let (thread, seq) = line.split_once(' ').expect("two numbers");
        per_thread[thread.parse::<usize>().expect("thread")].push(seq.parse().expect("seq"));
    }
    for (thread, seqs) in per_thread.iter().enumerate() {
        assert_eq!(seqs.len(), BURSTS * PER_BURST, "thread {thread}");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "thread {thread} out of order"
        );
    }
    assert_eq!(guard.stats().dropped, 0);
    assert_eq!(guard.stats().written, (THREADS * BURSTS * PER_BURST) as u64);
}

#[test]
fn lines_written_after_shutdown_are_counted_as_dropped() {
    let sink = SlowSink::new(Duration::ZERO);
    let (writer, guard) = NonBlockingBuilder::default().finish(sink.clone());
    (&writer).write_all(b"before\n").expect("write");
    drop(guard);
    (&writer).write_all(b"after\n").expect("write");
    assert_eq!(sink.lines(), ["before"]);
    assert_eq!(writer.stats().dropped, 1);
}

/// A sink with a bug: it panics on its first write.
struct PanickingSink;

impl Write for PanickingSink {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        panic!("a bug in the sink");
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// When the writer thread dies, loggers waiting for room (blocking mode) are released, and
/// every line from then on is counted as dropped with reason `worker_failed`.
#[test]
fn a_dead_worker_releases_waiting_loggers_and_counts_what_is_lost() {
    use metrics_util::debugging::DebuggingRecorder;

    let (writer, guard) = NonBlockingBuilder::default()
        .queue_lines(4)
        .lossy(false)
        .finish(PanickingSink);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (done, finished) = mpsc::channel();
    let logging = writer.clone();
    std::thread::spawn(move || {
        metrics::with_local_recorder(&recorder, || {
            for n in 0..100 {
                (&logging)
                    .write_all(format!("{n}\n").as_bytes())
                    .expect("writes return");
            }
        });
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(Duration::from_secs(60)).is_ok(),
        "a logger waiting for room was never released"
    );
    drop(guard);
    let stats = writer.stats();
    assert_eq!(stats.written, 0);
    assert_eq!(stats.dropped, 100, "{stats:?}");
    let by_reason: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "telescope_log_dropped_total")
        .flat_map(|(key, ..)| {
            key.key()
                .labels()
                .map(|label| label.value().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(by_reason, ["worker_failed"]);
}

/// A sink that takes `room` bytes, fails once (a full disk) part-way through a line, then has
/// room again.
#[derive(Clone)]
struct FullOnce {
    out: Arc<Mutex<Vec<u8>>>,
    room: Arc<Mutex<Option<usize>>>,
}

impl Write for FullOnce {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut room = self.room.lock().expect("room");
        let take = match *room {
            Some(0) => {
                *room = None;
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            Some(left) => {
                let take = left.min(bytes.len());
                *room = Some(left - take);
                take
            }
            None => bytes.len(),
        };
        self.out
            .lock()
            .expect("out")
            .extend_from_slice(&bytes[..take]);
        Ok(take)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A write that fails part-way through a line never leaves half a line merged with the next
/// one; the lines it lost are counted as dropped (`write_error`), the rest as written.
#[test]
fn a_partial_write_leaves_no_merged_line_and_counts_the_loss() {
    let sink = FullOnce {
        out: Arc::default(),
        // 3 whole lines of 12 bytes, then 5 bytes of the fourth.
        room: Arc::new(Mutex::new(Some(3 * 12 + 5))),
    };
    let (writer, guard) = NonBlockingBuilder::default().finish(sink.clone());
    for n in 0..10 {
        (&writer)
            .write_all(format!("{{\"n\":{}}}\n", 10_000 + n).as_bytes())
            .expect("write");
    }
    assert!(guard.flush(Duration::from_secs(10)));
    for n in 10..20 {
        (&writer)
            .write_all(format!("{{\"n\":{}}}\n", 10_000 + n).as_bytes())
            .expect("write");
    }
    assert!(guard.flush(Duration::from_secs(10)));
    let stats = guard.stats();
    assert_eq!(stats.written + stats.dropped, 20, "{stats:?}");
    assert_eq!(stats.write_errors, 1);
    let out = String::from_utf8(sink.out.lock().expect("out").clone()).expect("utf8");
    let lines: Vec<&str> = out.lines().collect();
    let whole = lines
        .iter()
        .filter(|line| serde_json::from_str::<serde_json::Value>(line).is_ok())
        .count() as u64;
    assert_eq!(whole, stats.written, "{out}");
    // At most one broken line (the cut one), alone on its line.
    let broken: Vec<&&str> = lines
        .iter()
        .filter(|line| serde_json::from_str::<serde_json::Value>(line).is_err())
        .collect();
    assert_eq!(broken, [&"{\"n\":"], "{out}");
}

/// With a sink stuck on its first write, the queue holds at most its byte limit of large
/// lines: the rest are dropped and counted, however many lines the queue could hold.
#[test]
fn the_queue_is_bounded_in_bytes_as_well_as_lines() {
    let (_never, receiver) = mpsc::channel::<()>();
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_bytes(8 << 20)
        .shutdown_timeout(Duration::from_millis(100))
        .finish(HungSink(Mutex::new(receiver)));
    let mut line = vec![b'x'; 1 << 20];
    *line.last_mut().expect("a line") = b'\n';
    for _ in 0..100 {
        (&writer).write_all(&line).expect("lossy writes return");
    }
    let stats = writer.stats();
    // At most 8 lines of 1 MiB queued, plus the one the stuck write holds.
    assert!(stats.dropped >= 100 - 9, "{stats:?}");
    drop(guard);
    assert_eq!(
        writer.stats().dropped,
        100,
        "all counted once the guard gives up"
    );
}

/// A line larger than the byte limit still goes when the queue is empty (blocking mode would
/// otherwise wait for it forever).
#[test]
fn a_line_larger_than_the_byte_limit_still_goes() {
    let sink = SlowSink::new(Duration::ZERO);
    let (writer, guard) = NonBlockingBuilder::default()
        .queue_bytes(16)
        .lossy(false)
        .finish(sink.clone());
    for n in 0..5 {
        (&writer)
            .write_all(format!("{n}{}\n", "y".repeat(100)).as_bytes())
            .expect("write");
    }
    assert!(guard.flush(Duration::from_secs(30)));
    assert_eq!(sink.lines().len(), 5);
}
