//! A refresh round trip against the loopback JuliaHub-protocol server: the
//! stored token has expired, so `authenticate` (validate=false) takes the file
//! lock, sends the refresh token to the server's refresh_url over HTTP, and
//! saves the new auth.toml atomically (temp file, fsync, rename, 0600).
//! Each sample starts from a newly issued, already expired token (set-up, not
//! timed), because refresh tokens rotate. `cargo bench --bench refresh`.

mod common;

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hubauth_testkit::JuliaHubServer;

fn bench(c: &mut Criterion) {
    let server = JuliaHubServer::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("auth.toml");
    let options = common::rust_options(&common::option_pairs(&server.url(), &path));
    let store_expired = || {
        let token = server.issue_token(-30);
        common::write_0600(&path, &token.to_toml());
        token.id_token
    };

    // Warm the lazily started network runtime once, and check the round trip.
    let old = store_expired();
    let auth = hubauth::authenticate(&options).unwrap();
    assert_ne!(auth.token().unwrap().expose(), old);
    server.reset_stats();

    let mut group = c.benchmark_group("refresh");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("expired_refreshed_saved", |b| {
        b.iter_batched(
            store_expired,
            |_old| hubauth::authenticate(&options).unwrap(),
            BatchSize::PerIteration,
        )
    });
    group.finish();

    let stats = server.stats();
    assert_eq!(stats.refresh_rejections, 0);
    assert!(stats.refreshes > 0);
}

criterion_group!(benches, bench);
criterion_main!(benches);
