//! Evaluates a parsed definition against an [`EvalContext`]. Null propagates and becomes
//! false in boolean position; event scans use the context's type index and binary search on
//! time windows; all loops count against a work budget, so evaluation never runs away.

use crate::ast::*;
use crate::context::{EvalContext, MembershipState};
use crate::error::EvalError;
use crate::time::MS_PER_DAY;
use crate::value::{Val, compare, equal, like};
use std::borrow::Cow;

/// Evaluates `e` in boolean position.
pub fn eval_bool(e: &Expr, ctx: &EvalContext<'_>) -> Result<bool, EvalError> {
    eval_bool_with(e, ctx, &|id| ctx.membership_of(id))
}

/// Evaluates `e` and returns its value as JSON (for non-boolean expressions such as ranking
/// formulas or `if(…)`). Timestamps come back as RFC 3339 strings.
pub fn eval_value(e: &Expr, ctx: &EvalContext<'_>) -> Result<serde_json::Value, EvalError> {
    let membership = |id: &str| ctx.membership_of(id);
    let mut ev = Evaluator::new(ctx, &membership);
    Ok(ev.eval(e)?.to_json())
}

/// Like [`eval_bool`], with memberships looked up through `membership` instead of the
/// context's callback (the catalog overlays fresh edge results this way).
pub(crate) fn eval_bool_with(
    e: &Expr,
    ctx: &EvalContext<'_>,
    membership: &dyn Fn(&str) -> Option<MembershipState>,
) -> Result<bool, EvalError> {
    let mut ev = Evaluator::new(ctx, membership);
    ev.truth(e)
}

type R<T> = Result<T, EvalError>;

/// A time window `[lo, hi)`, optionally minus a hole (for `!=`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub lo: i64,
    pub hi: i64,
    pub hole: Option<(i64, i64)>,
}

impl Window {
    fn span(lo: i64, hi: i64) -> Self {
        Window { lo, hi, hole: None }
    }

    pub fn contains(&self, t: i64) -> bool {
        self.lo <= t && t < self.hi && !self.hole.is_some_and(|(a, b)| a <= t && t < b)
    }
}

struct Evaluator<'c, 'a> {
    ctx: &'c EvalContext<'a>,
    membership: &'c dyn Fn(&str) -> Option<MembershipState>,
    env: Vec<(&'a str, Val<'a>)>,
    implicit: Vec<Val<'a>>,
    steps: u64,
}

impl<'c, 'a> Evaluator<'c, 'a> {
    fn new(
        ctx: &'c EvalContext<'a>,
        membership: &'c dyn Fn(&str) -> Option<MembershipState>,
    ) -> Self {
        Evaluator {
            ctx,
            membership,
            env: Vec::new(),
            implicit: vec![Val::from_json(ctx.profile)],
            steps: 0,
        }
    }

    fn tick(&mut self, n: u64) -> R<()> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.ctx.budget {
            return Err(EvalError::Budget(self.ctx.budget));
        }
        Ok(())
    }

    fn profile(&self) -> Val<'a> {
        self.implicit.first().cloned().unwrap_or(Val::Null)
    }

    fn truth(&mut self, e: &'a Expr) -> R<bool> {
        match e {
            Expr::And(items) => {
                for i in items {
                    if !self.truth(i)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Expr::Or(items) => {
                for i in items {
                    if self.truth(i)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Expr::Not(inner) => Ok(!self.truth(inner)?),
            Expr::Chain(steps) => self.chain(steps),
            Expr::Query(q) if matches!(q.kind, QueryKind::Select | QueryKind::Exists) => {
                self.query_any(q)
            }
            other => Ok(self.eval(other)?.truthy()),
        }
    }

    fn with_element<T>(&mut self, el: Val<'a>, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        self.implicit.push(el);
        let r = f(self);
        self.implicit.pop();
        r
    }

    fn eval(&mut self, e: &'a Expr) -> R<Val<'a>> {
        let cal = self.ctx.calendar;
        let now = self.ctx.now_ms;
        Ok(match e {
            Expr::Null => Val::Null,
            Expr::Bool(b) => Val::Bool(*b),
            Expr::Num(n) => Val::Num(*n),
            Expr::Str(s) => Val::Str(Cow::Borrowed(s)),
            Expr::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    out.push(self.eval(i)?);
                }
                Val::List(out)
            }
            Expr::Now => Val::Time(now),
            Expr::Today => {
                let (s, e) = cal.period(now, Unit::Day);
                Val::Span(s, e)
            }
            Expr::Yesterday => {
                let (s, _) = cal.period(now, Unit::Day);
                Val::Span(cal.shift(s, Unit::Day, -1), s)
            }
            Expr::Tomorrow => {
                let (_, e) = cal.period(now, Unit::Day);
                Val::Span(e, cal.shift(e, Unit::Day, 1))
            }
            Expr::Path(p) => self.path(p)?,
            Expr::Index { target, index } => {
                let t = self.eval(target)?;
                match &**index {
                    Expr::Num(n) => {
                        let els = t.elements_or_single();
                        if *n >= 0.0 && n.fract() == 0.0 {
                            els.into_iter().nth(*n as usize).unwrap_or(Val::Null)
                        } else {
                            Val::Null
                        }
                    }
                    Expr::Str(k) => t.field(k),
                    cond => Val::List(self.filter(t.elements_or_single(), cond)?),
                }
            }
            Expr::Method {
                target,
                method,
                args,
            } => self.method(target, *method, args)?,
            Expr::Call { func, args } => self.call(*func, args)?,
            Expr::Not(_) | Expr::And(_) | Expr::Or(_) | Expr::Chain(_) => Val::Bool(self.truth(e)?),
            Expr::Neg(inner) => match self.eval(inner)?.as_num() {
                Some(n) => Val::Num(-n),
                None => Val::Null,
            },
            Expr::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs)?,
            Expr::Occurs { subject, when } => {
                let s = self.eval(subject)?;
                let Some(w) = self.window(when)? else {
                    return Ok(Val::Bool(false));
                };
                let hit = if s.is_listy() {
                    s.elements()
                        .unwrap_or_default()
                        .iter()
                        .any(|x| x.as_time().is_some_and(|t| w.contains(t)))
                } else {
                    s.as_time().is_some_and(|t| w.contains(t))
                };
                Val::Bool(hit)
            }
            Expr::Query(q) => self.query(q)?,
            Expr::Let { name, value, body } => {
                let v = self.eval(value)?;
                self.env.push((name.as_str(), v));
                let r = self.eval(body);
                self.env.pop();
                r?
            }
            Expr::Lambda { params, body } => {
                let base = self.env.len();
                for (i, p) in params.iter().enumerate() {
                    let v = if i == 0 { self.profile() } else { Val::Null };
                    self.env.push((p.as_str(), v));
                }
                let r = self.eval(body);
                self.env.truncate(base);
                r?
            }
        })
    }

    fn path(&mut self, p: &'a Path) -> R<Val<'a>> {
        let mut v = match &p.base {
            Base::Implicit(n) => {
                let len = self.implicit.len();
                match len.checked_sub(1 + *n as usize) {
                    Some(i) => self.implicit[i].clone(),
                    None => Val::Null,
                }
            }
            Base::Var(name) => self
                .env
                .iter()
                .rev()
                .find(|(k, _)| *k == name.as_str())
                .map(|(_, v)| v.clone())
                .unwrap_or(Val::Null),
            Base::Param(1) => self.profile(),
            Base::Param(_) => Val::Null,
            Base::XEvent => {
                self.tick(self.ctx.events.len() as u64)?;
                Val::List(self.ctx.events.iter().map(|e| Val::Event(e)).collect())
            }
            Base::Expr(e) => self.eval(e)?,
        };
        for f in &p.fields {
            if v.is_null() {
                break;
            }
            if v.is_listy() {
                self.tick(1)?;
            }
            v = v.field(f);
        }
        Ok(v)
    }

    fn filter(&mut self, els: Vec<Val<'a>>, cond: &'a Expr) -> R<Vec<Val<'a>>> {
        let mut out = Vec::new();
        for el in els {
            self.tick(1)?;
            let keep = self.with_element(el.clone(), |s| s.truth(cond))?;
            if keep {
                out.push(el);
            }
        }
        Ok(out)
    }

    fn binary(&mut self, op: BinOp, lhs: &'a Expr, rhs: &'a Expr) -> R<Val<'a>> {
        let a = self.eval(lhs)?;
        let b = self.eval(rhs)?;
        Ok(match op {
            BinOp::Cmp(c) => Val::Bool(compare(c, &a, &b)),
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                match (a.as_num(), b.as_num()) {
                    (Some(x), Some(y)) => {
                        let r = match op {
                            BinOp::Add => x + y,
                            BinOp::Sub => x - y,
                            BinOp::Mul => x * y,
                            BinOp::Div if y == 0.0 => return Ok(Val::Null),
                            BinOp::Div => x / y,
                            _ if y == 0.0 => return Ok(Val::Null),
                            _ => x % y,
                        };
                        if r.is_finite() {
                            Val::Num(r)
                        } else {
                            Val::Null
                        }
                    }
                    _ => Val::Null,
                }
            }
            BinOp::In | BinOp::NotIn => {
                if a.is_null() || a.is_listy() {
                    return Ok(Val::Bool(false));
                }
                let Some(items) = b.elements() else {
                    return Ok(Val::Bool(false));
                };
                self.tick(items.len() as u64)?;
                let found = items.iter().any(|x| equal(&a, x));
                Val::Bool(if op == BinOp::In { found } else { !found })
            }
            BinOp::Like => match (a.as_str(), b.as_str()) {
                (Some(s), Some(p)) => Val::Bool(like(s, p)),
                _ => Val::Bool(false),
            },
            BinOp::Matches => match (a.as_str(), b.as_str()) {
                (Some(s), Some(p)) => {
                    let re = self.ctx.regex(p).ok_or_else(|| EvalError::Regex {
                        pattern: p.to_string(),
                        reason: "invalid or too large".into(),
                    })?;
                    Val::Bool(re.is_match(s))
                }
                _ => Val::Bool(false),
            },
        })
    }

    fn call(&mut self, func: Func, args: &'a [Expr]) -> R<Val<'a>> {
        let cal = self.ctx.calendar;
        let now = self.ctx.now_ms;
        Ok(match func {
            Func::If => {
                let [c, a, b] = args else {
                    return Err(EvalError::Plan("if() needs 3 arguments".into()));
                };
                if self.truth(c)? {
                    self.eval(a)?
                } else {
                    self.eval(b)?
                }
            }
            Func::InSegment => {
                let id = match args.first() {
                    Some(a) => self.eval(a)?,
                    None => Val::Null,
                };
                match id.as_str() {
                    Some(id) => Val::Bool((self.membership)(id).is_some_and(|m| m.is_member())),
                    None => Val::Bool(false),
                }
            }
            Func::Date => {
                let mut n = [0f64; 3];
                for (slot, a) in n.iter_mut().zip(args) {
                    match self.eval(a)?.as_num() {
                        Some(x) if x.fract() == 0.0 && x.abs() < 1e7 => *slot = x,
                        _ => return Ok(Val::Null),
                    }
                }
                let (y, m, d) = (n[0] as i64, n[1] as i64, n[2] as i64);
                if !(1..=12).contains(&m)
                    || d < 1
                    || d > i64::from(crate::time::days_in_month(y, m as u32))
                {
                    return Ok(Val::Null);
                }
                let s = cal.date_start(y, m as u32, d as u32);
                Val::Span(s, s.saturating_add(MS_PER_DAY))
            }
            Func::CurrentMonth => Val::Num(f64::from(cal.ymd(now).1)),
            Func::CurrentYear => Val::Num(cal.ymd(now).0 as f64),
            Func::CurrentDayOfMonth => Val::Num(f64::from(cal.ymd(now).2)),
            Func::CurrentDate => {
                let (s, e) = cal.period(now, Unit::Day);
                Val::Span(s, e)
            }
        })
    }

    fn element_arg(&mut self, el: Val<'a>, arg: Option<&'a Expr>) -> R<Val<'a>> {
        match arg {
            Some(a) => self.with_element(el, |s| s.eval(a)),
            None => Ok(el),
        }
    }

    fn method(&mut self, target: &'a Expr, m: Method, args: &'a [Expr]) -> R<Val<'a>> {
        use Method::*;
        let t = self.eval(target)?;
        let cal = self.ctx.calendar;
        match m {
            Contains | StartsWith | EndsWith | Equals | NotEqualTo | DoesNotContain
            | DoesNotStartWith | DoesNotEndWith => {
                let other = match args.first() {
                    Some(a) => self.eval(a)?,
                    None => Val::Null,
                };
                let cs = match args.get(1) {
                    Some(a) => self.eval(a)?.truthy(),
                    None => true,
                };
                let (Some(s), Some(o)) = (t.as_str(), other.as_str()) else {
                    return Ok(Val::Bool(false));
                };
                let (s, o): (Cow<str>, Cow<str>) = if cs {
                    (Cow::Borrowed(s), Cow::Borrowed(o))
                } else {
                    (Cow::Owned(s.to_lowercase()), Cow::Owned(o.to_lowercase()))
                };
                let r = match m {
                    Contains => s.contains(&*o),
                    StartsWith => s.starts_with(&*o),
                    EndsWith => s.ends_with(&*o),
                    Equals => s == o,
                    NotEqualTo => s != o,
                    DoesNotContain => !s.contains(&*o),
                    DoesNotStartWith => !s.starts_with(&*o),
                    _ => !s.ends_with(&*o),
                };
                Ok(Val::Bool(r))
            }
            RegexGroup => {
                let (Some(pa), Some(ga)) = (args.first(), args.get(1)) else {
                    return Ok(Val::Null);
                };
                let p = self.eval(pa)?;
                let g = self.eval(ga)?.as_num();
                let (Some(s), Some(p), Some(g)) = (t.as_str(), p.as_str(), g) else {
                    return Ok(Val::Null);
                };
                let re = self.ctx.regex(p).ok_or_else(|| EvalError::Regex {
                    pattern: p.to_string(),
                    reason: "invalid or too large".into(),
                })?;
                if g < 0.0 || g.fract() != 0.0 {
                    return Ok(Val::Null);
                }
                Ok(re
                    .captures(s)
                    .and_then(|c| c.get(g as usize))
                    .map(|m| Val::Str(Cow::Owned(m.as_str().to_string())))
                    .unwrap_or(Val::Null))
            }
            Intersects | Intersection | SubsetOf | SupersetOf => {
                let other = match args.first() {
                    Some(a) => self.eval(a)?,
                    None => Val::Null,
                };
                let (Some(a), Some(b)) = (t.elements(), other.elements()) else {
                    return Ok(if m == Intersection {
                        Val::Null
                    } else {
                        Val::Bool(false)
                    });
                };
                self.tick((a.len() as u64).saturating_mul(b.len() as u64))?;
                let in_b = |x: &Val| b.iter().any(|y| equal(x, y));
                Ok(match m {
                    Intersects => Val::Bool(a.iter().any(in_b)),
                    SubsetOf => Val::Bool(a.iter().all(in_b)),
                    SupersetOf => Val::Bool(b.iter().all(|y| a.iter().any(|x| equal(x, y)))),
                    _ => {
                        let common = dedup(a.into_iter().filter(|x| in_b(x)).collect());
                        if common.is_empty() {
                            Val::Null
                        } else {
                            Val::List(common)
                        }
                    }
                })
            }
            Includes => {
                let x = match args.first() {
                    Some(a) => self.eval(a)?,
                    None => Val::Null,
                };
                let Some(items) = t.elements() else {
                    return Ok(Val::Bool(false));
                };
                Ok(Val::Bool(items.iter().any(|y| equal(&x, y))))
            }
            Distinct => match t.elements() {
                Some(v) => {
                    self.tick((v.len() as u64).saturating_mul(v.len() as u64) / 2)?;
                    Ok(Val::List(dedup(v)))
                }
                None => Ok(Val::Null),
            },
            Count => Ok(Val::Num(match &t {
                Val::Null => 0.0,
                Val::List(v) => v.len() as f64,
                Val::Json(serde_json::Value::Array(a)) => a.len() as f64,
                _ => 1.0,
            })),
            Sum | Average | Min | Max => {
                let Some(els) = t.elements() else {
                    return Ok(if m == Sum { Val::Num(0.0) } else { Val::Null });
                };
                let mut nums = Vec::with_capacity(els.len());
                for el in els {
                    self.tick(1)?;
                    if let Some(n) = self.element_arg(el, args.first())?.as_num() {
                        nums.push(n);
                    }
                }
                Ok(aggregate(m, &nums))
            }
            IsNull => Ok(Val::Bool(t.is_null())),
            IsNotNull => Ok(Val::Bool(!t.is_null())),
            Get => {
                let k = match args.first() {
                    Some(a) => self.eval(a)?,
                    None => Val::Null,
                };
                Ok(match (&k, t.is_listy()) {
                    (Val::Str(s), _) => t.field(s),
                    (Val::Num(n), true) if *n >= 0.0 && n.fract() == 0.0 => t
                        .elements()
                        .and_then(|v| v.into_iter().nth(*n as usize))
                        .unwrap_or(Val::Null),
                    _ => Val::Null,
                })
            }
            Keys | Values => match t {
                Val::Json(serde_json::Value::Object(o)) => Ok(Val::List(if m == Keys {
                    o.keys()
                        .map(|k| Val::Str(Cow::Borrowed(k.as_str())))
                        .collect()
                } else {
                    o.values().map(Val::from_json).collect()
                })),
                _ => Ok(Val::Null),
            },
            Exists | Any | All => {
                if t.is_null() {
                    return Ok(Val::Bool(false));
                }
                let Some(cond) = args.first() else {
                    return Ok(Val::Bool(false));
                };
                let all = m == All;
                for el in t.elements_or_single() {
                    self.tick(1)?;
                    let ok = self.with_element(el, |s| s.truth(cond))?;
                    if ok != all {
                        return Ok(Val::Bool(!all));
                    }
                }
                Ok(Val::Bool(all))
            }
            Filter => match args.first() {
                Some(cond) => Ok(Val::List(self.filter(t.elements_or_single(), cond)?)),
                None => Ok(Val::Null),
            },
            Head => Ok(match t.elements() {
                Some(v) => v.into_iter().next().unwrap_or(Val::Null),
                None => t,
            }),
            TopN | BottomN => {
                let n = match args.get(1) {
                    Some(a) => self.eval(a)?.as_num().unwrap_or(0.0),
                    None => 0.0,
                };
                let Some(els) = t.elements() else {
                    return Ok(Val::Null);
                };
                let mut keyed = Vec::with_capacity(els.len());
                for el in els {
                    self.tick(1)?;
                    if let Some(k) = self.element_arg(el.clone(), args.first())?.as_num() {
                        keyed.push((k, el));
                    }
                }
                // Stable: ties keep their original order.
                keyed.sort_by(|a, b| {
                    let o = a.0.total_cmp(&b.0);
                    if m == TopN { o.reverse() } else { o }
                });
                let n = if n > 0.0 { n as usize } else { 0 };
                Ok(Val::List(
                    keyed.into_iter().take(n).map(|(_, v)| v).collect(),
                ))
            }
            GetMonth | GetYear | GetDayOfMonth => Ok(match t.as_time() {
                Some(ts) => {
                    let (y, mo, d) = cal.ymd(ts);
                    Val::Num(match m {
                        GetMonth => f64::from(mo),
                        GetYear => y as f64,
                        _ => f64::from(d),
                    })
                }
                None => Val::Null,
            }),
            Age => Ok(match t.as_time() {
                Some(ts) => {
                    let (by, bm, bd) = cal.ymd(ts);
                    let (ty, tm, td) = cal.ymd(self.ctx.now_ms);
                    let mut age = ty - by;
                    if (tm, td) < (bm, bd) {
                        age -= 1;
                    }
                    Val::Num(age as f64)
                }
                None => Val::Null,
            }),
        }
    }

    /// Resolves an `occurs` anchor to `[start, end)`, flagged when it is an instant.
    fn anchor(&mut self, a: &'a Anchor) -> R<Option<(i64, i64, bool)>> {
        let cal = self.ctx.calendar;
        let now = self.ctx.now_ms;
        Ok(Some(match a {
            Anchor::Now => (now, now, true),
            Anchor::Today => {
                let (s, e) = cal.period(now, Unit::Day);
                (s, e, false)
            }
            Anchor::Yesterday => {
                let (s, _) = cal.period(now, Unit::Day);
                (cal.shift(s, Unit::Day, -1), s, false)
            }
            Anchor::Tomorrow => {
                let (_, e) = cal.period(now, Unit::Day);
                (e, cal.shift(e, Unit::Day, 1), false)
            }
            Anchor::This(u) => {
                let (s, e) = cal.period(now, *u);
                (s, e, false)
            }
            Anchor::Last(u) => {
                let (s, _) = cal.period(now, *u);
                let (ps, pe) = cal.period(cal.shift(s, *u, -1), *u);
                (ps, pe.min(s), false)
            }
            Anchor::Next(u) => {
                let (_, e) = cal.period(now, *u);
                let (ns, ne) = cal.period(e, *u);
                (ns, ne, false)
            }
            Anchor::Expr(e) => match self.eval(e)?.as_span() {
                Some(s) => s,
                None => return Ok(None),
            },
        }))
    }

    /// The set of instants an `occurs` condition accepts, or `None` when its anchor is null.
    pub(crate) fn window(&mut self, o: &'a Occurs) -> R<Option<Window>> {
        const MIN: i64 = i64::MIN;
        const MAX: i64 = i64::MAX;
        let cal = self.ctx.calendar;
        Ok(Some(match o {
            Occurs::Before(a) => match self.anchor(a)? {
                Some((a0, _, _)) => Window::span(MIN, a0),
                None => return Ok(None),
            },
            Occurs::After(a) => match self.anchor(a)? {
                Some((_, a1, false)) => Window::span(a1, MAX),
                Some((a0, _, true)) => Window::span(a0.saturating_add(1), MAX),
                None => return Ok(None),
            },
            Occurs::On(a) => match self.anchor(a)? {
                Some((a0, a1, false)) => Window::span(a0, a1),
                Some((a0, _, true)) => {
                    let (s, e) = cal.period(a0, Unit::Day);
                    Window::span(s, e)
                }
                None => return Ok(None),
            },
            Occurs::Between(a, b) => match (self.anchor(a)?, self.anchor(b)?) {
                (Some((a0, _, _)), Some((b0, b1, inst))) => {
                    Window::span(a0, if inst { b0.saturating_add(1) } else { b1 })
                }
                _ => return Ok(None),
            },
            Occurs::Relative {
                cmp,
                n,
                unit,
                dir,
                anchor,
            } => {
                let Some((a0, a1, instant)) = self.anchor(anchor)? else {
                    return Ok(None);
                };
                let n = i64::from(*n);
                let sh = |x: i64, k: i64| cal.shift(x, *unit, k);
                let (side, eq, w) = match (dir, instant) {
                    (Dir::Before, false) => {
                        let side = (MIN, a0);
                        let eq = (sh(a0, -n), sh(a1, -n));
                        let w = match cmp {
                            CmpOp::Lt => (sh(a1, -n), a0),
                            CmpOp::Le => (sh(a0, -n), a0),
                            CmpOp::Gt => (MIN, sh(a0, -n)),
                            CmpOp::Ge => (MIN, sh(a1, -n)),
                            _ => eq,
                        };
                        (side, eq, w)
                    }
                    (Dir::Before, true) => {
                        let b = sh(a0, -n);
                        let side = (MIN, a0.saturating_add(1));
                        let eq = (sh(a0, -n - 1).saturating_add(1), b.saturating_add(1));
                        let w = match cmp {
                            CmpOp::Lt => (b.saturating_add(1), a0.saturating_add(1)),
                            CmpOp::Le => (b, a0.saturating_add(1)),
                            CmpOp::Gt => (MIN, b),
                            CmpOp::Ge => (MIN, b.saturating_add(1)),
                            _ => eq,
                        };
                        (side, eq, w)
                    }
                    (Dir::After, false) => {
                        let side = (a1, MAX);
                        let eq = (sh(a0, n), sh(a1, n));
                        let w = match cmp {
                            CmpOp::Lt => (a1, sh(a0, n)),
                            CmpOp::Le => (a1, sh(a1, n)),
                            CmpOp::Gt => (sh(a1, n), MAX),
                            CmpOp::Ge => (sh(a0, n), MAX),
                            _ => eq,
                        };
                        (side, eq, w)
                    }
                    (Dir::After, true) => {
                        let b = sh(a0, n);
                        let side = (a0, MAX);
                        let eq = (b, sh(a0, n + 1));
                        let w = match cmp {
                            CmpOp::Lt => (a0, b),
                            CmpOp::Le => (a0, b.saturating_add(1)),
                            CmpOp::Gt => (b.saturating_add(1), MAX),
                            CmpOp::Ge => (b, MAX),
                            _ => eq,
                        };
                        (side, eq, w)
                    }
                };
                if *cmp == CmpOp::Ne {
                    Window {
                        lo: side.0,
                        hi: side.1,
                        hole: Some(eq),
                    }
                } else {
                    Window::span(w.0, w.1)
                }
            }
        }))
    }

    /// `chain(xEvent, timestamp, [steps])`: steps matched in strictly increasing time order,
    /// each by the earliest qualifying events (greedy earliest is optimal for a subsequence).
    fn chain(&mut self, steps: &'a [Step]) -> R<bool> {
        let ctx = self.ctx;
        let subject = |p: &Path| matches!(p.base, Base::Implicit(0)) && p.fields.len() == 1;
        let needs_all = steps
            .iter()
            .any(|s| event_type_hint(&s.what, &subject).is_none());
        let all: Vec<u32> = if needs_all {
            (0..ctx.events.len() as u32).collect()
        } else {
            Vec::new()
        };
        let mut after: Option<i64> = None;
        for step in steps {
            if let Some(w) = &step.where_
                && !self.truth(w)?
            {
                return Ok(false);
            }
            let window = match &step.when {
                Some(o) => match self.window(o)? {
                    Some(w) => Some(w),
                    None => return Ok(false),
                },
                None => None,
            };
            let candidates: &[u32] = match event_type_hint(&step.what, &subject) {
                Some((t, fold)) => ctx.events_of_type(t, fold),
                None => &all,
            };
            match self.step_match(step, candidates, window, after)? {
                Some(ts) => after = Some(ts),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Finds the `COUNT`-th earliest event among `candidates` (positions in timestamp order)
    /// that is after `after`, inside `window` and satisfies `WHAT`; returns its timestamp.
    fn step_match(
        &mut self,
        step: &'a Step,
        candidates: &[u32],
        window: Option<Window>,
        after: Option<i64>,
    ) -> R<Option<i64>> {
        let ctx = self.ctx;
        let ts = |i: u32| {
            ctx.events
                .get(i as usize)
                .map_or(i64::MAX, |e| e.timestamp_ms)
        };
        let lo = match (after, window) {
            (Some(a), Some(w)) => a.saturating_add(1).max(w.lo),
            (Some(a), None) => a.saturating_add(1),
            (None, Some(w)) => w.lo,
            (None, None) => i64::MIN,
        };
        let hi = window.map_or(i64::MAX, |w| w.hi);
        let begin = candidates.partition_point(|&i| ts(i) < lo);
        let need = step.count.unwrap_or(1);
        let mut found = 0u32;
        for &i in &candidates[begin..] {
            let t = ts(i);
            if t >= hi {
                break;
            }
            if window.is_some_and(|w| !w.contains(t)) {
                continue;
            }
            self.tick(1)?;
            let Some(ev) = ctx.events.get(i as usize) else {
                continue;
            };
            if self.with_element(Val::Event(ev), |s| s.truth(&step.what))? {
                found += 1;
                if found >= need {
                    return Ok(Some(t));
                }
            }
        }
        Ok(None)
    }

    /// Elements a binding ranges over. With `prefilter`, `xEvent` sources use the type index
    /// when the condition pins `V.eventType` (only valid when non-matching elements would be
    /// skipped anyway, i.e. not for `forall`).
    fn source(&mut self, b: &'a Binding, prefilter: bool) -> R<Vec<Val<'a>>> {
        if let Expr::Path(Path {
            base: Base::XEvent,
            fields,
        }) = &b.source
            && fields.is_empty()
        {
            let ctx = self.ctx;
            let hint = b.cond.as_ref().filter(|_| prefilter).and_then(|c| {
                event_type_hint(c, &|p| {
                    matches!(&p.base, Base::Var(v) if *v == b.var) && p.fields.len() == 1
                })
            });
            let out: Vec<Val<'a>> = match hint {
                Some((t, fold)) => ctx
                    .events_of_type(t, fold)
                    .iter()
                    .filter_map(|&i| ctx.events.get(i as usize).map(|e| Val::Event(e)))
                    .collect(),
                None => ctx.events.iter().map(|e| Val::Event(e)).collect(),
            };
            return Ok(out);
        }
        let v = self.eval(&b.source)?;
        Ok(v.elements_or_single())
    }

    /// Visits every tuple satisfying the bindings; `visit` returns false to stop early.
    fn tuples(
        &mut self,
        bindings: &'a [Binding],
        i: usize,
        visit: &mut dyn FnMut(&mut Self) -> R<bool>,
    ) -> R<bool> {
        let Some(b) = bindings.get(i) else {
            return visit(self);
        };
        for el in self.source(b, true)? {
            self.tick(1)?;
            self.env.push((b.var.as_str(), el));
            let ok = match &b.cond {
                Some(c) => self.truth(c),
                None => Ok(true),
            };
            let r = match ok {
                Ok(true) => self.tuples(bindings, i + 1, visit),
                Ok(false) => Ok(true),
                Err(e) => Err(e),
            };
            self.env.pop();
            if !r? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn query_any(&mut self, q: &'a Query) -> R<bool> {
        let mut found = false;
        self.tuples(&q.bindings, 0, &mut |_| {
            found = true;
            Ok(false)
        })?;
        Ok(found)
    }

    fn forall(&mut self, bindings: &'a [Binding], i: usize) -> R<bool> {
        let Some(b) = bindings.get(i) else {
            return Ok(true);
        };
        for el in self.source(b, false)? {
            self.tick(1)?;
            self.env.push((b.var.as_str(), el));
            let r = match &b.cond {
                Some(c) => self.truth(c),
                None => Ok(true),
            }
            .and_then(|ok| {
                if ok {
                    self.forall(bindings, i + 1)
                } else {
                    Ok(false)
                }
            });
            self.env.pop();
            if !r? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn query(&mut self, q: &'a Query) -> R<Val<'a>> {
        let n = q.bindings.len();
        match &q.kind {
            QueryKind::Select => {
                let mut rows = Vec::new();
                self.tuples(&q.bindings, 0, &mut |s| {
                    let tuple: Vec<Val<'a>> = s.env[s.env.len() - n..]
                        .iter()
                        .map(|(_, v)| v.clone())
                        .collect();
                    rows.push(if n == 1 {
                        tuple.into_iter().next().unwrap_or(Val::Null)
                    } else {
                        Val::List(tuple)
                    });
                    Ok(true)
                })?;
                Ok(Val::List(rows))
            }
            QueryKind::Exists => Ok(Val::Bool(self.query_any(q)?)),
            QueryKind::Forall => Ok(Val::Bool(self.forall(&q.bindings, 0)?)),
            QueryKind::Sum(v) | QueryKind::Average(v) | QueryKind::Min(v) | QueryKind::Max(v) => {
                let mut nums = Vec::new();
                self.tuples(&q.bindings, 0, &mut |s| {
                    if let Some(x) = s.eval(v)?.as_num() {
                        nums.push(x);
                    }
                    Ok(true)
                })?;
                let m = match &q.kind {
                    QueryKind::Sum(_) => Method::Sum,
                    QueryKind::Average(_) => Method::Average,
                    QueryKind::Min(_) => Method::Min,
                    _ => Method::Max,
                };
                Ok(aggregate(m, &nums))
            }
        }
    }
}

fn aggregate(m: Method, nums: &[f64]) -> Val<'static> {
    if nums.is_empty() {
        return if m == Method::Sum {
            Val::Num(0.0)
        } else {
            Val::Null
        };
    }
    let r = match m {
        Method::Sum => nums.iter().sum(),
        Method::Average => nums.iter().sum::<f64>() / nums.len() as f64,
        Method::Min => nums.iter().copied().fold(f64::INFINITY, f64::min),
        _ => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    };
    if r.is_finite() {
        Val::Num(r)
    } else {
        Val::Null
    }
}

fn dedup<'a>(v: Vec<Val<'a>>) -> Vec<Val<'a>> {
    let mut out: Vec<Val<'a>> = Vec::with_capacity(v.len());
    for x in v {
        if !out.iter().any(|y| equal(&x, y)) {
            out.push(x);
        }
    }
    out
}

/// If `cond` (or one of its top-level conjuncts) pins the event type to a literal through a
/// path accepted by `is_type_path` (`eventType = "x"` or `eventType.equals("x"[, false])`),
/// returns the type and whether the match folds case.
pub(crate) fn event_type_hint<'e>(
    cond: &'e Expr,
    is_subject: &dyn Fn(&Path) -> bool,
) -> Option<(&'e str, bool)> {
    let is_type_path = |e: &Expr| matches!(e, Expr::Path(p) if is_subject(p) && p.fields.last().is_some_and(|f| f == "eventType"));
    match cond {
        Expr::Binary {
            op: BinOp::Cmp(CmpOp::Eq),
            lhs,
            rhs,
        } => match (&**lhs, &**rhs) {
            (l, Expr::Str(s)) if is_type_path(l) => Some((s.as_str(), false)),
            (Expr::Str(s), r) if is_type_path(r) => Some((s.as_str(), false)),
            _ => None,
        },
        Expr::Method {
            target,
            method: Method::Equals,
            args,
        } if is_type_path(target) => match args.as_slice() {
            [Expr::Str(s)] | [Expr::Str(s), Expr::Bool(true)] => Some((s.as_str(), false)),
            [Expr::Str(s), Expr::Bool(false)] => Some((s.as_str(), true)),
            _ => None,
        },
        Expr::And(items) => items.iter().find_map(|i| event_type_hint(i, is_subject)),
        _ => None,
    }
}
