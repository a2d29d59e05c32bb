//! What the benches share: criterion's measurement of the benchmark thread's CPU time, and
//! the signer the signing and session benches sign with.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time consumed by the calling thread (`CLOCK_THREAD_CPUTIME_ID`): time the thread spent
/// descheduled while other processes ran is not counted.
pub struct ThreadCpuTime(pub WallTime);

fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the OS defines.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

impl Measurement for ThreadCpuTime {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, started: Duration) -> Duration {
        thread_cpu_now().saturating_sub(started)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time, so criterion's duration formatting applies.
        self.0.formatter()
    }
}

/// A signer with `key` alone, the JWT on or off (`benches/route.rs` signs nothing).
#[allow(dead_code)]
pub fn signer(key: verigate::config::SigningKey, jwt: bool) -> verigate::signing::Signer {
    verigate::signing::Signer::from_settings(&verigate::config::SigningSettings {
        active_key: key.id.clone(),
        signature_ttl: Duration::from_secs(60),
        jwt,
        issuer: "verigate".to_owned(),
        audience: "legacy-app".to_owned(),
        keys: vec![key],
    })
    .unwrap_or_else(|e| panic!("{e}"))
}
