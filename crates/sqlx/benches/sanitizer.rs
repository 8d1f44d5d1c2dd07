//! Sanitizer + summary throughput on a corpus of realistic queries, in MB/s (criterion reports
//! it from `Throughput::Bytes`). Also a 1 MB statement, to show the time stays linear.
//!
//! Run: `cargo bench -p tracewire-sqlx --bench sanitizer -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tracewire_sqlx::sql::{Dialect, analyze};

const CORPUS: &[&str] = &[
    "SELECT id, email, created_at FROM users WHERE id = $1",
    "SELECT u.id, u.name, o.total FROM users u JOIN orders o ON o.user_id = u.id WHERE o.status = 'paid' AND o.total > 100.50 ORDER BY o.created_at DESC LIMIT 20",
    "INSERT INTO orders (user_id, total, status, note) VALUES (42, 19.99, 'new', 'gift wrap, please; it''s a present')",
    "UPDATE accounts SET balance = balance - 250, updated_at = now() WHERE id = 7 AND version = 3",
    "DELETE FROM sessions WHERE expires_at < '2024-01-01 00:00:00' AND user_id IN (1, 2, 3, 4, 5, 6, 7, 8)",
    "SELECT count(*) FROM events WHERE kind = ANY($1) AND created_at BETWEEN $2 AND $3",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days') SELECT user_id, sum(total) FROM recent GROUP BY user_id HAVING sum(total) > 1000",
    "INSERT INTO audit_log (actor, action, payload) VALUES ($1, $2, $3) ON CONFLICT (actor, action) DO UPDATE SET payload = EXCLUDED.payload",
    "SELECT p.id, p.title, array_agg(t.name) FROM posts p LEFT JOIN post_tags pt ON pt.post_id = p.id LEFT JOIN tags t ON t.id = pt.tag_id WHERE p.published = TRUE GROUP BY p.id",
    "CREATE OR REPLACE FUNCTION bump() RETURNS trigger AS $body$ BEGIN NEW.version := OLD.version + 1; RETURN NEW; END $body$ LANGUAGE plpgsql",
    "SELECT * FROM products WHERE sku = 'AB-1234-X' OR (price >= 10 AND price < 99.99) /* storefront listing */",
    "UPDATE inventory SET qty = qty - 1 WHERE product_id = 123456 AND warehouse = 'east-2' RETURNING qty",
    "SELECT id FROM jobs WHERE state = 'queued' ORDER BY priority DESC, id FOR UPDATE SKIP LOCKED LIMIT 1",
    "INSERT INTO metrics (name, value, ts) VALUES ('cpu', 0.73, 1700000000), ('mem', 0.41, 1700000000), ('disk', 0.12, 1700000000)",
    "SELECT e'tab\\there', x'DEADBEEF', 0xFF, -42, 3.14e-10 FROM dual",
];

fn bench(c: &mut Criterion) {
    let corpus_bytes: usize = CORPUS.iter().map(|q| q.len()).sum();
    let mut group = c.benchmark_group("sql");
    group.throughput(Throughput::Bytes(corpus_bytes as u64));
    group.bench_function("analyze_corpus", |b| {
        b.iter(|| {
            for query in CORPUS {
                black_box(analyze(black_box(query), Dialect::Postgres));
            }
        })
    });
    let big = format!(
        "INSERT INTO t (a, b) VALUES {}",
        vec!["(12345, 'some text with it''s quote')"; 30_000].join(", ")
    );
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("analyze_1mb", |b| {
        b.iter(|| black_box(analyze(black_box(&big), Dialect::Postgres)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
