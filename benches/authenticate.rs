//! Authenticate from a stored auth.toml with validate=false: resolve the
//! options, take the file lock, read and parse the file, check freshness,
//! build the handle. No network. `cargo bench --bench authenticate`.

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hubauth::ffi::hubauth_auth_free;

fn bench(c: &mut Criterion) {
    let stored = common::StoredToken::fresh(30 * 86_400);
    let pairs = common::option_pairs(&stored.server_url, &stored.path());

    let mut group = c.benchmark_group("authenticate_from_file");
    let options = common::COptions::new(&pairs);
    group.bench_function("c_abi", |b| {
        b.iter(|| hubauth_auth_free(black_box(options.authenticate())))
    });
    let options = common::rust_options(&pairs);
    group.bench_function("rust_api", |b| {
        b.iter(|| hubauth::authenticate(black_box(&options)).unwrap())
    });
    group.finish();

    let auth = hubauth::authenticate(&options).unwrap();
    assert_eq!(auth.token().unwrap().expose(), stored.id_token);
}

criterion_group!(benches, bench);
criterion_main!(benches);
