//! The timer behind libp2p's send timeouts (`futures-timer`, patched in
//! `vendor/futures-timer` so that its thread is woken only when it must be): a timeout still
//! fires on time whatever was made, polled or dropped before it.

use std::time::{Duration, Instant};

use futures::FutureExt;
use futures_timer::Delay;

/// Long enough that a timeout firing this late cannot be mistaken for one on time.
const LATE: Duration = Duration::from_secs(20);

async fn fires_within(delay: Delay, bound: Duration) -> Duration {
    let started = Instant::now();
    tokio::time::timeout(bound, delay)
        .await
        .expect("the timeout fired on time");
    started.elapsed()
}

#[tokio::test]
async fn a_short_timeout_made_while_the_thread_sleeps_on_a_long_one_fires_on_time() {
    // The timer's thread sleeps until this one is due...
    let mut long = Delay::new(LATE * 2);
    assert!((&mut long).now_or_never().is_none());
    tokio::time::sleep(Duration::from_millis(20)).await;
    // ...and must be woken for one due sooner.
    let took = fires_within(Delay::new(Duration::from_millis(50)), LATE).await;
    assert!(took >= Duration::from_millis(50), "fired early: {took:?}");
    assert!((&mut long).now_or_never().is_none(), "the long one fired");
}

#[tokio::test]
async fn timeouts_fire_after_many_were_made_and_dropped() {
    // Send timeouts are made and dropped by the thousand before they are due: the thread is
    // not woken for them, and a dropped one must not hide the next one due.
    for _ in 0..10_000 {
        let mut d = Delay::new(Duration::from_millis(30));
        assert!((&mut d).now_or_never().is_none());
    }
    let took = fires_within(Delay::new(Duration::from_millis(40)), LATE).await;
    assert!(took >= Duration::from_millis(40), "fired early: {took:?}");
    // Many live ones, made in any order, all fire.
    let delays: Vec<Delay> = (0..200)
        .map(|i| Delay::new(Duration::from_millis(10 + (i * 37) % 90)))
        .collect();
    tokio::time::timeout(LATE, futures::future::join_all(delays))
        .await
        .expect("every timeout fired");
}

#[tokio::test]
async fn a_reset_timeout_fires_at_its_new_time() {
    let mut d = Delay::new(LATE * 2);
    assert!((&mut d).now_or_never().is_none());
    d.reset(Duration::from_millis(30));
    fires_within(d, LATE).await;
}
