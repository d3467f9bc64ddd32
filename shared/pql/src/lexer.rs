//! Turns PQL text into tokens with byte spans. Keywords are ordinary identifiers here: the
//! parser decides from context, so field names like `count` or `from` still work after a dot.

use crate::error::{Diagnostic, ErrorKind, Errors};

/// One token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Identifier or keyword.
    Ident(String),
    /// String literal, escapes resolved.
    Str(String),
    /// Number literal; `int` is set when it was written without fraction or exponent.
    Num {
        value: f64,
        int: Option<u64>,
    },
    /// `$n` positional parameter.
    Param(u32),
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Comma,
    Dot,
    Colon,
    Caret,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    Arrow,
    At,
    Eof,
}

impl Tok {
    /// How the token is shown in "found …" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Str(s) => format!("string \"{}\"", truncate(s)),
            Tok::Num { value, .. } => format!("number {value}"),
            Tok::Param(n) => format!("'${n}'"),
            Tok::Eof => "end of input".to_string(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::Colon => ":",
            Tok::Caret => "^",
            Tok::Eq => "=",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Percent => "%",
            Tok::Bang => "!",
            Tok::Arrow => "=>",
            Tok::At => "@",
            _ => "?",
        }
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 24 {
        let head: String = s.chars().take(24).collect();
        format!("{head}…")
    } else {
        s.to_string()
    }
}

/// A token and where it starts and ends (byte offsets).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub fn lex(src: &str) -> Result<Vec<Token>, Errors> {
    let bytes = src.as_bytes();
    let mut out: Vec<Token> = Vec::new();
    let mut i = 0usize;
    let err = |kind, at: usize, found: String, message: String| {
        Errors::one(Diagnostic::new(src, kind, at, None, found, message))
    };
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let simple = match c {
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            b'^' => Some(Tok::Caret),
            b'+' => Some(Tok::Plus),
            b'-' => Some(Tok::Minus),
            b'*' => Some(Tok::Star),
            b'/' => Some(Tok::Slash),
            b'%' => Some(Tok::Percent),
            b'@' => Some(Tok::At),
            _ => None,
        };
        if let Some(tok) = simple {
            i += 1;
            out.push(Token { tok, start, end: i });
            continue;
        }
        let next = bytes.get(i + 1).copied();
        match c {
            b'=' | b'!' | b'<' | b'>' => {
                let (tok, len) = match (c, next) {
                    (b'=', Some(b'>')) => (Tok::Arrow, 2),
                    (b'=', Some(b'=')) => (Tok::Eq, 2),
                    (b'=', _) => (Tok::Eq, 1),
                    (b'!', Some(b'=')) => (Tok::Ne, 2),
                    (b'!', _) => (Tok::Bang, 1),
                    (b'<', Some(b'=')) => (Tok::Le, 2),
                    (b'<', Some(b'>')) => (Tok::Ne, 2),
                    (b'<', _) => (Tok::Lt, 1),
                    (b'>', Some(b'=')) => (Tok::Ge, 2),
                    _ => (Tok::Gt, 1),
                };
                i += len;
                out.push(Token { tok, start, end: i });
            }
            b'.' => {
                let prev_is_value = matches!(
                    out.last().map(|t| &t.tok),
                    Some(
                        Tok::Ident(_)
                            | Tok::RParen
                            | Tok::RBracket
                            | Tok::Str(_)
                            | Tok::Num { .. }
                            | Tok::Param(_)
                    )
                );
                if !prev_is_value && next.is_some_and(|n| n.is_ascii_digit()) {
                    let (tok, end) = lex_number(src, i)?;
                    i = end;
                    out.push(Token { tok, start, end });
                } else {
                    i += 1;
                    out.push(Token {
                        tok: Tok::Dot,
                        start,
                        end: i,
                    });
                }
            }
            b'0'..=b'9' => {
                let (tok, end) = lex_number(src, i)?;
                i = end;
                out.push(Token { tok, start, end });
            }
            b'"' => {
                let (s, end) = lex_string(src, i)?;
                if bytes
                    .get(end)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                {
                    // `"abc) and f("def"` lexes as one string followed by `def`: the real
                    // problem is a missing quote inside the first string.
                    let ch = src.get(end..).and_then(|r| r.chars().next()).unwrap_or('?');
                    return Err(err(
                        ErrorKind::Syntax,
                        start,
                        format!("'{ch}'"),
                        format!(
                            "this string is directly followed by '{ch}': a closing '\"' is probably missing inside it"
                        ),
                    ));
                }
                i = end;
                out.push(Token {
                    tok: Tok::Str(s),
                    start,
                    end,
                });
            }
            b'\'' => {
                return Err(err(
                    ErrorKind::Unsupported,
                    start,
                    "'''".to_string(),
                    "unsupported: single-quoted string; PQL strings use double quotes (\"…\")"
                        .to_string(),
                ));
            }
            b'$' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                let n: Option<u32> = src.get(i + 1..j).and_then(|d| d.parse().ok());
                match n {
                    Some(n) if n >= 1 => {
                        i = j;
                        out.push(Token {
                            tok: Tok::Param(n),
                            start,
                            end: i,
                        });
                    }
                    _ => {
                        return Err(err(
                            ErrorKind::Syntax,
                            start,
                            "'$'".to_string(),
                            "expected a parameter number after '$' (as in $1)".to_string(),
                        ));
                    }
                }
            }
            c if c == b'_' || c.is_ascii_alphabetic() => {
                let mut j = i + 1;
                while j < bytes.len() && (bytes[j] == b'_' || bytes[j].is_ascii_alphanumeric()) {
                    j += 1;
                }
                let word = src.get(i..j).unwrap_or_default().to_string();
                i = j;
                out.push(Token {
                    tok: Tok::Ident(word),
                    start,
                    end: i,
                });
            }
            _ => {
                let ch = src.get(i..).and_then(|s| s.chars().next()).unwrap_or('?');
                let message = match ch {
                    '\u{201C}' | '\u{201D}' | '\u{201E}' => format!(
                        "typographic quote '{ch}' is not a string delimiter; use a straight double quote (\")"
                    ),
                    '\u{2018}' | '\u{2019}' => format!(
                        "typographic quote '{ch}' is not a string delimiter; use a straight double quote (\")"
                    ),
                    _ => format!("unexpected character '{ch}'"),
                };
                return Err(err(ErrorKind::Syntax, start, format!("'{ch}'"), message));
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        start: src.len(),
        end: src.len(),
    });
    Ok(out)
}

fn lex_number(src: &str, start: usize) -> Result<(Tok, usize), Errors> {
    let bytes = src.as_bytes();
    let mut j = start;
    let mut int = true;
    while j < bytes.len() && bytes[j].is_ascii_digit() {
        j += 1;
    }
    if j < bytes.len() && bytes[j] == b'.' && bytes.get(j + 1).is_some_and(|b| b.is_ascii_digit()) {
        int = false;
        j += 1;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
    }
    if j < bytes.len() && (bytes[j] == b'e' || bytes[j] == b'E') {
        let mut k = j + 1;
        if k < bytes.len() && (bytes[k] == b'+' || bytes[k] == b'-') {
            k += 1;
        }
        if k < bytes.len() && bytes[k].is_ascii_digit() {
            int = false;
            while k < bytes.len() && bytes[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    let text = src.get(start..j).unwrap_or_default();
    let value: f64 = text.parse().unwrap_or(f64::NAN);
    if !value.is_finite() {
        return Err(Errors::one(Diagnostic::new(
            src,
            ErrorKind::Syntax,
            start,
            Some("a finite number".to_string()),
            text.to_string(),
            format!("number {text} is out of range"),
        )));
    }
    let int = if int { text.parse::<u64>().ok() } else { None };
    Ok((Tok::Num { value, int }, j))
}

fn lex_string(src: &str, start: usize) -> Result<(String, usize), Errors> {
    let mut out = String::new();
    let rest = src.get(start + 1..).unwrap_or_default();
    let mut chars = rest.char_indices().peekable();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + k + 1)),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 'u')) => {
                    let mut code = 0u32;
                    let mut ok = true;
                    for _ in 0..4 {
                        match chars.next().and_then(|(_, h)| h.to_digit(16)) {
                            Some(d) => code = code * 16 + d,
                            None => ok = false,
                        }
                    }
                    match char::from_u32(code) {
                        Some(ch) if ok => out.push(ch),
                        _ => {
                            return Err(Errors::one(Diagnostic::new(
                                src,
                                ErrorKind::Syntax,
                                start + 1 + k,
                                Some("four hex digits after \\u".to_string()),
                                "invalid escape".to_string(),
                                "invalid \\u escape in string".to_string(),
                            )));
                        }
                    }
                }
                // Lenient: an unknown escape keeps its backslash, so regexes written with a
                // single backslash (`"\w"`) still mean what the author intended.
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            },
            _ => out.push(c),
        }
    }
    Err(Errors::one(Diagnostic::new(
        src,
        ErrorKind::Syntax,
        start,
        Some("a closing '\"'".to_string()),
        "end of input".to_string(),
        "unterminated string: this string never closes (missing '\"')".to_string(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s)
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn lexes_operators_numbers_and_strings() {
        assert_eq!(
            toks("a.b >= .45 != \"x\\\"y\""),
            vec![
                Tok::Ident("a".into()),
                Tok::Dot,
                Tok::Ident("b".into()),
                Tok::Ge,
                Tok::Num {
                    value: 0.45,
                    int: None
                },
                Tok::Ne,
                Tok::Str("x\"y".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("2.02E-12"),
            vec![
                Tok::Num {
                    value: 2.02e-12,
                    int: None
                },
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("5.count")[0],
            Tok::Num {
                value: 5.0,
                int: Some(5)
            }
        );
    }

    #[test]
    fn regex_backslashes() {
        assert_eq!(toks("\"@(\\\\w+)\"")[0], Tok::Str("@(\\w+)".into()));
        assert_eq!(toks("\"\\w\"")[0], Tok::Str("\\w".into()));
    }

    #[test]
    fn rejects_bad_quotes_with_positions() {
        let e = lex("a = \u{201C}CA\"")
            .err()
            .and_then(|e| e.first().cloned());
        assert_eq!(e.map(|d| (d.offset, d.kind)), Some((4, ErrorKind::Syntax)));
        let e = lex("x = 'US'").err().and_then(|e| e.first().cloned());
        assert_eq!(e.map(|d| d.kind), Some(ErrorKind::Unsupported));
        let e = lex("inSegment(\"abc)")
            .err()
            .and_then(|e| e.first().cloned());
        assert!(e.is_some_and(|d| d.message.contains("unterminated") && d.offset == 10));
    }
}
