//! `hubauth_token` through the C ABI with a valid cached token: the hot path
//! (catch_unwind, an ArcSwap load, the freshness check, a copy of the secret
//! into a new `hubauth_secret`) plus `hubauth_secret_free` (zeroes, frees).
//!
//! `cargo bench --bench ffi_token`. Multi-threaded runs (T threads, N calls
//! each, all at once) report the wall time divided by T × N, and, for
//! `8_threads_cpu_time`, the threads' CPU time divided by T × N; see
//! BENCHMARKS.md.
//!
//! With `--insns [--len=30] [--iters=100000]` it runs no criterion benchmark
//! but fixed loops for callgrind's instruction counts (`bench/insns.sh` runs
//! it under `valgrind --tool=callgrind` and reads each function's inclusive
//! count): `hubauth_token` + `hubauth_secret_free` (a new secret, copied,
//! zeroed, freed: what a C caller does per request), `hubauth_token_copy`
//! into the caller's buffer, and `bench_bare_memcpy` (a plain `memcpy` of the
//! same bytes, token + NUL), each `--iters` times on a cached, fresh token of
//! exactly `--len` bytes. The C functions are called through function
//! pointers, so LTO cannot inline them into the loops.

mod common;

use std::hint::black_box;
use std::ptr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use hubauth::ffi::{
    HUBAUTH_JOB_EVENT_DONE, HUBAUTH_JOB_TOKEN, HUBAUTH_OK, hubauth_auth, hubauth_auth_free,
    hubauth_error, hubauth_job_event, hubauth_job_free, hubauth_job_poll, hubauth_job_start_auth,
    hubauth_secret, hubauth_secret_expose, hubauth_secret_free, hubauth_secret_len, hubauth_token,
    hubauth_token_copy,
};

/// A handle shared by the threads: `hubauth_auth` is thread-safe by contract.
#[derive(Clone, Copy)]
struct Shared(*const hubauth_auth);
// SAFETY: the header makes every hubauth_auth call thread-safe, and the
// handle outlives the threads (freed after they are joined).
unsafe impl Send for Shared {}
// SAFETY: as for Send; the pointer itself is only copied.
unsafe impl Sync for Shared {}

impl Shared {
    fn get(self) -> *const hubauth_auth {
        self.0
    }
}

/// One `hubauth_token` + `hubauth_secret_free`, as a C caller does it.
#[inline(always)]
fn token_once(auth: *const hubauth_auth) {
    let mut secret = ptr::null_mut();
    let status = hubauth_token(black_box(auth), &mut secret, ptr::null_mut());
    debug_assert_eq!(status, HUBAUTH_OK);
    hubauth_secret_free(black_box(secret));
}

/// The token through a job, as an event-loop host takes a fresh one:
/// `hubauth_job_start_auth` (done at once), one poll (DONE with the secret),
/// `hubauth_secret_free`, `hubauth_job_free`.
#[inline(always)]
fn job_token_once(auth: *const hubauth_auth) {
    let mut job = ptr::null_mut();
    let status = hubauth_job_start_auth(
        black_box(auth),
        ptr::null(),
        HUBAUTH_JOB_TOKEN,
        None,
        ptr::null_mut(),
        &mut job,
        ptr::null_mut(),
    );
    debug_assert_eq!(status, HUBAUTH_OK);
    let mut event = std::mem::MaybeUninit::<hubauth_job_event>::uninit();
    hubauth_job_poll(job, event.as_mut_ptr(), ptr::null_mut());
    // SAFETY: poll wrote the event (a live job, a non-NULL event pointer).
    let event = unsafe { event.assume_init() };
    debug_assert_eq!(event.kind, HUBAUTH_JOB_EVENT_DONE);
    hubauth_secret_free(black_box(event.secret));
    hubauth_job_free(job);
}

/// `threads` threads each make `iters` calls at once; returns the wall time
/// divided by `threads`, so criterion reports wall time per call.
fn concurrent(auth: Shared, threads: u32, iters: u64) -> Duration {
    let start = Barrier::new(threads as usize + 1);
    let mut began = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let start = &start;
            s.spawn(move || {
                let auth = auth.get();
                start.wait();
                for _ in 0..iters {
                    token_once(auth);
                }
            });
        }
        start.wait();
        began = Instant::now();
    });
    began.elapsed() / threads
}

/// Authenticates from `stored` through the C ABI and checks that
/// `hubauth_token` hands out the stored id_token (fresh: no refresh).
fn authenticated(stored: &common::StoredToken) -> *mut hubauth_auth {
    let options = common::COptions::new(&common::option_pairs(&stored.server_url, &stored.path()));
    let auth = options.authenticate();
    let mut secret = ptr::null_mut();
    assert_eq!(
        hubauth_token(auth, &mut secret, ptr::null_mut()),
        HUBAUTH_OK
    );
    assert_eq!(hubauth_secret_len(secret), stored.id_token.len());
    hubauth_secret_free(secret);
    auth
}

/// CPU time of the calling thread.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Like [`concurrent`], but returns the CPU time the threads spent in the
/// calls divided by `threads`: CPU time per call. It does not depend on how
/// many cores are free (other builds share this machine), and it grows with
/// contention (cache lines bouncing between cores, a lock's syscalls).
fn concurrent_cpu(auth: Shared, threads: u32, iters: u64) -> Duration {
    let start = Barrier::new(threads as usize);
    let total: Duration = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let start = &start;
                s.spawn(move || {
                    let auth = auth.get();
                    start.wait();
                    let began = thread_cpu_time();
                    for _ in 0..iters {
                        token_once(auth);
                    }
                    thread_cpu_time() - began
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    total / threads
}

fn bench(c: &mut Criterion) {
    let stored = common::StoredToken::fresh(30 * 86_400);
    let auth = authenticated(&stored);
    let mut group = c.benchmark_group("hubauth_token");
    group.bench_function("1_thread", |b| b.iter(|| token_once(auth)));
    let shared = Shared(auth);
    for threads in [2u32, 8] {
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter_custom(|iters| concurrent(shared, threads, iters))
        });
    }
    group.bench_function("8_threads_cpu_time", |b| {
        b.iter_custom(|iters| concurrent_cpu(shared, 8, iters))
    });
    // The same token through the job API (what an event-loop host does):
    // a fresh token is at hand, so the job is done inside start, no thread.
    group.bench_function("1_thread_job_at_hand", |b| b.iter(|| job_token_once(auth)));

    // A JuliaHub-sized id_token (~1 KiB JWT): the copy and the zeroing grow.
    let long = common::StoredToken::fresh_padded(30 * 86_400, 1024);
    let long_auth = authenticated(&long);
    group.bench_function("1_thread_1KiB_token", |b| b.iter(|| token_once(long_auth)));
    let shared = Shared(long_auth);
    group.bench_function("8_threads_1KiB_token", |b| {
        b.iter_custom(|iters| concurrent(shared, 8, iters))
    });
    group.finish();
    hubauth_auth_free(long_auth);
    hubauth_auth_free(auth);
}

criterion_group!(benches, bench);

// ---------------------------------------------------------------------------
// --insns: instruction counts under callgrind
// ---------------------------------------------------------------------------

type TokenFn =
    extern "C" fn(*const hubauth_auth, *mut *mut hubauth_secret, *mut *mut hubauth_error) -> i32;
type SecretFreeFn = extern "C" fn(*mut hubauth_secret);
type TokenCopyFn = extern "C" fn(
    *const hubauth_auth,
    *mut std::ffi::c_char,
    usize,
    *mut usize,
    *mut *mut hubauth_error,
) -> i32;

/// A plain copy of `n` bytes: the floor any hand-out of the token pays.
///
/// # Safety
/// `dst` and `src` are distinct buffers of at least `n` bytes.
#[unsafe(no_mangle)]
#[inline(never)]
pub unsafe extern "C" fn bench_bare_memcpy(dst: *mut u8, src: *const u8, n: usize) {
    // SAFETY: by the contract above.
    unsafe { ptr::copy_nonoverlapping(src, dst, n) }
}

/// An auth.toml holding a fresh id_token of exactly `len` bytes, authenticated
/// through the C ABI (validate=false: no network afterwards).
fn authenticated_exact(len: usize) -> (common::StoredToken, String, *mut hubauth_auth) {
    let stored = common::StoredToken::fresh(30 * 86_400);
    let alphabet = b"AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_";
    let token: String = (0..len)
        .map(|i| alphabet[i % alphabet.len()] as char)
        .collect();
    let toml = stored.toml.replace(&stored.id_token, &token);
    assert_ne!(toml, stored.toml);
    common::write_0600(&stored.path(), &toml);
    let options = common::COptions::new(&common::option_pairs(&stored.server_url, &stored.path()));
    let auth = options.authenticate();
    (stored, token, auth)
}

fn arg(name: &str, default: usize) -> usize {
    std::env::args()
        .find_map(|a| a.strip_prefix(&format!("--{name}="))?.parse().ok())
        .unwrap_or(default)
}

/// The `--insns` mode (see the module docs).
fn instruction_loops() {
    let len = arg("len", 30);
    let iters = arg("iters", 100_000);
    let (_stored, token, auth) = authenticated_exact(len);
    let token_fn: TokenFn = black_box(hubauth_token);
    let free_fn: SecretFreeFn = black_box(hubauth_secret_free);
    let copy_fn: TokenCopyFn = black_box(hubauth_token_copy);

    // hubauth_token + hubauth_secret_free
    let mut secret = ptr::null_mut();
    assert_eq!(token_fn(auth, &mut secret, ptr::null_mut()), HUBAUTH_OK);
    assert_eq!(hubauth_secret_len(secret), len);
    // SAFETY: a live secret; its value is a NUL-terminated string.
    let exposed = unsafe { std::ffi::CStr::from_ptr(hubauth_secret_expose(secret)) };
    assert_eq!(exposed.to_bytes(), token.as_bytes());
    free_fn(secret);
    for _ in 0..iters {
        let mut secret = ptr::null_mut();
        token_fn(black_box(auth), &mut secret, ptr::null_mut());
        free_fn(black_box(secret));
    }

    // hubauth_token_copy
    let mut buf = vec![0u8; len + 1];
    let mut n = 0usize;
    assert_eq!(
        copy_fn(
            auth,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut n,
            ptr::null_mut()
        ),
        HUBAUTH_OK
    );
    assert_eq!((n, &buf[..len], buf[len]), (len, token.as_bytes(), 0));
    for _ in 0..iters {
        copy_fn(
            black_box(auth),
            black_box(buf.as_mut_ptr().cast()),
            buf.len(),
            &mut n,
            ptr::null_mut(),
        );
    }

    // a bare memcpy of the same bytes (the token and its NUL)
    let mut source = token.into_bytes();
    source.push(0);
    assert!(buf.len() >= source.len());
    for _ in 0..iters {
        // SAFETY: two distinct buffers of at least source.len() bytes.
        unsafe {
            bench_bare_memcpy(
                black_box(buf.as_mut_ptr()),
                black_box(source.as_ptr()),
                black_box(source.len()),
            )
        };
    }
    black_box(&buf);
    hubauth_auth_free(auth);
    println!("ffi_token --insns: {iters} calls of each on a {len}-byte token");
}

fn main() {
    if std::env::args().any(|a| a == "--insns") {
        instruction_loops();
    } else {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
