//! Prints an [`Expr`] back to canonical PQL text, adding only the parentheses precedence needs,
//! so that `parse(print(e)) == e` for every tree the parser can produce.

use crate::ast::*;
use std::fmt::Write;

/// Canonical PQL text of an expression.
pub fn print(e: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, e, 0);
    out
}

const P_OR: u8 = 1;
const P_AND: u8 = 2;
const P_NOT: u8 = 3;
const P_CMP: u8 = 4;
const P_ADD: u8 = 5;
const P_MUL: u8 = 6;
const P_NEG: u8 = 7;
const P_ATOM: u8 = 8;

fn prec(e: &Expr) -> u8 {
    match e {
        Expr::Lambda { .. } | Expr::Let { .. } | Expr::Query(_) => 0,
        Expr::Or(_) => P_OR,
        Expr::And(_) => P_AND,
        Expr::Not(_) => P_NOT,
        Expr::Occurs { .. } => P_CMP,
        Expr::Binary { op, .. } => match op {
            BinOp::Add | BinOp::Sub => P_ADD,
            BinOp::Mul | BinOp::Div | BinOp::Rem => P_MUL,
            _ => P_CMP,
        },
        Expr::Neg(_) => P_NEG,
        _ => P_ATOM,
    }
}

/// Writes `e`, parenthesised when its precedence is below `min`.
fn write_expr(out: &mut String, e: &Expr, min: u8) {
    if prec(e) < min {
        out.push('(');
        write_expr(out, e, 0);
        out.push(')');
        return;
    }
    match e {
        Expr::Null => out.push_str("null"),
        Expr::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Expr::Num(n) => write_num(out, *n),
        Expr::Str(s) => write_str(out, s),
        Expr::List(items) => {
            out.push('[');
            write_list(out, items);
            out.push(']');
        }
        Expr::Now => out.push_str("now"),
        Expr::Today => out.push_str("today"),
        Expr::Yesterday => out.push_str("yesterday"),
        Expr::Tomorrow => out.push_str("tomorrow"),
        Expr::Path(p) => write_path(out, p),
        Expr::Index { target, index } => {
            write_expr(out, target, P_ATOM);
            out.push('[');
            write_expr(out, index, 0);
            out.push(']');
        }
        Expr::Method {
            target,
            method,
            args,
        } => {
            write_expr(out, target, P_ATOM);
            out.push('.');
            out.push_str(method.name());
            out.push('(');
            write_list(out, args);
            out.push(')');
        }
        Expr::Call { func, args } => {
            out.push_str(func.name());
            out.push('(');
            write_list(out, args);
            out.push(')');
        }
        Expr::Not(inner) => {
            out.push_str("not(");
            write_expr(out, inner, 0);
            out.push(')');
        }
        Expr::Neg(inner) => {
            out.push_str("-(");
            write_expr(out, inner, 0);
            out.push(')');
        }
        Expr::And(items) | Expr::Or(items) => {
            let (word, p) = if matches!(e, Expr::And(_)) {
                (" and ", P_AND + 1)
            } else {
                (" or ", P_OR + 1)
            };
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(word);
                }
                write_expr(out, item, p);
            }
        }
        Expr::Binary { op, lhs, rhs } => {
            let (sym, p) = match op {
                BinOp::Cmp(c) => (c.symbol(), P_CMP),
                BinOp::Add => ("+", P_ADD),
                BinOp::Sub => ("-", P_ADD),
                BinOp::Mul => ("*", P_MUL),
                BinOp::Div => ("/", P_MUL),
                BinOp::Rem => ("%", P_MUL),
                BinOp::In => ("in", P_CMP),
                BinOp::NotIn => ("notIn", P_CMP),
                BinOp::Like => ("like", P_CMP),
                BinOp::Matches => ("matches", P_CMP),
            };
            // Arithmetic is left-associative; comparisons do not chain.
            let left_min = if p == P_CMP { P_CMP + 1 } else { p };
            write_expr(out, lhs, left_min);
            let _ = write!(out, " {sym} ");
            write_expr(out, rhs, p + 1);
        }
        Expr::Occurs { subject, when } => {
            write_expr(out, subject, P_ADD);
            out.push_str(" occurs ");
            write_occurs(out, when);
        }
        Expr::Query(q) => write_query(out, q),
        Expr::Chain(steps) => {
            out.push_str("chain(xEvent, timestamp, [");
            for (i, s) in steps.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{}: WHAT(", s.label);
                write_expr(out, &s.what, 0);
                out.push(')');
                if let Some(w) = &s.when {
                    out.push_str(" WHEN(");
                    write_occurs(out, w);
                    out.push(')');
                }
                if let Some(n) = s.count {
                    let _ = write!(out, " COUNT({n})");
                }
                if let Some(w) = &s.where_ {
                    out.push_str(" WHERE(");
                    write_expr(out, w, 0);
                    out.push(')');
                }
            }
            out.push_str("])");
        }
        Expr::Let { name, value, body } => {
            let _ = write!(out, "let {name} = (");
            write_expr(out, value, 0);
            out.push_str(") in (");
            write_expr(out, body, 0);
            out.push(')');
        }
        Expr::Lambda { params, body } => {
            let _ = write!(out, "({}) => ", params.join(", "));
            write_expr(out, body, 0);
        }
    }
}

fn write_list(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_expr(out, item, 0);
    }
}

fn write_num(out: &mut String, n: f64) {
    // `Display` for f64 is the shortest text that reads back to the same value.
    let _ = write!(out, "{n}");
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_path(out: &mut String, p: &Path) {
    let mut first = true;
    match &p.base {
        Base::Implicit(0) => {}
        Base::Implicit(n) => {
            out.push_str(&"^".repeat(*n as usize));
            first = false;
        }
        Base::Var(v) => {
            out.push_str(v);
            first = false;
        }
        Base::Param(n) => {
            let _ = write!(out, "${n}");
            first = false;
        }
        Base::XEvent => {
            out.push_str("xEvent");
            first = false;
        }
        Base::Expr(e) => {
            write_expr(out, e, P_ATOM);
            first = false;
        }
    }
    for f in &p.fields {
        if !first {
            out.push('.');
        }
        out.push_str(f);
        first = false;
    }
}

fn write_occurs(out: &mut String, o: &Occurs) {
    match o {
        Occurs::Relative {
            cmp,
            n,
            unit,
            dir,
            anchor,
        } => {
            let d = match dir {
                Dir::Before => "before",
                Dir::After => "after",
            };
            let _ = write!(out, "{} {n} {} {d} ", cmp.symbol(), unit.word(*n != 1));
            write_anchor(out, anchor);
        }
        Occurs::Before(a) => {
            out.push_str("before ");
            write_anchor(out, a);
        }
        Occurs::After(a) => {
            out.push_str("after ");
            write_anchor(out, a);
        }
        Occurs::On(a) => {
            if matches!(a, Anchor::Expr(_)) {
                out.push_str("on ");
            }
            write_anchor(out, a);
        }
        Occurs::Between(a, b) => {
            out.push_str("between ");
            write_anchor(out, a);
            out.push_str(" and ");
            write_anchor(out, b);
        }
    }
}

fn write_anchor(out: &mut String, a: &Anchor) {
    match a {
        Anchor::Now => out.push_str("now"),
        Anchor::Today => out.push_str("today"),
        Anchor::Yesterday => out.push_str("yesterday"),
        Anchor::Tomorrow => out.push_str("tomorrow"),
        Anchor::This(u) => {
            let _ = write!(out, "this {}", u.word(false));
        }
        Anchor::Last(u) => {
            let _ = write!(out, "last {}", u.word(false));
        }
        Anchor::Next(u) => {
            let _ = write!(out, "next {}", u.word(false));
        }
        Anchor::Expr(e) => write_expr(out, e, P_ADD),
    }
}

fn write_query(out: &mut String, q: &Query) {
    match &q.kind {
        QueryKind::Select => out.push_str("select "),
        QueryKind::Exists => out.push_str("exists "),
        QueryKind::Forall => out.push_str("forall "),
        QueryKind::Sum(v) | QueryKind::Average(v) | QueryKind::Min(v) | QueryKind::Max(v) => {
            let word = match &q.kind {
                QueryKind::Sum(_) => "sum",
                QueryKind::Average(_) => "average",
                QueryKind::Min(_) => "min",
                _ => "max",
            };
            let _ = write!(out, "{word} ");
            write_expr(out, v, P_ADD);
            out.push_str(" over ");
        }
    }
    for (i, b) in q.bindings.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{} from ", b.var);
        write_expr(out, &b.source, P_ADD);
        if let Some(c) = &b.cond {
            out.push_str(" where ");
            write_expr(out, c, P_OR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn canon(s: &str) -> String {
        match parse(s) {
            Ok(e) => print(&e),
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn prints_canonical_text() {
        assert_eq!(canon("a=1"), "a = 1");
        assert_eq!(canon("not(  a = 1 )"), "not(a = 1)");
        assert_eq!(canon("(a + b) * c"), "(a + b) * c");
        assert_eq!(canon("a - (b - c)"), "a - (b - c)");
        assert_eq!(
            canon(
                "CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals(\"x\", false)) WHEN(today)])"
            ),
            "chain(xEvent, timestamp, [C0: WHAT(eventType.equals(\"x\", false)) WHEN(today)])"
        );
        assert_eq!(canon("gender in (\"f\",\"n\")"), "gender in [\"f\", \"n\"]");
        assert_eq!(
            canon("x occurs <= 1 months before today"),
            "x occurs <= 1 month before today"
        );
    }
}
