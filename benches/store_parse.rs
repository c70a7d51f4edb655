//! Parsing each on-disk token format that exists, from bytes already in
//! memory (no I/O), plus `pkg_toml::load` (read + parse) for comparison.
//! `cargo bench --bench store_parse`.

mod common;

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hubauth::store::{cave_json, dagshub_yaml, dhcore_ini, oidc_toml, pkg_toml};

/// hubauth's oidc token file as the oidc provider writes it (JWT-sized tokens).
fn oidc_file() -> String {
    let jwt = |n: usize| {
        format!(
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
            "eyJzdWIiOiJhbGljZSJ9".repeat(n),
            "c2lnbmF0dXJl".repeat(28)
        )
    };
    format!(
        "access_token = \"{}\"\nrefresh_token = \"{}\"\nid_token = \"{}\"\n\
         token_type = \"Bearer\"\nscope = \"openid offline_access profile\"\n\
         expires_at = 4102444800\nexpires_in = 3600\n\
         issuer = \"https://id.example.com/realms/main\"\nclient_id = \"hubauth-cli\"\n\
         username = \"alice\"\n",
        jwt(12),
        "r".repeat(64),
        jwt(20)
    )
}

/// The dagshub client's token cache (PyYAML output): two hosts, three tokens.
const DAGSHUB_YAML: &str = "\
https://dagshub.com:
- access_token: 0123456789abcdef0123456789abcdef01234567
  expiry: never
  token_type: app-token
- access_token: 9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c
  expiry: '2099-01-02T03:04:05.678901Z'
  token_type: bearer
https://my.dagshub.example:
- access_token: a1b2c3d4e5f60718293a4b5c6d7e8f9012345678
  expiry: never
  token_type: app-token
version: '1'
";

/// A CAVEclient secret file: the default key and one per-server key.
const CAVE_JSON: &str = "{\"token\": \"0123456789abcdef0123456789abcdef\", \
                          \"fanc_production_mar2021\": \"fedcba9876543210fedcba9876543210\"}";

/// The DigitalHub SDK's `.dhcore.ini` (ConfigParser): two profiles.
fn dhcore_file() -> String {
    let profile = |name: &str, user: &str| {
        format!(
            "[{name}]\n\
             dhcore_endpoint = https://core.{name}.example.com\n\
             dhcore_issuer = https://core.{name}.example.com\n\
             dhcore_client_id = c_apiuser\n\
             dhcore_user = {user}\n\
             dhcore_access_token = eyJhbGciOiJSUzI1NiJ9.{}.{}\n\
             dhcore_refresh_token = {}\n\
             dhcore_expires_in = 3600\n\
             dhcore_expires_at = 2099-01-02T03:04:05Z\n\n",
            "eyJzdWIiOiJhbGljZSJ9".repeat(12),
            "c2lnbmF0dXJl".repeat(28),
            "f".repeat(64)
        )
    };
    format!(
        "[DEFAULT]\ncurrent_environment = dev\n\n{}{}",
        profile("dev", "alice"),
        profile("prod", "alice")
    )
}

fn bench(c: &mut Criterion) {
    let stored = common::StoredToken::fresh(30 * 86_400);
    let oidc = oidc_file();
    let path = Path::new("bench");
    let mut group = c.benchmark_group("store_parse");

    let pkg = stored.toml.as_bytes();
    group.throughput(Throughput::Bytes(pkg.len() as u64));
    group.bench_function("pkg_toml", |b| {
        b.iter(|| pkg_toml::PkgToken::parse(black_box(pkg), path, Some(0)).unwrap())
    });
    group.bench_function("pkg_toml_to_token", |b| {
        b.iter(|| {
            pkg_toml::PkgToken::parse(black_box(pkg), path, Some(0))
                .unwrap()
                .to_token()
                .unwrap()
        })
    });
    let file = stored.path();
    group.bench_function("pkg_toml_load_from_disk", |b| {
        b.iter(|| pkg_toml::load(black_box(&file)).unwrap().unwrap())
    });

    group.throughput(Throughput::Bytes(oidc.len() as u64));
    group.bench_function("oidc_toml", |b| {
        b.iter(|| oidc_toml::OidcToken::parse(black_box(oidc.as_bytes()), path).unwrap())
    });

    group.throughput(Throughput::Bytes(DAGSHUB_YAML.len() as u64));
    let now = hubauth::token::unix_now();
    group.bench_function("dagshub_yaml", |b| {
        b.iter(|| {
            dagshub_yaml::TokenCache::parse(black_box(DAGSHUB_YAML.as_bytes()), path, now).unwrap()
        })
    });

    let dhcore = dhcore_file();
    group.throughput(Throughput::Bytes(dhcore.len() as u64));
    group.bench_function("dhcore_ini", |b| {
        b.iter(|| dhcore_ini::Ini::parse(black_box(&dhcore), path).unwrap())
    });

    group.throughput(Throughput::Bytes(CAVE_JSON.len() as u64));
    group.bench_function("cave_json", |b| {
        b.iter(|| cave_json::SecretFile::parse(black_box(CAVE_JSON.as_bytes()), path).unwrap())
    });
    group.finish();

    // What was parsed is what a provider uses.
    let parsed = pkg_toml::PkgToken::parse(pkg, path, Some(0)).unwrap();
    assert_eq!(
        parsed.to_token().unwrap().credential.secret().expose(),
        stored.id_token
    );
    let cache = dagshub_yaml::TokenCache::parse(DAGSHUB_YAML.as_bytes(), path, now).unwrap();
    assert_eq!(cache.tokens("https://dagshub.com").len(), 2);
    let cave = cave_json::SecretFile::parse(CAVE_JSON.as_bytes(), path).unwrap();
    assert!(cave.token("token").is_some());
    let ini = dhcore_ini::Ini::parse(&dhcore, path).unwrap();
    assert_eq!(ini.get("prod", "dhcore_user"), Some("alice"));
    let oidc = oidc_toml::OidcToken::parse(oidc.as_bytes(), path).unwrap();
    assert_eq!(oidc.expires_at(), Some(4102444800));
}

/// Items `item(0)`, `item(1)`, … joined by `sep` until the text reaches 1 MiB.
fn one_mib(sep: &str, item: impl Fn(usize) -> String) -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 1 << 20 {
        if i > 0 {
            text.push_str(sep);
        }
        text.push_str(&item(i));
        i += 1;
    }
    text
}

/// Hostile 1 MiB files of each format: tens of thousands of keys, the shape
/// that made the duplicate-key checks quadratic (an 830 KB CAVE file took
/// 27 s, a 388 KB YAML file 65 s). Each must be read or refused quickly;
/// whether it parses does not matter here.
fn hostile(c: &mut Criterion) {
    let cave = format!(
        "{{{}}}",
        one_mib(", ", |i| format!("\"key{i:07}\": \"0123456789abcdef\""))
    );
    let yaml = one_mib("", |i| {
        format!("https://h{i:07}.example:\n- access_token: t{i}\n  expiry: never\n")
    });
    let toml = one_mib("", |i| format!("k{i:07} = \"v{i}\"\n"));
    let ini = format!("[p]\n{}", one_mib("", |i| format!("k{i:07} = v{i}\n")));
    let path = Path::new("hostile");
    let now = hubauth::token::unix_now();
    let mut group = c.benchmark_group("hostile_1mib");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(cave.len() as u64));
    group.bench_function("cave_json", |b| {
        b.iter(|| cave_json::SecretFile::parse(black_box(cave.as_bytes()), path).is_ok())
    });
    group.throughput(Throughput::Bytes(yaml.len() as u64));
    group.bench_function("dagshub_yaml", |b| {
        b.iter(|| dagshub_yaml::TokenCache::parse(black_box(yaml.as_bytes()), path, now).is_ok())
    });
    group.throughput(Throughput::Bytes(toml.len() as u64));
    group.bench_function("pkg_toml", |b| {
        b.iter(|| pkg_toml::PkgToken::parse(black_box(toml.as_bytes()), path, None).is_ok())
    });
    group.throughput(Throughput::Bytes(ini.len() as u64));
    group.bench_function("dhcore_ini", |b| {
        b.iter(|| dhcore_ini::Ini::parse(black_box(&ini), path).is_ok())
    });
    group.finish();
    for text in [&cave, &yaml, &toml, &ini] {
        assert!(text.len() >= 1 << 20);
    }
}

criterion_group!(benches, bench, hostile);
criterion_main!(benches);
