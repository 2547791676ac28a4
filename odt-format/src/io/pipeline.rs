//! An ordered, bounded, parallel chunk pipeline: one producer thread (`odt-read`), N worker
//! threads (`odt-work`), and the calling thread consuming results in chunk order.
//!
//! Why: a disk is sealed chunk by chunk, and chunks are independent, so the AES-GCM and
//! BLAKE3 work spreads over cores while reading and writing stay sequential. A fixed pool of
//! buffers circulates between the stages, so memory is flat whatever the disk size, and the
//! first error anywhere stops every stage.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// How many bytes of buffers circulate: `IN_FLIGHT_BYTES / buf_cap` buffers, but at least
/// two per worker plus two (so 16 MiB chunks on 8 workers take 18 × 16 MiB), and never more
/// than the range has chunks.
///
/// Why this much: the stages stall now and then (an `fsync` on the writer's file, a scheduler
/// slice given to another stage on a 2-core machine), and a short queue turns every stall into
/// idle cores. Measured on a 2 GiB export with 1 MiB chunks (`scripts/bench-export.sh`):
/// 6 buffers 3.06 s, 16 buffers 2.75 s, 31 buffers (32 MiB) 2.60 s, 64 buffers 2.50 s. 32 MiB
/// keeps most of the gain and a flat, small footprint.
pub const IN_FLIGHT_BYTES: usize = 32 << 20;

/// A cap on the number of buffers, for callers with tiny ones (the smallest real chunk,
/// 64 KiB, needs 511).
const MAX_BUFFERS: usize = 1024;

/// Runs the pipeline over chunk indices starting at `range.start`.
///
/// - `produce(i, buf)` fills `buf` with chunk `i`'s input and returns whether it is the
///   **last** chunk. `buf` has capacity `buf_cap` and arrives holding a previous chunk's bytes
///   (clearing it would cost a `memset` per chunk, measurable at these speeds): `produce` must
///   set its length and overwrite every byte it keeps. It runs on one thread, in order.
///   Production stops after a last chunk or at `range.end`, whichever comes first, so a
///   stream of unknown length passes `start..u64::MAX` and says when it ends.
/// - `map(i, last, buf)` transforms the buffer in place and returns a small result; runs on
///   `workers` threads, in any order.
/// - `consume(i, last, buf, m)` runs on the calling thread, strictly in order.
pub fn run<M, E, P, F, C>(
    range: Range<u64>,
    workers: usize,
    buf_cap: usize,
    produce: P,
    map: F,
    mut consume: C,
) -> Result<(), E>
where
    M: Send,
    E: Send,
    P: FnMut(u64, &mut Vec<u8>) -> Result<bool, E> + Send,
    F: Fn(u64, bool, &mut Vec<u8>) -> Result<M, E> + Sync,
    C: FnMut(u64, bool, &[u8], M) -> Result<(), E>,
{
    if range.is_empty() {
        return Ok(());
    }
    let workers = workers.max(1);
    let chunks = usize::try_from(range.end - range.start).unwrap_or(usize::MAX);
    let depth = (IN_FLIGHT_BYTES / buf_cap.max(1))
        .min(MAX_BUFFERS)
        .max(workers * 2 + 2)
        .min(chunks);
    let (pool_tx, pool_rx) = sync_channel::<Vec<u8>>(depth);
    for _ in 0..depth {
        pool_tx
            .send(Vec::with_capacity(buf_cap))
            .expect("pool has room");
    }
    let (work_tx, work_rx) = sync_channel::<Item>(depth);
    let (done_tx, done_rx) = sync_channel::<(Item, Result<M, E>)>(depth);
    // Owned by the workers only: when the last one exits, the producer's send fails and it
    // stops too, instead of blocking on a full queue nobody drains.
    let work_rx = Arc::new(Mutex::new(work_rx));

    std::thread::scope(|s| {
        let producer = std::thread::Builder::new()
            .name("odt-read".into())
            .spawn_scoped(s, {
                let range = range.clone();
                move || produce_all(range, produce, pool_rx, work_tx)
            })
            .expect("a thread can be started");
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let work_rx = Arc::clone(&work_rx);
            let map = &map;
            std::thread::Builder::new()
                .name("odt-work".into())
                .spawn_scoped(s, move || loop {
                    let next = work_rx.lock().expect("no panics hold this lock").recv();
                    let Ok(mut item) = next else { return };
                    let r = map(item.index, item.last, &mut item.buf);
                    if done_tx.send((item, r)).is_err() {
                        return;
                    }
                })
                .expect("a thread can be started");
        }
        drop(done_tx);
        drop(work_rx);
        let consumed = consume_in_order(range.start, &mut consume, done_rx, pool_tx);
        let produced = producer.join().expect("producer does not panic");
        // A consumer error is the root cause when both failed (the producer then only saw
        // its channel close).
        consumed.and(produced)
    })
}

/// One chunk in flight.
struct Item {
    index: u64,
    last: bool,
    buf: Vec<u8>,
}

fn produce_all<E>(
    range: Range<u64>,
    mut produce: impl FnMut(u64, &mut Vec<u8>) -> Result<bool, E>,
    pool_rx: Receiver<Vec<u8>>,
    work_tx: SyncSender<Item>,
) -> Result<(), E> {
    for index in range.clone() {
        let Ok(mut buf) = pool_rx.recv() else {
            return Ok(());
        };
        let last = produce(index, &mut buf)? || index + 1 == range.end;
        if work_tx.send(Item { index, last, buf }).is_err() || last {
            return Ok(());
        }
    }
    Ok(())
}

fn consume_in_order<M, E>(
    start: u64,
    consume: &mut impl FnMut(u64, bool, &[u8], M) -> Result<(), E>,
    done_rx: Receiver<(Item, Result<M, E>)>,
    pool_tx: SyncSender<Vec<u8>>,
) -> Result<(), E> {
    let mut pending = BTreeMap::new();
    let mut next = start;
    loop {
        // Channel closed: the producer stopped (with an error, which `run` reports).
        let Ok((item, r)) = done_rx.recv() else {
            return Ok(());
        };
        pending.insert(item.index, (item, r));
        while let Some((item, r)) = pending.remove(&next) {
            consume(next, item.last, &item.buf, r?)?;
            let _ = pool_tx.send(item.buf);
            if item.last {
                return Ok(());
            }
            next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_arrive_in_order_and_errors_stop_everything() {
        let mut seen = vec![];
        run::<u64, String, _, _, _>(
            0..200,
            3,
            8,
            |i, b| {
                b.clear();
                b.extend_from_slice(&i.to_be_bytes());
                Ok(false)
            },
            |i, _, b| {
                if i % 7 == 0 {
                    std::thread::yield_now();
                }
                b.reverse();
                Ok(i * 2)
            },
            |i, last, b, m| {
                assert_eq!(last, i == 199);
                assert_eq!(m, i * 2);
                let mut v = b.to_vec();
                v.reverse();
                assert_eq!(v, i.to_be_bytes());
                seen.push(i);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..200).collect::<Vec<_>>());

        let e = run::<(), String, _, _, _>(
            0..1000,
            2,
            8,
            |_, _| Ok(false),
            |_, _, _| Ok(()),
            |i, _, _, _| {
                if i == 10 {
                    Err("stop".into())
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(e.unwrap_err(), "stop");
        let e = run::<(), String, _, _, _>(
            0..1000,
            2,
            8,
            |i, _| {
                if i == 5 {
                    Err("read".into())
                } else {
                    Ok(false)
                }
            },
            |_, _, _| Ok(()),
            |_, _, _, _| Ok(()),
        );
        assert_eq!(e.unwrap_err(), "read");
        let e = run::<(), String, _, _, _>(
            0..1000,
            2,
            8,
            |_, _| Ok(false),
            |i, _, _| if i == 50 { Err("map".into()) } else { Ok(()) },
            |_, _, _, _| Ok(()),
        );
        assert_eq!(e.unwrap_err(), "map");
    }

    #[test]
    fn a_producer_can_end_a_stream_of_unknown_length() {
        let mut seen = vec![];
        run::<(), String, _, _, _>(
            0..u64::MAX,
            2,
            8,
            |i, b| {
                b.clear();
                b.push(i as u8);
                Ok(i == 41)
            },
            |_, _, _| Ok(()),
            |i, last, b, _| {
                assert_eq!(b, [i as u8]);
                seen.push((i, last));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen.len(), 42);
        assert_eq!(seen.last(), Some(&(41, true)));
        assert!(seen[..41].iter().all(|(_, l)| !l));
    }
}
