//! Recursive-descent parser from PQL text to [`Expr`]. Bounded: the source length and the
//! nesting depth are capped, so no input can exhaust the stack, and every failure is a
//! positioned [`Diagnostic`] saying what was expected and what was found.

use crate::ast::*;
use crate::error::{Diagnostic, ErrorKind, Errors};
use crate::lexer::{Tok, Token, lex};

/// Longest accepted definition, in bytes. Real definitions are a few hundred bytes; the cap
/// keeps publish-time work and plan size bounded.
pub const MAX_SOURCE_LEN: usize = 64 * 1024;

/// Deepest accepted nesting (parentheses, function arguments, operator chains, method chains).
/// Evaluation, printing and analysis recurse along the same structure, so this also bounds
/// their stack use. The parentheses right after `not`, `!` or unary `-` (`not(x)`, `-(x)`)
/// belong to the operator and count no level of their own, so the canonical text
/// ([`crate::print`]) of an accepted definition is always accepted too.
pub const MAX_DEPTH: usize = 64;

/// Words that never start a profile path, so they cannot be variable or top-level field names.
const RESERVED: &[&str] = &[
    "and",
    "or",
    "not",
    "in",
    "notIn",
    "like",
    "matches",
    "occurs",
    "select",
    "from",
    "where",
    "over",
    "exists",
    "forall",
    "let",
    "true",
    "false",
    "null",
    "now",
    "today",
    "yesterday",
    "tomorrow",
    "xEvent",
    "chain",
    "CHAIN",
    "this",
    "sum",
    "average",
    "avg",
    "min",
    "max",
    "between",
    "before",
    "after",
    "on",
    "last",
    "next",
];

/// Whether `w` is reserved (cannot be a variable name or the first field of a profile path).
pub fn is_reserved(w: &str) -> bool {
    RESERVED.contains(&w)
}

/// Parses a PQL definition.
pub fn parse(src: &str) -> Result<Expr, Errors> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(Errors::one(Diagnostic::new(
            src,
            ErrorKind::Limit,
            MAX_SOURCE_LEN,
            None,
            format!("{} bytes", src.len()),
            format!(
                "definition is too long ({} bytes, limit {MAX_SOURCE_LEN}); split it into segments combined with inSegment()",
                src.len()
            ),
        )));
    }
    let toks = lex(src)?;
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
        operand_parens: false,
        scope: Vec::new(),
        elem_depth: 0,
    };
    if matches!(p.peek(), Tok::Eof) {
        return Err(p.expected("an expression"));
    }
    let e = p.expr()?;
    if !matches!(p.peek(), Tok::Eof) {
        return Err(p.expected("an operator or the end of the expression"));
    }
    Ok(e)
}

type PResult<T> = Result<T, Errors>;

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Set by `not`, `!` and unary `-` when a `(` follows: those parentheses belong to the
    /// operator (`not(x)`, `-(x)`, the canonical form [`crate::print`] writes) and cost no
    /// nesting level of their own, so printed text is never deeper than what was parsed.
    operand_parens: bool,
    scope: Vec<String>,
    elem_depth: u8,
}

impl Parser<'_> {
    fn tok_at(&self, k: usize) -> &Token {
        let i = (self.pos + k).min(self.toks.len().saturating_sub(1));
        &self.toks[i]
    }

    fn peek(&self) -> &Tok {
        &self.tok_at(0).tok
    }

    fn peek_at(&self, k: usize) -> &Tok {
        &self.tok_at(k).tok
    }

    fn offset(&self) -> usize {
        self.tok_at(0).start
    }

    fn bump(&mut self) -> Token {
        let t = self.tok_at(0).clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }

    fn is_word_at(&self, k: usize, w: &str) -> bool {
        matches!(self.peek_at(k), Tok::Ident(s) if s == w)
    }

    fn is_word_ci(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(w))
    }

    fn expected(&self, what: &str) -> Errors {
        let found = self.peek().describe();
        Errors::one(Diagnostic::new(
            self.src,
            ErrorKind::Syntax,
            self.offset(),
            Some(what.to_string()),
            found.clone(),
            format!("expected {what}, found {found}"),
        ))
    }

    fn fail(&self, kind: ErrorKind, at: usize, message: String) -> Errors {
        let found = self
            .toks
            .iter()
            .find(|t| t.start >= at)
            .map(|t| t.tok.describe())
            .unwrap_or_else(|| "end of input".to_string());
        Errors::one(Diagnostic::new(self.src, kind, at, None, found, message))
    }

    fn unsupported(&self, at: usize, what: &str) -> Errors {
        self.fail(ErrorKind::Unsupported, at, format!("unsupported: {what}"))
    }

    fn expect(&mut self, tok: Tok, what: &str) -> PResult<Token> {
        if *self.peek() == tok {
            Ok(self.bump())
        } else {
            Err(self.expected(what))
        }
    }

    fn expect_word(&mut self, w: &str) -> PResult<()> {
        if self.is_word(w) {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(&format!("'{w}'")))
        }
    }

    fn ident(&mut self, what: &str) -> PResult<String> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.bump();
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.fail(
                ErrorKind::Limit,
                self.offset(),
                format!(
                    "expression is nested too deeply (more than {MAX_DEPTH} levels); simplify it or split it into segments combined with inSegment()"
                ),
            ));
        }
        Ok(())
    }

    fn leave(&mut self, n: usize) {
        self.depth = self.depth.saturating_sub(n);
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.or();
        self.leave(1);
        e
    }

    fn or(&mut self) -> PResult<Expr> {
        let first = self.and()?;
        if !self.is_word("or") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_word("or") {
            self.bump();
            items.push(self.and()?);
        }
        Ok(Expr::Or(items))
    }

    fn and(&mut self) -> PResult<Expr> {
        let first = self.not()?;
        if !self.is_word("and") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_word("and") {
            self.bump();
            items.push(self.not()?);
        }
        Ok(Expr::And(items))
    }

    fn not(&mut self) -> PResult<Expr> {
        if self.is_word("not") || matches!(self.peek(), Tok::Bang) {
            self.bump();
            self.enter()?;
            self.operand_parens = matches!(self.peek(), Tok::LParen);
            let inner = self.not();
            self.leave(1);
            return Ok(Expr::Not(Box::new(inner?)));
        }
        self.cmp()
    }

    fn cmp_op(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Eq => BinOp::Cmp(CmpOp::Eq),
            Tok::Ne => BinOp::Cmp(CmpOp::Ne),
            Tok::Lt => BinOp::Cmp(CmpOp::Lt),
            Tok::Le => BinOp::Cmp(CmpOp::Le),
            Tok::Gt => BinOp::Cmp(CmpOp::Gt),
            Tok::Ge => BinOp::Cmp(CmpOp::Ge),
            Tok::Ident(w) => match w.as_str() {
                "in" => BinOp::In,
                "notIn" => BinOp::NotIn,
                "like" => BinOp::Like,
                "matches" => BinOp::Matches,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn cmp(&mut self) -> PResult<Expr> {
        let lhs = self.additive()?;
        let e = if self.is_word("occurs") {
            self.bump();
            let when = self.occurs_tail()?;
            Expr::Occurs {
                subject: Box::new(lhs),
                when,
            }
        } else if let Some(op) = self.cmp_op() {
            self.bump();
            let rhs = self.additive()?;
            Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            }
        } else {
            return Ok(lhs);
        };
        if self.cmp_op().is_some() || self.is_word("occurs") {
            return Err(self.fail(
                ErrorKind::Syntax,
                self.offset(),
                format!(
                    "comparisons cannot be chained: found {} after a comparison; add parentheses or join with 'and'",
                    self.peek().describe()
                ),
            ));
        }
        Ok(e)
    }

    fn additive(&mut self) -> PResult<Expr> {
        let mut lhs = self.mul()?;
        let mut extra = 0;
        loop {
            let op = match self.peek() {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => break,
            };
            self.bump();
            self.enter()?;
            extra += 1;
            let rhs = self.mul()?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(extra);
        Ok(lhs)
    }

    fn mul(&mut self) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        let mut extra = 0;
        loop {
            let op = match self.peek() {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                _ => break,
            };
            self.bump();
            self.enter()?;
            extra += 1;
            let rhs = self.unary()?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        self.leave(extra);
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        if matches!(self.peek(), Tok::Minus) && !matches!(self.peek_at(1), Tok::Num { .. }) {
            self.bump();
            self.enter()?;
            self.operand_parens = matches!(self.peek(), Tok::LParen);
            let inner = self.unary();
            self.leave(1);
            return Ok(Expr::Neg(Box::new(inner?)));
        }
        self.postfix()
    }

    fn postfix(&mut self) -> PResult<Expr> {
        let mut e = self.primary()?;
        let mut extra = 0;
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    let at = self.offset();
                    let name = self.ident("a field or method name after '.'")?;
                    if matches!(self.peek(), Tok::LParen) {
                        self.enter()?;
                        extra += 1;
                        e = self.method(e, &name, at)?;
                    } else {
                        e = match e {
                            Expr::Path(mut p) => {
                                p.fields.push(name);
                                Expr::Path(p)
                            }
                            other => {
                                self.enter()?;
                                extra += 1;
                                Expr::Path(Path {
                                    base: Base::Expr(Box::new(other)),
                                    fields: vec![name],
                                })
                            }
                        };
                    }
                }
                Tok::LBracket => {
                    self.bump();
                    self.enter()?;
                    extra += 1;
                    self.elem_depth = self.elem_depth.saturating_add(1);
                    let idx = self.expr();
                    self.elem_depth = self.elem_depth.saturating_sub(1);
                    let idx = idx?;
                    self.expect(Tok::RBracket, "']'")?;
                    e = Expr::Index {
                        target: Box::new(e),
                        index: Box::new(idx),
                    };
                }
                _ => break,
            }
        }
        self.leave(extra);
        Ok(e)
    }

    fn method(&mut self, target: Expr, name: &str, at: usize) -> PResult<Expr> {
        match name {
            "matches" => {
                let args = self.args(false)?;
                return match <[Expr; 1]>::try_from(args) {
                    Ok([pattern]) => Ok(Expr::Binary {
                        op: BinOp::Matches,
                        lhs: Box::new(target),
                        rhs: Box::new(pattern),
                    }),
                    Err(_) => Err(self.fail(
                        ErrorKind::Syntax,
                        at,
                        "matches() takes exactly one argument (the regular expression)".into(),
                    )),
                };
            }
            "groupBy" | "map" | "mapEntry" => {
                return Err(self.unsupported(
                    at,
                    &format!(
                        "{name}() (computed-attribute expressions are not segment definitions)"
                    ),
                ));
            }
            _ => {}
        }
        let Some(method) = Method::from_name(name) else {
            return Err(self.unsupported(at, &format!("unknown function '{name}()'")));
        };
        let args = self.args(method.element_wise())?;
        let (lo, hi) = method.arity();
        if args.len() < lo || args.len() > hi {
            return Err(self.fail(
                ErrorKind::Syntax,
                at,
                arity_message(name, lo, hi, args.len()),
            ));
        }
        Ok(Expr::Method {
            target: Box::new(target),
            method,
            args,
        })
    }

    /// `( a, b, … )`; when `first_element_wise`, the first argument is parsed relative to the
    /// element (one more implicit level, so `^` can reach the receiver's owner).
    fn args(&mut self, first_element_wise: bool) -> PResult<Vec<Expr>> {
        self.expect(Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if matches!(self.peek(), Tok::RParen) {
            self.bump();
            return Ok(args);
        }
        loop {
            let elem = first_element_wise && args.is_empty();
            if elem {
                self.elem_depth = self.elem_depth.saturating_add(1);
            }
            let a = self.expr();
            if elem {
                self.elem_depth = self.elem_depth.saturating_sub(1);
            }
            args.push(a?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    self.bump();
                    return Ok(args);
                }
                _ => return Err(self.expected("',' or ')'")),
            }
        }
    }

    fn is_lambda(&self) -> bool {
        let mut k = 1;
        loop {
            if !matches!(self.peek_at(k), Tok::Ident(_)) {
                return false;
            }
            k += 1;
            match self.peek_at(k) {
                Tok::Comma => k += 1,
                Tok::RParen => return matches!(self.peek_at(k + 1), Tok::Arrow),
                _ => return false,
            }
        }
    }

    fn primary(&mut self) -> PResult<Expr> {
        let at = self.offset();
        // Only the `(` right after the operator is its own (see `operand_parens`).
        let operand_parens = std::mem::take(&mut self.operand_parens);
        match self.peek().clone() {
            Tok::Num { value, .. } => {
                self.bump();
                Ok(Expr::Num(value))
            }
            Tok::Minus => {
                // Only reached when a number follows (see `unary`): a negative literal.
                self.bump();
                match self.peek().clone() {
                    Tok::Num { value, .. } => {
                        self.bump();
                        Ok(Expr::Num(-value))
                    }
                    _ => Err(self.expected("a number")),
                }
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Expr::Str(s))
            }
            Tok::Param(n) => {
                self.bump();
                Ok(Expr::Path(Path {
                    base: Base::Param(n),
                    fields: Vec::new(),
                }))
            }
            Tok::LBracket => {
                self.bump();
                let items = self.list_items(Tok::RBracket, "',' or ']'")?;
                Ok(Expr::List(items))
            }
            Tok::LParen => {
                if self.is_lambda() {
                    return self.lambda();
                }
                self.bump();
                let first = if operand_parens {
                    self.or()?
                } else {
                    self.expr()?
                };
                if matches!(self.peek(), Tok::Comma) {
                    self.bump();
                    let mut items = vec![first];
                    items.extend(self.list_items(Tok::RParen, "',' or ')'")?);
                    return Ok(Expr::List(items));
                }
                self.expect(Tok::RParen, "')'")?;
                Ok(first)
            }
            Tok::LBrace => Err(self.unsupported(
                at,
                "'{…}' object literals and the pre-2019 brace syntax; write `select X from xEvent where …`",
            )),
            Tok::At => Err(self.unsupported(
                at,
                "context-data references '@{…}' (decisioning only, not segment definitions)",
            )),
            Tok::Caret => {
                let mut n: u8 = 0;
                while matches!(self.peek(), Tok::Caret) {
                    self.bump();
                    n = n.saturating_add(1);
                }
                if n > self.elem_depth {
                    return Err(self.fail(
                        ErrorKind::Syntax,
                        at,
                        format!(
                            "'{}' goes up {n} level(s) but only {} enclosing filter level(s) exist here",
                            "^".repeat(n as usize),
                            self.elem_depth
                        ),
                    ));
                }
                self.expect(Tok::Dot, "'.' after '^'")?;
                let name = self.ident("a field name")?;
                Ok(Expr::Path(Path {
                    base: Base::Implicit(n),
                    fields: vec![name],
                }))
            }
            Tok::Ident(w) => self.word(w, at),
            _ => Err(self.expected("an expression")),
        }
    }

    fn list_items(&mut self, close: Tok, what: &str) -> PResult<Vec<Expr>> {
        let mut items = Vec::new();
        if *self.peek() == close {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.expr()?);
            if matches!(self.peek(), Tok::Comma) {
                self.bump();
            } else if *self.peek() == close {
                self.bump();
                return Ok(items);
            } else {
                return Err(self.expected(what));
            }
        }
    }

    fn lambda(&mut self) -> PResult<Expr> {
        self.bump();
        let mut params = Vec::new();
        loop {
            let at = self.offset();
            let p = self.ident("a parameter name")?;
            if is_reserved(&p) {
                return Err(self.fail(
                    ErrorKind::Syntax,
                    at,
                    format!("'{p}' is a reserved word and cannot name a parameter"),
                ));
            }
            params.push(p);
            if matches!(self.peek(), Tok::Comma) {
                self.bump();
            } else {
                break;
            }
        }
        self.expect(Tok::RParen, "')'")?;
        self.expect(Tok::Arrow, "'=>'")?;
        let n = params.len();
        self.scope.extend(params.iter().cloned());
        let body = self.expr();
        self.scope.truncate(self.scope.len() - n);
        Ok(Expr::Lambda {
            params,
            body: Box::new(body?),
        })
    }

    fn word(&mut self, w: String, at: usize) -> PResult<Expr> {
        if self.scope.contains(&w) {
            self.bump();
            return Ok(Expr::Path(Path {
                base: Base::Var(w),
                fields: Vec::new(),
            }));
        }
        let next = self.peek_at(1).clone();
        let simple = match w.as_str() {
            "true" => Some(Expr::Bool(true)),
            "false" => Some(Expr::Bool(false)),
            "null" => Some(Expr::Null),
            "now" => Some(Expr::Now),
            "today" => Some(Expr::Today),
            "yesterday" => Some(Expr::Yesterday),
            "tomorrow" => Some(Expr::Tomorrow),
            "xEvent" => Some(Expr::Path(Path {
                base: Base::XEvent,
                fields: Vec::new(),
            })),
            _ => None,
        };
        if let Some(e) = simple {
            self.bump();
            return Ok(e);
        }
        let next_is_ident = matches!(next, Tok::Ident(_));
        match w.as_str() {
            "select" if next_is_ident => {
                self.bump();
                return self.query(QueryKindWord::Select);
            }
            "exists" | "forall" if next_is_ident && self.is_word_at(2, "from") => {
                self.bump();
                let k = if w == "exists" {
                    QueryKindWord::Exists
                } else {
                    QueryKindWord::Forall
                };
                return self.query(k);
            }
            "sum" | "average" | "avg" | "min" | "max"
                if (next_is_ident || matches!(next, Tok::Param(_)))
                    && !matches!(&next, Tok::Ident(n) if is_operator_word(n)) =>
            {
                self.bump();
                let k = match w.as_str() {
                    "sum" => QueryKindWord::Sum,
                    "min" => QueryKindWord::Min,
                    "max" => QueryKindWord::Max,
                    _ => QueryKindWord::Average,
                };
                return self.query(k);
            }
            "let" if next_is_ident && matches!(self.peek_at(2), Tok::Eq) => {
                return self.let_expr();
            }
            "chain" | "CHAIN" if matches!(next, Tok::LParen) => return self.chain(),
            "this" => {
                return Err(self.unsupported(
                    at,
                    "'this' (computed-attribute expressions are not segment definitions)",
                ));
            }
            _ => {}
        }
        if matches!(next, Tok::LParen) {
            self.bump();
            if w == "mapEntry" {
                return Err(self.unsupported(
                    at,
                    "mapEntry() (computed-attribute expressions are not segment definitions)",
                ));
            }
            let Some(func) = Func::ALL.iter().copied().find(|f| f.name() == w) else {
                return Err(self.unsupported(at, &format!("unknown function '{w}()'")));
            };
            let args = self.args(false)?;
            let (lo, hi) = func.arity();
            if args.len() < lo || args.len() > hi {
                return Err(self.fail(
                    ErrorKind::Syntax,
                    at,
                    arity_message(&w, lo, hi, args.len()),
                ));
            }
            return Ok(Expr::Call { func, args });
        }
        if is_reserved(&w) {
            return Err(self.expected("an expression"));
        }
        self.bump();
        Ok(Expr::Path(Path {
            base: Base::Implicit(0),
            fields: vec![w],
        }))
    }

    fn let_expr(&mut self) -> PResult<Expr> {
        self.bump();
        let at = self.offset();
        let name = self.ident("a name after 'let'")?;
        if is_reserved(&name) {
            return Err(self.fail(
                ErrorKind::Syntax,
                at,
                format!("'{name}' is a reserved word and cannot be bound with let"),
            ));
        }
        self.expect(Tok::Eq, "'='")?;
        self.enter()?;
        let value = self.additive();
        self.leave(1);
        let value = value?;
        self.expect_word("in")?;
        self.scope.push(name.clone());
        let body = self.expr();
        self.scope.pop();
        Ok(Expr::Let {
            name,
            value: Box::new(value),
            body: Box::new(body?),
        })
    }

    fn query(&mut self, kind: QueryKindWord) -> PResult<Expr> {
        let kind = match kind {
            QueryKindWord::Select => QueryKind::Select,
            QueryKindWord::Exists => QueryKind::Exists,
            QueryKindWord::Forall => QueryKind::Forall,
            agg => return self.aggregate(agg),
        };
        let base = self.scope.len();
        let bindings = self.bindings(None);
        self.scope.truncate(base);
        Ok(Expr::Query(Box::new(Query {
            kind,
            bindings: bindings?,
        })))
    }

    fn aggregate(&mut self, kind: QueryKindWord) -> PResult<Expr> {
        // The value names variables that are bound later (`sum X.price over X from …`), so
        // bring those names into scope before parsing it: a `W from` that starts one of this
        // aggregate's bindings (right after `over` or a comma, at its own nesting level, before
        // any other query at that level), not one of a query nested in or after the aggregate.
        let base = self.scope.len();
        let mut depth = 0i32;
        let mut seen_over = false;
        let mut starts_binding = false;
        for k in self.pos..self.toks.len() {
            let mut next_starts = false;
            match &self.toks[k].tok {
                Tok::LParen | Tok::LBracket => depth += 1,
                Tok::RParen | Tok::RBracket => depth -= 1,
                // Another query at this level: what follows (its `over`, its commas) is
                // its own, not ours.
                Tok::Ident(w)
                    if seen_over
                        && depth == 0
                        && matches!(w.as_str(), "over" | "select" | "exists" | "forall")
                        && !matches!(
                            k.checked_sub(1).map(|j| &self.toks[j].tok),
                            Some(Tok::Dot)
                        ) =>
                {
                    break;
                }
                Tok::Ident(w) if w == "over" && depth == 0 => {
                    seen_over = true;
                    next_starts = true;
                }
                Tok::Comma if seen_over && depth == 0 => next_starts = true,
                Tok::Ident(w) if starts_binding && !is_reserved(w) => {
                    if matches!(self.toks.get(k + 1).map(|t| &t.tok), Some(Tok::Ident(f)) if f == "from")
                    {
                        self.scope.push(w.clone());
                    }
                }
                _ => {}
            }
            starts_binding = next_starts;
            if depth < 0 {
                break;
            }
        }
        let value = self.additive();
        let result = value.and_then(|value| {
            if self.is_word("over") {
                self.bump();
                self.scope.truncate(base);
                self.bindings(None).map(|b| (value, b))
            } else if self.is_word("from") {
                // Short form `sum X from arr where X > 0`.
                match value {
                    Expr::Path(Path {
                        base: Base::Implicit(0),
                        fields,
                    }) if fields.len() == 1 => {
                        let var = fields.into_iter().next().unwrap_or_default();
                        self.scope.truncate(base);
                        let value = Expr::Path(Path {
                            base: Base::Var(var.clone()),
                            fields: Vec::new(),
                        });
                        self.bindings(Some(var)).map(|b| (value, b))
                    }
                    _ => Err(self.expected("'over'")),
                }
            } else {
                Err(self.expected("'over'"))
            }
        });
        self.scope.truncate(base);
        let (value, bindings) = result?;
        let kind = match kind {
            QueryKindWord::Sum => QueryKind::Sum(value),
            QueryKindWord::Min => QueryKind::Min(value),
            QueryKindWord::Max => QueryKind::Max(value),
            _ => QueryKind::Average(value),
        };
        Ok(Expr::Query(Box::new(Query { kind, bindings })))
    }

    /// `V from src [where|: cond] (, V from …)*`. Variables stay in scope for the caller to
    /// drop. `first_var` is set when the first variable was already consumed (short form).
    fn bindings(&mut self, first_var: Option<String>) -> PResult<Vec<Binding>> {
        let mut out = Vec::new();
        let mut pending = first_var;
        loop {
            let var = match pending.take() {
                Some(v) => v,
                None => {
                    let at = self.offset();
                    let v = self.ident("a variable name")?;
                    if is_reserved(&v) {
                        return Err(self.fail(
                            ErrorKind::Syntax,
                            at,
                            format!("'{v}' is a reserved word and cannot name a variable"),
                        ));
                    }
                    v
                }
            };
            self.expect_word("from")?;
            self.enter()?;
            let source = self.additive();
            self.leave(1);
            let source = source?;
            self.scope.push(var.clone());
            let cond = if self.is_word("where") || matches!(self.peek(), Tok::Colon) {
                self.bump();
                Some(self.expr()?)
            } else {
                None
            };
            out.push(Binding { var, source, cond });
            if matches!(self.peek(), Tok::Comma)
                && matches!(self.peek_at(1), Tok::Ident(_))
                && self.is_word_at(2, "from")
            {
                self.bump();
                continue;
            }
            return Ok(out);
        }
    }

    fn chain(&mut self) -> PResult<Expr> {
        self.bump();
        self.expect(Tok::LParen, "'('")?;
        let at = self.offset();
        let coll = self.ident("'xEvent'")?;
        if coll != "xEvent" {
            return Err(self.unsupported(
                at,
                &format!("chain over '{coll}' (only chain(xEvent, timestamp, […]))"),
            ));
        }
        self.expect(Tok::Comma, "','")?;
        let at = self.offset();
        let ts = self.ident("'timestamp'")?;
        if ts != "timestamp" {
            return Err(self.unsupported(
                at,
                &format!("chain ordered by '{ts}' (only the event timestamp)"),
            ));
        }
        self.expect(Tok::Comma, "','")?;
        self.expect(Tok::LBracket, "'[' starting the chain steps")?;
        let mut steps = Vec::new();
        loop {
            steps.push(self.step()?);
            match self.peek() {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBracket => {
                    self.bump();
                    break;
                }
                _ => return Err(self.expected("',' or ']' after a chain step")),
            }
        }
        self.expect(Tok::RParen, "')'")?;
        Ok(Expr::Chain(steps))
    }

    fn step(&mut self) -> PResult<Step> {
        let label = self.ident("a step label (as in A: WHAT(…))")?;
        self.expect(Tok::Colon, "':' after the step label")?;
        if !self.is_word_ci("WHAT") {
            return Err(self.expected("WHAT(…)"));
        }
        self.bump();
        self.expect(Tok::LParen, "'('")?;
        self.elem_depth = self.elem_depth.saturating_add(1);
        let what = self.expr();
        self.elem_depth = self.elem_depth.saturating_sub(1);
        let what = what?;
        self.expect(Tok::RParen, "')'")?;
        let mut step = Step {
            label,
            what,
            when: None,
            count: None,
            where_: None,
        };
        loop {
            let at = self.offset();
            if self.is_word_ci("WHEN") && step.when.is_none() {
                self.bump();
                self.expect(Tok::LParen, "'('")?;
                step.when = Some(self.occurs_tail()?);
                self.expect(Tok::RParen, "')'")?;
            } else if self.is_word_ci("COUNT") && step.count.is_none() {
                self.bump();
                self.expect(Tok::LParen, "'('")?;
                let n = self.integer("a whole number of events")?;
                if n == 0 {
                    return Err(self.fail(
                        ErrorKind::Syntax,
                        at,
                        "COUNT needs at least 1".to_string(),
                    ));
                }
                step.count = Some(n);
                self.expect(Tok::RParen, "')'")?;
            } else if self.is_word_ci("WHERE") && step.where_.is_none() {
                self.bump();
                self.expect(Tok::LParen, "'('")?;
                step.where_ = Some(self.expr()?);
                self.expect(Tok::RParen, "')'")?;
            } else {
                return Ok(step);
            }
        }
    }

    fn integer(&mut self, what: &str) -> PResult<u32> {
        match self.peek().clone() {
            Tok::Num { int: Some(n), .. } if n <= u64::from(u32::MAX) => {
                self.bump();
                Ok(n as u32)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn occurs_tail(&mut self) -> PResult<Occurs> {
        let cmp = match self.peek() {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            self.bump();
            let n = self.integer("a whole number (as in '< 24 hours before now')")?;
            let unit = match self.peek() {
                Tok::Ident(w) => Unit::from_word(w),
                _ => None,
            };
            let Some(unit) = unit else {
                return Err(self.expected("a time unit (hours, days, weeks, months, …)"));
            };
            self.bump();
            let dir = if self.is_word("before") {
                Dir::Before
            } else if self.is_word("after") || self.is_word("from") {
                Dir::After
            } else {
                return Err(self.expected("'before' or 'after'"));
            };
            self.bump();
            let anchor = self.anchor()?;
            return Ok(Occurs::Relative {
                cmp,
                n,
                unit,
                dir,
                anchor,
            });
        }
        if self.is_word("before") {
            self.bump();
            return Ok(Occurs::Before(self.anchor()?));
        }
        if self.is_word("after") {
            self.bump();
            return Ok(Occurs::After(self.anchor()?));
        }
        if self.is_word("between") {
            self.bump();
            let a = self.anchor()?;
            self.expect_word("and")?;
            let b = self.anchor()?;
            return Ok(Occurs::Between(a, b));
        }
        if self.is_word("on") {
            self.bump();
        }
        Ok(Occurs::On(self.anchor()?))
    }

    fn anchor(&mut self) -> PResult<Anchor> {
        let simple = |w: &str| match w {
            "now" => Some(Anchor::Now),
            "today" => Some(Anchor::Today),
            "yesterday" => Some(Anchor::Yesterday),
            "tomorrow" => Some(Anchor::Tomorrow),
            _ => None,
        };
        if let Tok::Ident(w) = self.peek().clone() {
            // `now + 2 days` is an expression anchor, not the word `now` followed by junk.
            let postfix_follows = matches!(
                self.peek_at(1),
                Tok::Dot
                    | Tok::LBracket
                    | Tok::Plus
                    | Tok::Minus
                    | Tok::Star
                    | Tok::Slash
                    | Tok::Percent
            );
            if let Some(a) = simple(&w).filter(|_| !postfix_follows) {
                self.bump();
                return Ok(a);
            }
            if matches!(w.as_str(), "this" | "last" | "next") {
                let unit = match self.peek_at(1) {
                    Tok::Ident(u) => Unit::from_word(u),
                    _ => None,
                };
                self.bump();
                let Some(unit) = unit else {
                    return Err(self.expected(&format!("a time unit after '{w}'")));
                };
                self.bump();
                return Ok(match w.as_str() {
                    "this" => Anchor::This(unit),
                    "last" => Anchor::Last(unit),
                    _ => Anchor::Next(unit),
                });
            }
        }
        if matches!(self.peek(), Tok::Eof | Tok::RParen) {
            return Err(self.expected("a time (now, today, last month, date(…), a timestamp)"));
        }
        self.enter()?;
        let e = self.additive();
        self.leave(1);
        Ok(Anchor::Expr(Box::new(e?)))
    }
}

#[derive(Clone, Copy)]
enum QueryKindWord {
    Select,
    Exists,
    Forall,
    Sum,
    Average,
    Min,
    Max,
}

fn is_operator_word(w: &str) -> bool {
    matches!(
        w,
        "and" | "or" | "in" | "notIn" | "like" | "matches" | "occurs" | "over" | "from"
    )
}

fn arity_message(name: &str, lo: usize, hi: usize, got: usize) -> String {
    let want = if lo == hi {
        format!("{lo}")
    } else {
        format!("{lo} to {hi}")
    };
    format!("{name}() takes {want} argument(s), found {got}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print;

    fn p(s: &str) -> Expr {
        match parse(s) {
            Ok(e) => e,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn err(s: &str) -> Diagnostic {
        match parse(s) {
            Ok(e) => panic!("{s} parsed as {e:?}"),
            Err(e) => e.diagnostics.into_iter().next().expect("one diagnostic"),
        }
    }

    #[test]
    fn paths_and_vars() {
        assert_eq!(
            p("person.name.firstName"),
            Expr::Path(Path {
                base: Base::Implicit(0),
                fields: vec!["person".into(), "name".into(), "firstName".into()]
            })
        );
        let Expr::Query(q) = p("select X from xEvent where X.a = 1") else {
            panic!("not a query")
        };
        let Some(Expr::Binary { lhs, .. }) = &q.bindings[0].cond else {
            panic!("no cond")
        };
        assert!(matches!(&**lhs, Expr::Path(Path { base: Base::Var(v), .. }) if v == "X"));
    }

    #[test]
    fn precedence_not_and_or() {
        let e = p("a = 1 or b = 2 and not c = 3");
        let Expr::Or(items) = e else { panic!() };
        assert!(matches!(&items[1], Expr::And(v) if matches!(v[1], Expr::Not(_))));
    }

    #[test]
    fn aggregation_binds_later_variables() {
        let Expr::Query(q) = p("sum X.price over X from xEvent") else {
            panic!()
        };
        assert!(matches!(
            &q.kind,
            QueryKind::Sum(Expr::Path(Path {
                base: Base::Var(_),
                ..
            }))
        ));
        let Expr::Query(q) = p("sum X from nums where X > 0") else {
            panic!()
        };
        assert_eq!(q.bindings[0].var, "X");
    }

    #[test]
    fn errors_are_positioned() {
        let d = err("a = ");
        assert_eq!((d.offset, d.found.as_str()), (4, "end of input"));
        assert_eq!(d.expected.as_deref(), Some("an expression"));
        let d = err("a = 1 b");
        assert_eq!(d.offset, 6);
        let d = err("x.groupBy(a)");
        assert_eq!(d.kind, ErrorKind::Unsupported);
        assert!(d.message.starts_with("unsupported: groupBy"));
        let d = err("a < b < c");
        assert!(d.message.contains("chained"));
        let d = err(
            "chain(xEvent, timestamp, [A: WHAT(eventType = \"x\") WHEN(< 24 hours behind now)])",
        );
        assert_eq!(d.expected.as_deref(), Some("'before' or 'after'"));
    }

    #[test]
    fn depth_is_capped() {
        let deep = format!("{}a{}", "(".repeat(5000), ")".repeat(5000));
        assert_eq!(err(&deep).kind, ErrorKind::Limit);
        let nots = format!("{}a", "not ".repeat(5000));
        assert_eq!(err(&nots).kind, ErrorKind::Limit);
        let sum = format!("a{}", " + a".repeat(5000));
        assert_eq!(err(&sum).kind, ErrorKind::Limit);
        let calls = format!("a{}", ".head()".repeat(5000));
        assert_eq!(err(&calls).kind, ErrorKind::Limit);
        let long = "a".repeat(MAX_SOURCE_LEN + 1);
        assert_eq!(err(&long).kind, ErrorKind::Limit);
    }

    /// Found by `cargo fuzz run parse` in CI: an aggregate's value took `Y` for a variable
    /// because a query nested later in the text binds `Y`; printed with parentheses around
    /// the aggregate, the same text read `Y` as a field. Only the aggregate's own bindings
    /// (after `over` or a comma, at its level) bind names in its value.
    #[test]
    fn an_aggregate_binds_only_its_own_variables() {
        let cases = [
            "sum X.a + Y.b over X from xEvent.items and Y.c occurs < 2 weeks after (sum X.a + Y.b over X from xEvent, Y from xEvent)",
            "sum X.a + Y.b over X from xEvent where X.a > 1, Y from xEvent > 2",
            "(sum X.a + Y.b over X from xEvent) > 1 and (sum Y.b over Y from xEvent) > 2",
            include_str!("../fuzz/seeds/crash-parse-aggregate-scope.pql"),
        ];
        for src in cases {
            let tree = p(src);
            let text = print(&tree);
            assert_eq!(parse(&text).ok(), Some(tree), "{src} printed as {text}");
        }
        let tree = p(cases[0]);
        let text = print(&tree);
        assert!(text.contains("Y.b over X from xEvent.items"), "{text}");
        // In the first aggregate `Y` is a field (nothing binds it there); in the second, a variable.
        let Expr::And(parts) = &tree else {
            panic!("{tree:?}")
        };
        let Expr::Query(q) = &parts[0] else {
            panic!("{:?}", parts[0])
        };
        let QueryKind::Sum(Expr::Binary { rhs, .. }) = &q.kind else {
            panic!("{q:?}")
        };
        assert!(
            matches!(&**rhs, Expr::Path(Path { base: Base::Implicit(0), fields }) if fields[0] == "Y")
        );
    }

    /// Found by `cargo fuzz run parse` (`fuzz/seeds/crash-parse-*.pql`): the printer writes
    /// `not(x)` and `-(x)`, which cost two levels each while `!x` and `-x` cost one, so an
    /// accepted definition could print to a canonical text that was refused as too deep.
    #[test]
    fn canonical_text_of_deep_unary_chains_parses_back() {
        let cases = [
            format!("{}a", "!".repeat(MAX_DEPTH - 1)),
            format!("{}a", "not ".repeat(MAX_DEPTH - 1)),
            format!("{}a", "- ".repeat(MAX_DEPTH - 1)),
            format!("b{}0", "-".repeat(MAX_DEPTH)),
            format!(
                "{}a{}",
                "not(".repeat(MAX_DEPTH - 1),
                ")".repeat(MAX_DEPTH - 1)
            ),
            format!(
                "{}a{}",
                "-(".repeat(MAX_DEPTH - 1),
                ")".repeat(MAX_DEPTH - 1)
            ),
            format!(
                "{}a = 1{} and b",
                "not(-(".repeat((MAX_DEPTH - 1) / 2),
                "))".repeat((MAX_DEPTH - 1) / 2)
            ),
            include_str!("../fuzz/seeds/crash-parse-neg-depth.pql").to_string(),
            include_str!("../fuzz/seeds/crash-parse-not-depth.pql").to_string(),
        ];
        for src in cases {
            let tree = p(&src);
            let text = print(&tree);
            assert_eq!(parse(&text).ok(), Some(tree), "{src} printed as {text}");
        }
        // The operator's parentheses still count the operator's own level.
        assert_eq!(
            err(&format!("{}a", "!".repeat(MAX_DEPTH))).kind,
            ErrorKind::Limit
        );
        let calls = format!("{}a{}", "not(".repeat(5000), ")".repeat(5000));
        assert_eq!(err(&calls).kind, ErrorKind::Limit);
        let negs = format!("{}a{}", "-(".repeat(5000), ")".repeat(5000));
        assert_eq!(err(&negs).kind, ErrorKind::Limit);
        // Only the first parenthesis is the operator's: `not((x))` costs one more level.
        let nested = |parens: usize| {
            let k = MAX_DEPTH - 2;
            format!(
                "{}{}a{}{}",
                "not(".repeat(k),
                "(".repeat(parens),
                ")".repeat(parens),
                ")".repeat(k)
            )
        };
        assert!(parse(&nested(1)).is_ok());
        assert_eq!(err(&nested(2)).kind, ErrorKind::Limit);
    }

    #[test]
    fn caret_levels_checked() {
        assert!(parse("xEvent[items[SKU = \"PS\" or ^^.person.gender = \"f\"]]").is_ok());
        assert!(parse("^.a = 1").is_err());
    }
}
