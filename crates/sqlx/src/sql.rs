//! The SQL sanitizer and query-summary generator: one single-pass byte tokenizer.
//!
//! [`analyze`] walks a statement once and produces both
//! - the **sanitized text** for `db.query.text`: every string, number, hex/binary, boolean and
//!   dollar-quoted literal becomes `?`, and an `IN (...)` list made only of literals collapses to
//!   `IN (?)`; placeholders (`?`, `?1`, `$1`, `:name`, `@p1`), identifiers, keywords, comments and
//!   whitespace are kept as written, so parameterized SQL comes out unchanged (and borrowed);
//! - the **summary** for `db.query.summary` and the span name: the operations and their target
//!   tables in source order (`SELECT users`, `INSERT orders SELECT carts`), at most 255 bytes,
//!   cut at a token boundary.
//!
//! It runs in linear time, allocates only when it replaces something, never panics and never
//! splits a UTF-8 sequence (it cuts only at ASCII bytes). Unterminated strings, quoted
//! identifiers, comments and dollar quotes run to the end of the input (an unterminated literal
//! still becomes `?`).
//!
//! ```
//! use tracewire_sqlx::sql::{analyze, Dialect};
//!
//! let analysis = analyze("SELECT * FROM users WHERE id IN (1, 2, 3) AND name = 'O''Brien'", Dialect::Postgres);
//! assert_eq!(analysis.text, "SELECT * FROM users WHERE id IN (?) AND name = ?");
//! assert_eq!(analysis.summary.as_deref(), Some("SELECT users"));
//! ```

use std::borrow::Cow;

/// The longest summary, in bytes (semantic conventions: at most 255 characters).
pub const MAX_SUMMARY_LEN: usize = 255;

/// PostgreSQL identifiers (and so dollar-quote tags) are at most 63 bytes; a longer `$tag$` is
/// not a dollar quote. The bound also keeps the search for the closing tag linear.
const MAX_DOLLAR_TAG: usize = 63;

/// Deepest parenthesis level whose `FROM`/`JOIN` clauses are tracked for the summary.
const MAX_TRACKED_DEPTH: u32 = 63;

/// The lexical rules that differ between databases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `E'..'` escapes, `$tag$` dollar quotes, nested `/* */` comments, `"` quotes
    /// identifiers.
    Postgres,
    /// MySQL and MariaDB: backslash escapes in strings, `"` quotes strings, `#` and `-- `
    /// comments, backtick identifiers.
    MySql,
    /// SQLite: `"` quotes identifiers, `$name` is a parameter.
    Sqlite,
    /// Standard SQL with PostgreSQL's dollar quotes: for text of unknown origin.
    #[default]
    Generic,
}

/// The result of [`analyze`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis<'a> {
    /// The sanitized text; borrowed when nothing had to be replaced.
    pub text: Cow<'a, str>,
    /// The query summary, or `None` when no operation was recognised.
    pub summary: Option<String>,
}

/// Sanitizes `sql` and summarizes it in one pass; see the [module documentation](self).
pub fn analyze(sql: &str, dialect: Dialect) -> Analysis<'_> {
    let mut scanner = Scanner::new(sql, dialect);
    scanner.run();
    scanner.finish()
}

/// Only the sanitized text of [`analyze`].
///
/// ```
/// use tracewire_sqlx::sql::{sanitize, Dialect};
/// assert_eq!(sanitize("UPDATE t1 SET n = -5, hex = x'ff' WHERE on_sale = TRUE", Dialect::MySql),
///            "UPDATE t1 SET n = ?, hex = ? WHERE on_sale = ?");
/// assert!(matches!(sanitize("SELECT * FROM t WHERE id = $1", Dialect::Postgres),
///                  std::borrow::Cow::Borrowed(_)));
/// ```
pub fn sanitize(sql: &str, dialect: Dialect) -> Cow<'_, str> {
    analyze(sql, dialect).text
}

/// Only the summary of [`analyze`].
///
/// ```
/// use tracewire_sqlx::sql::{summarize, Dialect};
/// assert_eq!(summarize("INSERT INTO orders SELECT * FROM carts", Dialect::Generic).as_deref(),
///            Some("INSERT orders SELECT carts"));
/// ```
pub fn summarize(sql: &str, dialect: Dialect) -> Option<String> {
    analyze(sql, dialect).summary
}

/// Keywords that matter to the summary or to the sanitizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE`: operations wherever they appear.
    Select,
    Insert,
    Update,
    Delete,
    /// An operation recognised only as the first word of a statement.
    Command(&'static str),
    /// `CREATE`, `DROP`, `ALTER`: followed by an object kind and its name.
    Ddl(&'static str),
    /// `TABLE`, `INDEX`, `VIEW`, ...: the object kind after a DDL verb.
    Object(&'static str),
    From,
    Join,
    Into,
    In,
    /// `AS`, before an alias.
    As,
    /// Words after which `UPDATE`/`DELETE`/`FROM` are not operations (`ON DELETE`, `FOR UPDATE`,
    /// `IS DISTINCT FROM`, `ON DUPLICATE KEY UPDATE`, `ON CONFLICT DO UPDATE`).
    Blocker,
    /// Words skipped while a target is expected (`IF NOT EXISTS`, `ONLY`, `TEMPORARY`, ...).
    Modifier,
    /// `TRUE` / `FALSE`.
    Boolean,
    /// Any other keyword: it ends a table list and lets a following `-5` be a negative number.
    Other,
}

/// The keyword `word` is, if any. `word` is an identifier (ASCII letters and digits, `_`, `$`,
/// non-ASCII bytes): clearing bit 5 of each byte upper-cases its letters and turns no other
/// identifier byte into a letter or `_`, so it folds case for the comparison in one operation.
fn keyword(word: &[u8]) -> Option<Kw> {
    let mut buf = [0_u8; 16];
    buf.get_mut(..word.len())
        .filter(|_| word.len() <= 12)?
        .copy_from_slice(word);
    let folded = (u128::from_le_bytes(buf) & !u128::from_le_bytes([0x20; 16])).to_le_bytes();
    let kw = match folded.get(..word.len())? {
        b"SELECT" => Kw::Select,
        b"INSERT" => Kw::Insert,
        b"UPDATE" => Kw::Update,
        b"DELETE" => Kw::Delete,
        b"CREATE" => Kw::Ddl("CREATE"),
        b"DROP" => Kw::Ddl("DROP"),
        b"ALTER" => Kw::Ddl("ALTER"),
        b"TABLE" => Kw::Object("TABLE"),
        b"INDEX" => Kw::Object("INDEX"),
        b"VIEW" => Kw::Object("VIEW"),
        b"SCHEMA" => Kw::Object("SCHEMA"),
        b"DATABASE" => Kw::Object("DATABASE"),
        b"SEQUENCE" => Kw::Object("SEQUENCE"),
        b"TRIGGER" => Kw::Object("TRIGGER"),
        b"FUNCTION" => Kw::Object("FUNCTION"),
        b"PROCEDURE" => Kw::Object("PROCEDURE"),
        b"TYPE" => Kw::Object("TYPE"),
        b"EXTENSION" => Kw::Object("EXTENSION"),
        b"USER" => Kw::Object("USER"),
        b"ROLE" => Kw::Object("ROLE"),
        b"MERGE" => Kw::Command("MERGE"),
        b"REPLACE" => Kw::Command("REPLACE"),
        b"TRUNCATE" => Kw::Command("TRUNCATE"),
        b"CALL" => Kw::Command("CALL"),
        b"EXEC" => Kw::Command("EXEC"),
        b"EXECUTE" => Kw::Command("EXECUTE"),
        b"BEGIN" => Kw::Command("BEGIN"),
        b"START" => Kw::Command("START"),
        b"COMMIT" => Kw::Command("COMMIT"),
        b"ROLLBACK" => Kw::Command("ROLLBACK"),
        b"SAVEPOINT" => Kw::Command("SAVEPOINT"),
        b"RELEASE" => Kw::Command("RELEASE"),
        b"SET" => Kw::Command("SET"),
        b"SHOW" => Kw::Command("SHOW"),
        b"PRAGMA" => Kw::Command("PRAGMA"),
        b"VACUUM" => Kw::Command("VACUUM"),
        b"ANALYZE" => Kw::Command("ANALYZE"),
        b"EXPLAIN" => Kw::Command("EXPLAIN"),
        b"GRANT" => Kw::Command("GRANT"),
        b"REVOKE" => Kw::Command("REVOKE"),
        b"LOCK" => Kw::Command("LOCK"),
        b"COPY" => Kw::Command("COPY"),
        b"USE" => Kw::Command("USE"),
        b"DESCRIBE" => Kw::Command("DESCRIBE"),
        b"LISTEN" => Kw::Command("LISTEN"),
        b"NOTIFY" => Kw::Command("NOTIFY"),
        b"REFRESH" => Kw::Command("REFRESH"),
        b"REINDEX" => Kw::Command("REINDEX"),
        b"ATTACH" => Kw::Command("ATTACH"),
        b"DETACH" => Kw::Command("DETACH"),
        b"FROM" => Kw::From,
        b"JOIN" => Kw::Join,
        b"INTO" => Kw::Into,
        b"IN" => Kw::In,
        b"AS" => Kw::As,
        b"ON" | b"FOR" | b"DO" | b"KEY" | b"DISTINCT" => Kw::Blocker,
        b"IF" | b"NOT" | b"EXISTS" | b"ONLY" | b"LATERAL" | b"TEMP" | b"TEMPORARY"
        | b"UNLOGGED" | b"OR" | b"UNIQUE" | b"MATERIALIZED" | b"GLOBAL" | b"LOCAL" | b"VIRTUAL"
        | b"IGNORE" | b"LOW_PRIORITY" | b"CONCURRENTLY" => Kw::Modifier,
        b"TRUE" | b"FALSE" => Kw::Boolean,
        b"WHERE" | b"GROUP" | b"ORDER" | b"BY" | b"HAVING" | b"LIMIT" | b"OFFSET" | b"UNION"
        | b"EXCEPT" | b"INTERSECT" | b"VALUES" | b"AND" | b"WHEN" | b"THEN" | b"ELSE" | b"CASE"
        | b"END" | b"RETURNING" | b"LEFT" | b"RIGHT" | b"INNER" | b"OUTER" | b"FULL" | b"CROSS"
        | b"NATURAL" | b"USING" | b"WINDOW" | b"WITH" | b"IS" | b"BETWEEN" | b"LIKE"
        | b"RETURN" | b"INTERVAL" | b"ALL" | b"ANY" | b"SOME" | b"FETCH" | b"DEFAULT" => Kw::Other,
        _ => return None,
    };
    Some(kw)
}

/// What the summary generator expects next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Nothing,
    /// After `CREATE`/`DROP`/`ALTER`: modifiers, then the object kind.
    ObjectKind,
    /// A table (or other object) name.
    Target,
    /// After a target: an alias, `,` (another target in a `FROM` list) or the end of the list.
    AfterTarget,
}

/// How the previous significant token ends, for unary minus and `IN (` lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prev {
    /// Start of input, an operator, `(`, `,` or a keyword: a following `-5` is a literal.
    Operator,
    /// An identifier, literal, placeholder or `)`: a following `-` is a binary operator.
    Operand,
    /// The keyword `IN`.
    In,
    /// A blocker keyword (`ON`, `FOR`, ...).
    Blocker,
}

/// An `IN (` list being watched for collapsing.
#[derive(Clone, Copy, Debug)]
struct InList {
    /// Source offset just after the `(`.
    open: usize,
    /// Output length at `open`, once the output exists.
    mark: Option<usize>,
    literals: u32,
}

struct Scanner<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    dialect: Dialect,
    out: Option<String>,
    /// Source offset up to which `out` mirrors the input.
    copied: usize,
    prev: Prev,
    in_list: Option<InList>,
    summary: String,
    summary_full: bool,
    statement_start: bool,
    expect: Expect,
    /// The last DDL verb, pushed together with its object kind.
    ddl: Option<&'static str>,
    depth: u32,
    /// Bit `d` set: an operation with `FROM`/`JOIN` clauses is open at depth `d`.
    from_levels: u64,
}

impl<'a> Scanner<'a> {
    fn new(src: &'a str, dialect: Dialect) -> Self {
        Self {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            dialect,
            out: None,
            copied: 0,
            prev: Prev::Operator,
            in_list: None,
            summary: String::new(),
            summary_full: false,
            statement_start: true,
            expect: Expect::Nothing,
            ddl: None,
            depth: 0,
            from_levels: 0,
        }
    }

    fn finish(mut self) -> Analysis<'a> {
        let text = match self.out.take() {
            Some(mut out) => {
                out.push_str(self.slice(self.copied, self.bytes.len()));
                Cow::Owned(out)
            }
            None => Cow::Borrowed(self.src),
        };
        let summary = (!self.summary.is_empty()).then_some(self.summary);
        Analysis { text, summary }
    }

    fn byte(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    /// Cut points are always at ASCII bytes or the ends, so `get` never fails in practice; it
    /// keeps the scanner panic-free regardless.
    fn slice(&self, start: usize, end: usize) -> &'a str {
        self.src.get(start..end).unwrap_or("")
    }

    fn output(&mut self, upto: usize) -> &mut String {
        let capacity = self.bytes.len();
        let pending = self.src.get(self.copied..upto).unwrap_or("");
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(capacity));
        out.push_str(pending);
        self.copied = self.copied.max(upto);
        out
    }

    /// Replaces `start..end` of the source with `?`.
    fn literal(&mut self, start: usize, end: usize) {
        if let Some(list) = self.in_list.as_mut() {
            list.literals += 1;
            if list.mark.is_none() {
                let open = list.open;
                let mark = self.output(open).len();
                if let Some(list) = self.in_list.as_mut() {
                    list.mark = Some(mark);
                }
            }
        }
        self.output(start).push('?');
        self.copied = end;
        self.prev = Prev::Operand;
        self.end_of_statement_start();
    }

    /// A significant token other than a literal: it ends any `IN (` list being watched.
    fn other_token(&mut self) {
        self.in_list = None;
    }

    fn end_of_statement_start(&mut self) {
        self.statement_start = false;
    }

    fn push_summary(&mut self, part: &str) {
        if self.summary_full || part.is_empty() {
            return;
        }
        let needed = part.len() + usize::from(!self.summary.is_empty());
        if self.summary.len() + needed > MAX_SUMMARY_LEN {
            self.summary_full = true;
            return;
        }
        if !self.summary.is_empty() {
            self.summary.push(' ');
        }
        self.summary.push_str(part);
    }

    fn open_from_level(&mut self) {
        if self.depth <= MAX_TRACKED_DEPTH {
            self.from_levels |= 1 << self.depth;
        }
    }

    fn tracks_from_here(&self) -> bool {
        self.depth <= MAX_TRACKED_DEPTH && self.from_levels & (1 << self.depth) != 0
    }

    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let start = self.pos;
            let b = self.byte(start);
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.pos += 1,
                b'-' if self.byte(start + 1) == b'-' && self.line_comment_dash(start) => {
                    self.skip_line(start + 2);
                }
                b'#' if self.dialect == Dialect::MySql => self.skip_line(start + 1),
                b'/' if self.byte(start + 1) == b'*' => self.skip_block_comment(start + 2),
                b'\'' => {
                    let end = self.string_end(start + 1, self.dialect == Dialect::MySql);
                    self.literal(start, end);
                    self.pos = end;
                }
                b'"' if self.dialect == Dialect::MySql => {
                    let end = self.quoted_end(start + 1, b'"', true);
                    self.literal(start, end);
                    self.pos = end;
                }
                b'"' | b'`' => {
                    let end = self.name_end(start);
                    self.name(start, end);
                }
                b'0'..=b'9' => {
                    let end = self.number_end(start);
                    self.literal(start, end);
                    self.pos = end;
                }
                b'.' if self.byte(start + 1).is_ascii_digit() => {
                    let end = self.number_end(start + 1);
                    self.literal(start, end);
                    self.pos = end;
                }
                b'-' | b'+' if self.prev != Prev::Operand && self.starts_number(start + 1) => {
                    let digits = if self.byte(start + 1) == b'.' {
                        start + 2
                    } else {
                        start + 1
                    };
                    let end = self.number_end(digits);
                    self.literal(start, end);
                    self.pos = end;
                }
                b'$' => self.dollar(start),
                b'?' => {
                    self.pos = self.digits_end(start + 1);
                    self.operand();
                }
                b'(' => {
                    self.pos += 1;
                    let in_list = self.prev == Prev::In;
                    self.other_token();
                    if in_list {
                        self.in_list = Some(InList {
                            open: self.pos,
                            mark: None,
                            literals: 0,
                        });
                    }
                    self.depth = self.depth.saturating_add(1);
                    if self.depth <= MAX_TRACKED_DEPTH {
                        self.from_levels &= !(1 << self.depth);
                    }
                    self.expect = Expect::Nothing;
                    self.prev = Prev::Operator;
                }
                b')' => {
                    self.close_paren(start);
                    self.pos += 1;
                    self.depth = self.depth.saturating_sub(1);
                    self.expect = Expect::Nothing;
                    self.prev = Prev::Operand;
                }
                b',' => {
                    self.pos += 1;
                    self.prev = Prev::Operator;
                    if self.expect == Expect::AfterTarget {
                        self.expect = Expect::Target;
                    }
                }
                b';' => {
                    self.pos += 1;
                    self.other_token();
                    self.prev = Prev::Operator;
                    self.statement_start = true;
                    self.expect = Expect::Nothing;
                    self.ddl = None;
                    self.depth = 0;
                    self.from_levels = 0;
                }
                _ if is_ident_start(b) => self.word(start),
                _ => {
                    self.pos += 1;
                    self.other_token();
                    self.prev = Prev::Operator;
                    self.expect = Expect::Nothing;
                }
            }
        }
    }

    fn operand(&mut self) {
        self.other_token();
        self.prev = Prev::Operand;
        self.end_of_statement_start();
        if matches!(self.expect, Expect::Target | Expect::ObjectKind) {
            self.expect = Expect::Nothing;
        }
    }

    /// MySQL needs whitespace (or the end) after `--` for a comment; elsewhere `--` always is.
    fn line_comment_dash(&self, start: usize) -> bool {
        self.dialect != Dialect::MySql || matches!(self.byte(start + 2), 0..=b' ')
    }

    fn skip_line(&mut self, from: usize) {
        let rest = self.bytes.get(from..).unwrap_or_default();
        self.pos = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(self.bytes.len(), |i| from + i + 1);
    }

    fn skip_block_comment(&mut self, mut at: usize) {
        let nested = self.dialect == Dialect::Postgres;
        let mut level = 1_u32;
        while at < self.bytes.len() {
            match (self.byte(at), self.byte(at + 1)) {
                (b'*', b'/') => {
                    at += 2;
                    level -= 1;
                    if level == 0 {
                        break;
                    }
                }
                (b'/', b'*') if nested => {
                    at += 2;
                    level = level.saturating_add(1);
                }
                _ => at += 1,
            }
        }
        self.pos = at.min(self.bytes.len());
    }

    /// The end of a `'` string whose body starts at `at`; `''` is an escaped quote, and so is
    /// `\'` when `backslash` escapes apply.
    fn string_end(&self, at: usize, backslash: bool) -> usize {
        self.quoted_end(at, b'\'', backslash)
    }

    fn quoted_end(&self, mut at: usize, quote: u8, backslash: bool) -> usize {
        while at < self.bytes.len() {
            let b = self.byte(at);
            if b == quote {
                if self.byte(at + 1) == quote {
                    at += 2;
                    continue;
                }
                return at + 1;
            }
            at += if backslash && b == b'\\' { 2 } else { 1 };
        }
        self.bytes.len()
    }

    fn digits_end(&self, mut at: usize) -> usize {
        while self.byte(at).is_ascii_digit() {
            at += 1;
        }
        at
    }

    fn starts_number(&self, at: usize) -> bool {
        let b = self.byte(at);
        b.is_ascii_digit() || (b == b'.' && self.byte(at + 1).is_ascii_digit())
    }

    /// The end of a number starting at `start`: digits, `.`, `_`, letters (hex, binary and
    /// octal prefixes, exponents, junk suffixes) and an exponent sign.
    fn number_end(&self, start: usize) -> usize {
        let hex = self.byte(start) == b'0' && matches!(self.byte(start + 1), b'x' | b'X');
        let mut at = start;
        loop {
            let b = self.byte(at);
            let exponent_sign = matches!(b, b'+' | b'-')
                && !hex
                && matches!(self.byte(at.wrapping_sub(1)), b'e' | b'E')
                && self.byte(at + 1).is_ascii_digit();
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || exponent_sign {
                at += 1;
            } else {
                return at;
            }
        }
    }

    fn dollar(&mut self, start: usize) {
        let next = self.byte(start + 1);
        if next.is_ascii_digit() {
            self.pos = self.digits_end(start + 1);
            self.operand();
            return;
        }
        if matches!(self.dialect, Dialect::Postgres | Dialect::Generic)
            && let Some(body) = self.dollar_tag_end(start)
        {
            let tag = self.bytes.get(start..body).unwrap_or_default();
            let end = find(self.bytes, tag, body).map_or(self.bytes.len(), |i| i + tag.len());
            self.literal(start, end);
            self.pos = end;
            return;
        }
        if is_ident_start(next) {
            // `$name` parameters (SQLite), or `$` starting nothing we know: keep it.
            self.pos = self.ident_end(start + 1);
            self.operand();
            return;
        }
        self.pos = start + 1;
        self.other_token();
        self.prev = Prev::Operator;
    }

    /// The offset after the opening `$tag$` at `start`, if it is one.
    fn dollar_tag_end(&self, start: usize) -> Option<usize> {
        let mut at = start + 1;
        if self.byte(at) != b'$' {
            if !is_ident_start(self.byte(at)) {
                return None;
            }
            while is_ident_continue(self.byte(at)) && self.byte(at) != b'$' {
                at += 1;
                if at - start > MAX_DOLLAR_TAG + 1 {
                    return None;
                }
            }
            if self.byte(at) != b'$' {
                return None;
            }
        }
        Some(at + 1)
    }

    fn ident_end(&self, mut at: usize) -> usize {
        while is_ident_continue(self.byte(at)) {
            at += 1;
        }
        at
    }

    /// The end of a possibly qualified name starting at `start` (`a`, `"A b"`, `s.t`, `` `s`.`t` ``).
    fn name_end(&self, start: usize) -> usize {
        let mut at = start;
        loop {
            at = match self.byte(at) {
                q @ (b'"' | b'`') => self.quoted_end(at + 1, q, false),
                b if is_ident_start(b) => self.ident_end(at),
                _ => return at,
            };
            let after_dot = self.byte(at + 1);
            if self.byte(at) == b'.'
                && (is_ident_start(after_dot) || matches!(after_dot, b'"' | b'`'))
            {
                at += 1;
            } else {
                return at;
            }
        }
    }

    fn word(&mut self, start: usize) {
        let end = self.ident_end(start);
        let word = self.bytes.get(start..end).unwrap_or_default();
        // Prefixed strings: E'..' (escapes), X'..' (hex), B'..' (bits), N'..' (national).
        if self.byte(end) == b'\''
            && let [prefix] = word
            && matches!(prefix.to_ascii_uppercase(), b'E' | b'X' | b'B' | b'N')
        {
            let backslash = prefix.eq_ignore_ascii_case(&b'E') || self.dialect == Dialect::MySql;
            let literal_end = self.string_end(end + 1, backslash);
            self.literal(start, literal_end);
            self.pos = literal_end;
            return;
        }
        if self.byte(end) == b'.' {
            let name_end = self.name_end(start);
            if name_end > end {
                self.name(start, name_end);
                return;
            }
        }
        match keyword(word) {
            Some(Kw::Boolean) => {
                self.literal(start, end);
                self.pos = end;
            }
            // Where a name is expected, most keywords are names (`UPDATE user SET ...`).
            Some(kw)
                if self.expect != Expect::Target
                    || matches!(kw, Kw::Modifier | Kw::Object("TABLE")) =>
            {
                self.pos = end;
                self.other_token();
                self.keyword(kw);
            }
            _ => self.name(start, end),
        }
    }

    /// An identifier or quoted name: a target when one is expected, else an operand.
    fn name(&mut self, start: usize, end: usize) {
        self.pos = end;
        match self.expect {
            Expect::Target => {
                let name = self.slice(start, end);
                self.push_summary(name);
                self.expect = Expect::AfterTarget;
            }
            Expect::AfterTarget => {}
            Expect::ObjectKind | Expect::Nothing => self.expect = Expect::Nothing,
        }
        self.other_token();
        self.prev = Prev::Operand;
        self.end_of_statement_start();
    }

    fn keyword(&mut self, kw: Kw) {
        let statement_start = self.statement_start;
        let blocked = self.prev == Prev::Blocker;
        self.statement_start = false;
        self.prev = Prev::Operator;
        match kw {
            Kw::Select => {
                self.push_summary("SELECT");
                self.open_from_level();
                self.expect = Expect::Nothing;
            }
            Kw::Insert if !blocked => {
                self.push_summary("INSERT");
                self.expect = Expect::Nothing;
            }
            Kw::Update if !blocked => {
                self.push_summary("UPDATE");
                self.expect = Expect::Target;
            }
            Kw::Delete if !blocked => {
                self.push_summary("DELETE");
                self.open_from_level();
                self.expect = Expect::Nothing;
            }
            Kw::Command(op) if statement_start => {
                self.push_summary(op);
                self.open_from_level();
                self.expect = match op {
                    "TRUNCATE" | "CALL" | "LOCK" | "COPY" | "REPLACE" => Expect::Target,
                    _ => Expect::Nothing,
                };
            }
            Kw::Ddl(op) if statement_start => {
                self.ddl = Some(op);
                self.expect = Expect::ObjectKind;
            }
            Kw::Object(kind) if self.expect == Expect::ObjectKind => {
                if let Some(op) = self.ddl.take() {
                    self.push_summary(op);
                }
                self.push_summary(kind);
                self.expect = Expect::Target;
            }
            Kw::From | Kw::Join if !blocked && self.tracks_from_here() => {
                self.expect = Expect::Target;
            }
            Kw::Into => self.expect = Expect::Target,
            Kw::In => {
                self.prev = Prev::In;
                self.expect = Expect::Nothing;
            }
            Kw::Blocker => {
                self.prev = Prev::Blocker;
                self.expect = Expect::Nothing;
            }
            // `IF NOT EXISTS`, `TRUNCATE TABLE t`, `FROM ONLY t`: keep waiting for the name.
            Kw::Modifier | Kw::Object(_)
                if matches!(self.expect, Expect::Target | Expect::ObjectKind) => {}
            Kw::As if self.expect == Expect::AfterTarget => {}
            _ => {
                if self.expect != Expect::ObjectKind {
                    self.expect = Expect::Nothing;
                }
            }
        }
    }

    fn close_paren(&mut self, at: usize) {
        let Some(list) = self.in_list.take() else {
            return;
        };
        if list.literals == 0 {
            return;
        }
        if let (Some(mark), Some(out)) = (list.mark, self.out.as_mut()) {
            out.truncate(mark);
            out.push('?');
            self.copied = at;
        }
    }
}

/// Bit set of [`IDENT_START`] and [`IDENT_CONTINUE`] per byte: one load instead of a chain of
/// range comparisons in the scanner's hottest loops.
static CLASSES: [u8; 256] = {
    let mut classes = [0_u8; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80 {
            classes[b] = IDENT_START | IDENT_CONTINUE;
        } else if byte.is_ascii_digit() || byte == b'$' {
            classes[b] = IDENT_CONTINUE;
        }
        b += 1;
    }
    classes
};
const IDENT_START: u8 = 1;
const IDENT_CONTINUE: u8 = 2;

fn is_ident_start(b: u8) -> bool {
    CLASSES[usize::from(b)] & IDENT_START != 0
}

fn is_ident_continue(b: u8) -> bool {
    CLASSES[usize::from(b)] & IDENT_CONTINUE != 0
}

/// The first occurrence of `needle` in `haystack` at or after `from`. Linear because callers
/// bound `needle` to a few dozen bytes.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let rest = haystack.get(from..)?;
    let mut offset = 0;
    while let Some(i) = rest.get(offset..)?.iter().position(|&b| b == first) {
        let at = offset + i;
        if rest.get(at..at + needle.len()) == Some(needle) {
            return Some(from + at);
        }
        offset = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(sql: &str, dialect: Dialect) -> String {
        sanitize(sql, dialect).into_owned()
    }

    fn summary(sql: &str) -> Option<String> {
        summarize(sql, Dialect::Generic)
    }

    #[test]
    fn strings_with_escaped_quotes() {
        assert_eq!(
            text("SELECT 'it''s', 'a' FROM t", Dialect::Postgres),
            "SELECT ?, ? FROM t"
        );
        assert_eq!(
            text(r"SELECT 'a\'b' FROM t WHERE x = 'c'", Dialect::MySql),
            "SELECT ? FROM t WHERE x = ?"
        );
        // Standard strings: the backslash is a plain character.
        assert_eq!(
            text(r"SELECT 'a\' , 'b'", Dialect::Postgres),
            "SELECT ? , ?"
        );
        assert_eq!(
            text(r#"SELECT "col" FROM t WHERE a = "secret""#, Dialect::MySql),
            "SELECT ? FROM t WHERE a = ?"
        );
    }

    #[test]
    fn escape_strings() {
        assert_eq!(
            text(r"SELECT E'it\'s \\ here', e'x' FROM t", Dialect::Postgres),
            "SELECT ?, ? FROM t"
        );
        assert_eq!(
            text(r"SELECT name FROM t WHERE e = 'x'", Dialect::Postgres),
            "SELECT name FROM t WHERE e = ?"
        );
    }

    #[test]
    fn dollar_quotes() {
        assert_eq!(
            text("SELECT $$it's$$, $tag$a$$b$tag$ FROM t", Dialect::Postgres),
            "SELECT ?, ? FROM t"
        );
        assert_eq!(
            text(
                "DO $a$ BEGIN $b$ inner 'q' $b$; 42; END $a$; SELECT 1",
                Dialect::Postgres
            ),
            "DO ?; SELECT ?"
        );
        assert_eq!(
            text("SELECT $1, $2 FROM t WHERE a$b = 3", Dialect::Postgres),
            "SELECT $1, $2 FROM t WHERE a$b = ?"
        );
        assert_eq!(
            text("SELECT $x$ never closed", Dialect::Postgres),
            "SELECT ?"
        );
    }

    #[test]
    fn comments_containing_quotes() {
        assert_eq!(
            text("/* it's */ SELECT 'a' -- don't\nFROM t", Dialect::Postgres),
            "/* it's */ SELECT ? -- don't\nFROM t"
        );
        assert_eq!(
            text("/* a /* nested ' */ still */ SELECT 1", Dialect::Postgres),
            "/* a /* nested ' */ still */ SELECT ?"
        );
        assert_eq!(
            text("SELECT 1 # it's mysql\n, 'x'", Dialect::MySql),
            "SELECT ? # it's mysql\n, ?"
        );
        assert_eq!(
            text("SELECT 1 /* open", Dialect::Sqlite),
            "SELECT ? /* open"
        );
        assert_eq!(text("SELECT a--1", Dialect::MySql), "SELECT a-?");
    }

    #[test]
    fn numbers() {
        assert_eq!(
            text(
                "SELECT * FROM t1 JOIN t2 ON t1.id = t2.id WHERE c3 > 10",
                Dialect::Postgres
            ),
            "SELECT * FROM t1 JOIN t2 ON t1.id = t2.id WHERE c3 > ?"
        );
        assert_eq!(
            text(
                "SELECT -5, a - 5, a-5, 1.5e-3, .5, -.5, 1_000 FROM t",
                Dialect::Postgres
            ),
            "SELECT ?, a - ?, a-?, ?, ?, ?, ? FROM t"
        );
        assert_eq!(
            text(
                "SELECT 0xFF, 0b101, x'1F', X'2a', b'01', N'nat'",
                Dialect::MySql
            ),
            "SELECT ?, ?, ?, ?, ?, ?"
        );
        assert_eq!(
            text(
                "SELECT * FROM t WHERE a = TRUE OR b = false AND c IS NULL",
                Dialect::Sqlite
            ),
            "SELECT * FROM t WHERE a = ? OR b = ? AND c IS NULL"
        );
    }

    #[test]
    fn placeholders_are_kept() {
        for sql in [
            "SELECT * FROM t WHERE a = ? AND b = ?1",
            "SELECT * FROM t WHERE a = $1 AND b = $2",
            "SELECT * FROM t WHERE a = :name AND b = @p1 AND c = $named",
            "SELECT a::text FROM t",
        ] {
            let dialect = if sql.contains("$named") {
                Dialect::Sqlite
            } else {
                Dialect::Postgres
            };
            assert!(matches!(sanitize(sql, dialect), Cow::Borrowed(_)), "{sql}");
        }
    }

    #[test]
    fn in_lists_collapse() {
        assert_eq!(
            text("SELECT * FROM t WHERE id IN (1, 2, 3)", Dialect::Postgres),
            "SELECT * FROM t WHERE id IN (?)"
        );
        assert_eq!(
            text(
                "SELECT * FROM t WHERE id in ('a','b') AND x IN (SELECT 1)",
                Dialect::Postgres
            ),
            "SELECT * FROM t WHERE id in (?) AND x IN (SELECT ?)"
        );
        assert_eq!(
            text("SELECT * FROM t WHERE id IN ($1, $2)", Dialect::Postgres),
            "SELECT * FROM t WHERE id IN ($1, $2)"
        );
        assert_eq!(
            text("SELECT * FROM t WHERE id IN (1, $1)", Dialect::Postgres),
            "SELECT * FROM t WHERE id IN (?, $1)"
        );
        assert_eq!(
            text("SELECT * FROM t WHERE id IN (-1, 2", Dialect::Postgres),
            "SELECT * FROM t WHERE id IN (?, ?"
        );
    }

    #[test]
    fn unterminated_literals_hide_the_rest() {
        assert_eq!(text("SELECT 'abc", Dialect::Postgres), "SELECT ?");
        assert_eq!(text("SELECT E'abc\\", Dialect::Postgres), "SELECT ?");
        assert_eq!(text("SELECT \"abc", Dialect::Postgres), "SELECT \"abc");
    }

    #[test]
    fn non_ascii_is_kept_whole() {
        assert_eq!(
            text("SELECT 'é' FROM tablé WHERE ü = 1", Dialect::Postgres),
            "SELECT ? FROM tablé WHERE ü = ?"
        );
    }

    #[test]
    fn summaries() {
        let cases = [
            ("SELECT * FROM users WHERE id = 1", "SELECT users"),
            (
                "select * from users u join orders o on u.id = o.uid",
                "SELECT users orders",
            ),
            ("SELECT * FROM songs, artists", "SELECT songs artists"),
            (
                "INSERT INTO orders SELECT * FROM carts",
                "INSERT orders SELECT carts",
            ),
            (
                "INSERT INTO public.orders (a) VALUES (1)",
                "INSERT public.orders",
            ),
            ("UPDATE accounts SET n = n + 1", "UPDATE accounts"),
            ("DELETE FROM sessions WHERE t < now()", "DELETE sessions"),
            ("SELECT * FROM (SELECT id FROM t) AS s", "SELECT SELECT t"),
            ("SELECT extract(epoch FROM ts) FROM events", "SELECT events"),
            ("SELECT * FROM t FOR UPDATE", "SELECT t"),
            (
                "CREATE TABLE IF NOT EXISTS \"Users\" (id INT REFERENCES a ON DELETE CASCADE)",
                "CREATE TABLE \"Users\"",
            ),
            ("DROP INDEX idx_a", "DROP INDEX idx_a"),
            ("CREATE UNIQUE INDEX i ON t (a)", "CREATE INDEX i"),
            ("BEGIN", "BEGIN"),
            ("commit", "COMMIT"),
            ("PRAGMA foreign_keys = ON", "PRAGMA"),
            (
                "INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2",
                "INSERT t",
            ),
            (
                "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = 2",
                "INSERT t",
            ),
            ("SELECT 1; SELECT 2 FROM `db`.`t`", "SELECT SELECT `db`.`t`"),
            (
                "WITH r AS (SELECT * FROM orders) SELECT * FROM r LEFT JOIN c ON true",
                "SELECT orders SELECT r c",
            ),
            ("TRUNCATE TABLE logs", "TRUNCATE logs"),
        ];
        for (sql, expected) in cases {
            assert_eq!(summary(sql).as_deref(), Some(expected), "{sql}");
        }
        assert_eq!(summary("VALUES (1)"), None);
        assert_eq!(summary("-- only a comment"), None);
    }

    #[test]
    fn summaries_are_cut_at_token_boundaries() {
        let sql = format!("SELECT * FROM {}", vec!["table_name_x"; 40].join(", "));
        let summary = summary(&sql).unwrap_or_default();
        assert!(summary.len() <= MAX_SUMMARY_LEN, "{}", summary.len());
        assert!(summary.ends_with("table_name_x"), "{summary}");
    }

    #[test]
    fn huge_statements() {
        let sql = format!("SELECT '{}' FROM t", "x".repeat(1 << 20));
        assert_eq!(text(&sql, Dialect::Postgres), "SELECT ? FROM t");
        let many = format!(
            "SELECT * FROM t WHERE id IN ({})",
            vec!["1"; 100_000].join(",")
        );
        assert_eq!(
            text(&many, Dialect::Postgres),
            "SELECT * FROM t WHERE id IN (?)"
        );
    }
}
