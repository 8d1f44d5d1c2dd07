//! Properties of the SQL sanitizer and summary generator.

use proptest::prelude::*;
use tracewire_sqlx::sql::{Dialect, MAX_SUMMARY_LEN, analyze, sanitize};

const DIALECTS: [Dialect; 4] = [
    Dialect::Postgres,
    Dialect::MySql,
    Dialect::Sqlite,
    Dialect::Generic,
];

/// A literal in the syntax of every dialect, with a secret that must not survive.
fn literal() -> impl Strategy<Value = (String, String)> {
    let secret = "zq[a-y]{6,10}";
    prop_oneof![
        secret.prop_map(|s| (format!("'{s}'"), s)),
        secret.prop_map(|s| (format!("'it''s {s}'"), s)),
        "[1-9][0-9]{3,8}".prop_map(|n| (n.clone(), n)),
        "[1-9][0-9]{3,8}".prop_map(|n| (format!("-{n}.5e-3"), n)),
        "[1-9][0-9]{3,8}".prop_map(|n| (format!("0x{n}"), n)),
        "[1-9][0-9]{3,8}".prop_map(|n| (format!("X'{n}'"), n)),
    ]
}

/// Dollar quotes and escape strings are PostgreSQL syntax.
fn postgres_literal() -> impl Strategy<Value = (String, String)> {
    let secret = "zq[a-y]{6,10}";
    prop_oneof![
        literal(),
        secret.prop_map(|s| (format!("E'\\'{s}\\\\'"), s)),
        secret.prop_map(|s| (format!("$$ {s} ' $$"), s)),
        secret.prop_map(|s| (format!("$a$ $b$ {s} $b$ $a$"), s)),
    ]
}

fn query(literals: &[(String, String)]) -> String {
    let mut sql = String::from("SELECT t1.c2, name FROM users_v2 u WHERE");
    for (i, (literal, _)) in literals.iter().enumerate() {
        let op = if i == 0 { "" } else { " AND" };
        sql.push_str(&format!(
            "{op} col_{} = {literal}",
            (b'a' + i as u8 % 26) as char
        ));
    }
    sql.push_str(" /* it's a comment */");
    sql
}

proptest! {
    #[test]
    fn never_panics_and_keeps_valid_utf8(sql in any::<String>()) {
        for dialect in DIALECTS {
            let analysis = analyze(&sql, dialect);
            prop_assert!(analysis.summary.as_ref().is_none_or(|s| s.len() <= MAX_SUMMARY_LEN));
            // `String` guarantees UTF-8; also never longer than the input plus nothing.
            prop_assert!(analysis.text.len() <= sql.len().max(1));
        }
    }

    #[test]
    fn sqlish_input_never_panics(sql in "[a-zA-Z0-9 '\"`$\\\\+.,()*/#;:?@_\n-]{0,80}") {
        for dialect in DIALECTS {
            let _ = analyze(&sql, dialect);
        }
    }

    #[test]
    fn literals_never_survive(literals in prop::collection::vec(literal(), 1..6)) {
        let sql = query(&literals);
        for dialect in DIALECTS {
            let text = sanitize(&sql, dialect);
            for (literal, secret) in &literals {
                prop_assert!(!text.contains(secret.as_str()), "{dialect:?}: {literal} in {text}");
            }
            let without_names = text.replace("t1.c2", "").replace("users_v2", "");
            prop_assert!(!without_names.bytes().any(|b| b.is_ascii_digit()), "{}", text);
        }
    }

    #[test]
    fn postgres_literals_never_survive(literals in prop::collection::vec(postgres_literal(), 1..6)) {
        let sql = query(&literals);
        let text = sanitize(&sql, Dialect::Postgres);
        for (literal, secret) in &literals {
            prop_assert!(!text.contains(secret.as_str()), "{literal} in {text}");
        }
        let summary = analyze(&sql, Dialect::Postgres).summary;
        prop_assert_eq!(summary.as_deref(), Some("SELECT users_v2"));
    }

    #[test]
    fn idempotent(sql in "[a-zA-Z0-9 '\"`$\\\\+.,()*/#;:?@_\n-]{0,80}") {
        for dialect in DIALECTS {
            let once = sanitize(&sql, dialect).into_owned();
            let twice = sanitize(&once, dialect);
            prop_assert_eq!(&once, &twice, "{:?} on {:?}", dialect, sql);
        }
    }
}
