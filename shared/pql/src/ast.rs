//! The syntax tree of a PQL definition. Function and method names are resolved to enums at
//! parse time, so the tree is also the evaluation plan: no name lookups happen per request.

use serde::{Deserialize, Serialize};

/// An expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number (PQL integers and doubles are both numbers here).
    Num(f64),
    /// A string literal.
    Str(String),
    /// `[a, b]` (or the parenthesised `(a, b)` dialect form).
    List(Vec<Expr>),
    /// `now`: the execution instant.
    Now,
    /// `today`: the execution day.
    Today,
    /// `yesterday`.
    Yesterday,
    /// `tomorrow`.
    Tomorrow,
    /// A reference with field navigation: `person.name.firstName`, `X.timestamp`, `$1.a`.
    Path(Path),
    /// `target[cond]` filter, `target[0]` index or `target["key"]` lookup.
    Index {
        /// What is indexed or filtered.
        target: Box<Expr>,
        /// Condition (relative to each element), integer index or string key.
        index: Box<Expr>,
    },
    /// `target.method(args)`.
    Method {
        /// The receiver.
        target: Box<Expr>,
        /// Which method.
        method: Method,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// A global function call: `date(…)`, `inSegment(…)`, `if(…)`, `currentMonth()`.
    Call {
        /// Which function.
        func: Func,
        /// Its arguments.
        args: Vec<Expr>,
    },
    /// `not(x)` / `!x`.
    Not(Box<Expr>),
    /// Arithmetic negation `-(x)`.
    Neg(Box<Expr>),
    /// Conjunction of two or more operands.
    And(Vec<Expr>),
    /// Disjunction of two or more operands.
    Or(Vec<Expr>),
    /// Binary operator: comparison, arithmetic, `in`, `notIn`, `like`, `matches`.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `subject occurs …`.
    Occurs {
        /// The timestamp being tested.
        subject: Box<Expr>,
        /// The time condition.
        when: Occurs,
    },
    /// `select …`, `exists …`, `forall …`, `sum … over …` and friends.
    Query(Box<Query>),
    /// `chain(xEvent, timestamp, [steps])`.
    Chain(Vec<Step>),
    /// `let name = (value) in (body)`.
    Let {
        /// The bound name.
        name: String,
        /// Its value.
        value: Box<Expr>,
        /// Where the name is visible.
        body: Box<Expr>,
    },
    /// `(Profile) => body`: names the parameters (the first is the profile).
    Lambda {
        /// Parameter names.
        params: Vec<String>,
        /// The body.
        body: Box<Expr>,
    },
}

/// A reference: a base and field names navigated from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Path {
    /// Where navigation starts.
    pub base: Base,
    /// Field names, in order.
    pub fields: Vec<String>,
}

/// Where a [`Path`] starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Base {
    /// The implicit subject: the profile at top level, the element inside a filter, `WHAT(…)`
    /// or element-wise method argument. `n` is the number of `^` (levels up).
    Implicit(u8),
    /// A bound variable (`select X …`, `let`, lambda parameter).
    Var(String),
    /// `$n`: positional parameter (`$1` is the profile).
    Param(u32),
    /// `xEvent`: the profile's experience events.
    XEvent,
    /// The result of another expression, e.g. `(select …).count` or `m.get("k").status`.
    Expr(Box<Expr>),
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    /// A comparison.
    Cmp(CmpOp),
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` (division by zero gives null).
    Div,
    /// `%`.
    Rem,
    /// `in`.
    In,
    /// `notIn`.
    NotIn,
    /// `like` (SQL wildcards).
    Like,
    /// `matches` (regular expression, find semantics).
    Matches,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

impl CmpOp {
    /// The operator's text.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }
}

/// The time condition of `occurs` and `WHEN(…)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Occurs {
    /// `<cmp> n unit before|after anchor`.
    Relative {
        /// Comparison on the distance.
        cmp: CmpOp,
        /// The count of units.
        n: u32,
        /// The unit.
        unit: Unit,
        /// Before or after the anchor.
        dir: Dir,
        /// The reference time.
        anchor: Anchor,
    },
    /// `before anchor`.
    Before(Anchor),
    /// `after anchor`.
    After(Anchor),
    /// `[on] anchor`.
    On(Anchor),
    /// `between a and b` (inclusive).
    Between(Anchor, Anchor),
}

/// Direction of a relative window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Dir {
    /// `before`.
    Before,
    /// `after` (also written `from`).
    After,
}

/// A reference time for `occurs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Anchor {
    /// The execution instant.
    Now,
    /// The execution day.
    Today,
    /// The day before.
    Yesterday,
    /// The day after.
    Tomorrow,
    /// The current calendar period of a unit (`this month`).
    This(Unit),
    /// The previous calendar period (`last week`).
    Last(Unit),
    /// The next calendar period.
    Next(Unit),
    /// Any expression yielding a time or a date: `date(2019,12,31)`, `Y.timestamp`.
    Expr(Box<Expr>),
}

/// Time units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unit {
    /// Milliseconds.
    Millisecond,
    /// Seconds.
    Second,
    /// Minutes.
    Minute,
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// Weeks (starting Monday for calendar periods).
    Week,
    /// Calendar months.
    Month,
    /// Calendar years.
    Year,
    /// Ten years.
    Decade,
    /// A hundred years.
    Century,
    /// A thousand years.
    Millennium,
}

impl Unit {
    /// Parses a unit word, singular or plural.
    pub fn from_word(w: &str) -> Option<Unit> {
        Some(match w {
            "millisecond" | "milliseconds" => Unit::Millisecond,
            "second" | "seconds" => Unit::Second,
            "minute" | "minutes" => Unit::Minute,
            "hour" | "hours" => Unit::Hour,
            "day" | "days" => Unit::Day,
            "week" | "weeks" => Unit::Week,
            "month" | "months" => Unit::Month,
            "year" | "years" => Unit::Year,
            "decade" | "decades" => Unit::Decade,
            "century" | "centuries" => Unit::Century,
            "millennium" | "millennia" => Unit::Millennium,
            _ => return None,
        })
    }

    /// The word for the unit (`plural` for counts other than one).
    pub fn word(self, plural: bool) -> &'static str {
        match (self, plural) {
            (Unit::Millisecond, false) => "millisecond",
            (Unit::Millisecond, true) => "milliseconds",
            (Unit::Second, false) => "second",
            (Unit::Second, true) => "seconds",
            (Unit::Minute, false) => "minute",
            (Unit::Minute, true) => "minutes",
            (Unit::Hour, false) => "hour",
            (Unit::Hour, true) => "hours",
            (Unit::Day, false) => "day",
            (Unit::Day, true) => "days",
            (Unit::Week, false) => "week",
            (Unit::Week, true) => "weeks",
            (Unit::Month, false) => "month",
            (Unit::Month, true) => "months",
            (Unit::Year, false) => "year",
            (Unit::Year, true) => "years",
            (Unit::Decade, false) => "decade",
            (Unit::Decade, true) => "decades",
            (Unit::Century, false) => "century",
            (Unit::Century, true) => "centuries",
            (Unit::Millennium, false) => "millennium",
            (Unit::Millennium, true) => "millennia",
        }
    }
}

/// `select`, quantifiers and aggregations over bound variables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// What the query computes.
    pub kind: QueryKind,
    /// `V from source where cond`, one or more; later ones may use earlier variables.
    pub bindings: Vec<Binding>,
}

/// What a [`Query`] computes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum QueryKind {
    /// `select`: the matching tuples (true when non-empty; `.count()` counts them).
    Select,
    /// `exists`: at least one tuple.
    Exists,
    /// `forall`: every tuple of the sources satisfies the conditions.
    Forall,
    /// `sum e over …` (0 when empty).
    Sum(Expr),
    /// `average e over …` (null when empty).
    Average(Expr),
    /// `min e over …` (null when empty).
    Min(Expr),
    /// `max e over …` (null when empty).
    Max(Expr),
}

/// One `V from source [where cond]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// The variable name.
    pub var: String,
    /// The collection it ranges over.
    pub source: Expr,
    /// The optional condition.
    pub cond: Option<Expr>,
}

/// One labelled step of `chain(…)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The label (`A`, `C0`, …).
    pub label: String,
    /// `WHAT(cond)`, relative to the event.
    pub what: Expr,
    /// `WHEN(time condition)` on the event timestamp.
    pub when: Option<Occurs>,
    /// `COUNT(n)`: at least `n` matching events.
    pub count: Option<u32>,
    /// `WHERE(cond)`, relative to the profile.
    pub where_: Option<Expr>,
}

/// Global functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Func {
    /// `date(y, m, d)`: a day.
    Date,
    /// `inSegment("id")`.
    InSegment,
    /// `if(test, a, b)`.
    If,
    /// `currentMonth()`.
    CurrentMonth,
    /// `currentYear()`.
    CurrentYear,
    /// `currentDayOfMonth()`.
    CurrentDayOfMonth,
    /// `currentDate()`: today as a day.
    CurrentDate,
}

impl Func {
    /// Every function, for name lookup.
    pub const ALL: [Func; 7] = [
        Func::Date,
        Func::InSegment,
        Func::If,
        Func::CurrentMonth,
        Func::CurrentYear,
        Func::CurrentDayOfMonth,
        Func::CurrentDate,
    ];

    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Date => "date",
            Func::InSegment => "inSegment",
            Func::If => "if",
            Func::CurrentMonth => "currentMonth",
            Func::CurrentYear => "currentYear",
            Func::CurrentDayOfMonth => "currentDayOfMonth",
            Func::CurrentDate => "currentDate",
        }
    }

    /// Accepted argument counts (min, max).
    pub fn arity(self) -> (usize, usize) {
        match self {
            Func::Date | Func::If => (3, 3),
            Func::InSegment => (1, 1),
            _ => (0, 0),
        }
    }
}

/// Methods (`target.name(args)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// `s.contains(t[, caseSensitive])`.
    Contains,
    /// `s.startsWith(t[, cs])`.
    StartsWith,
    /// `s.endsWith(t[, cs])`.
    EndsWith,
    /// `s.equals(t[, cs])`.
    Equals,
    /// `s.notEqualTo(t[, cs])`.
    NotEqualTo,
    /// `s.doesNotContain(t[, cs])`.
    DoesNotContain,
    /// `s.doesNotStartWith(t[, cs])`.
    DoesNotStartWith,
    /// `s.doesNotEndWith(t[, cs])`.
    DoesNotEndWith,
    /// `s.regexGroup(re, n)`.
    RegexGroup,
    /// `a.intersects(b)`.
    Intersects,
    /// `a.intersection(b)`.
    Intersection,
    /// `a.subsetOf(b)`.
    SubsetOf,
    /// `a.supersetOf(b)`.
    SupersetOf,
    /// `a.includes(x)`.
    Includes,
    /// `a.distinct()`.
    Distinct,
    /// `a.count()`.
    Count,
    /// `a.sum([e])`.
    Sum,
    /// `a.average([e])` (also `avg`).
    Average,
    /// `a.min([e])`.
    Min,
    /// `a.max([e])`.
    Max,
    /// `x.isNull()`.
    IsNull,
    /// `x.isNotNull()`.
    IsNotNull,
    /// `m.get(key)`.
    Get,
    /// `m.keys()`.
    Keys,
    /// `m.values()`.
    Values,
    /// `a.exists(cond)`: some element satisfies `cond`.
    Exists,
    /// `a.any(cond)`: same as `exists`.
    Any,
    /// `a.all(cond)`: every element satisfies `cond`.
    All,
    /// `a.filter(cond)`.
    Filter,
    /// `a.head()`: the first element.
    Head,
    /// `a.topN(e, n)`: the `n` elements with the largest `e`.
    TopN,
    /// `a.bottomN(e, n)`: the `n` elements with the smallest `e`.
    BottomN,
    /// `t.getMonth()` (1–12).
    GetMonth,
    /// `t.getYear()`.
    GetYear,
    /// `t.getDayOfMonth()`.
    GetDayOfMonth,
    /// `birthDate.age()`: whole years until today.
    Age,
}

impl Method {
    /// Every method, for name lookup.
    pub const ALL: [Method; 36] = [
        Method::Contains,
        Method::StartsWith,
        Method::EndsWith,
        Method::Equals,
        Method::NotEqualTo,
        Method::DoesNotContain,
        Method::DoesNotStartWith,
        Method::DoesNotEndWith,
        Method::RegexGroup,
        Method::Intersects,
        Method::Intersection,
        Method::SubsetOf,
        Method::SupersetOf,
        Method::Includes,
        Method::Distinct,
        Method::Count,
        Method::Sum,
        Method::Average,
        Method::Min,
        Method::Max,
        Method::IsNull,
        Method::IsNotNull,
        Method::Get,
        Method::Keys,
        Method::Values,
        Method::Exists,
        Method::Any,
        Method::All,
        Method::Filter,
        Method::Head,
        Method::TopN,
        Method::BottomN,
        Method::GetMonth,
        Method::GetYear,
        Method::GetDayOfMonth,
        Method::Age,
    ];

    /// The method's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Contains => "contains",
            Method::StartsWith => "startsWith",
            Method::EndsWith => "endsWith",
            Method::Equals => "equals",
            Method::NotEqualTo => "notEqualTo",
            Method::DoesNotContain => "doesNotContain",
            Method::DoesNotStartWith => "doesNotStartWith",
            Method::DoesNotEndWith => "doesNotEndWith",
            Method::RegexGroup => "regexGroup",
            Method::Intersects => "intersects",
            Method::Intersection => "intersection",
            Method::SubsetOf => "subsetOf",
            Method::SupersetOf => "supersetOf",
            Method::Includes => "includes",
            Method::Distinct => "distinct",
            Method::Count => "count",
            Method::Sum => "sum",
            Method::Average => "average",
            Method::Min => "min",
            Method::Max => "max",
            Method::IsNull => "isNull",
            Method::IsNotNull => "isNotNull",
            Method::Get => "get",
            Method::Keys => "keys",
            Method::Values => "values",
            Method::Exists => "exists",
            Method::Any => "any",
            Method::All => "all",
            Method::Filter => "filter",
            Method::Head => "head",
            Method::TopN => "topN",
            Method::BottomN => "bottomN",
            Method::GetMonth => "getMonth",
            Method::GetYear => "getYear",
            Method::GetDayOfMonth => "getDayOfMonth",
            Method::Age => "age",
        }
    }

    /// Looks a method up by name (including the `avg` alias).
    pub fn from_name(name: &str) -> Option<Method> {
        if name == "avg" {
            return Some(Method::Average);
        }
        Method::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Accepted argument counts (min, max).
    pub fn arity(self) -> (usize, usize) {
        use Method::*;
        match self {
            Contains | StartsWith | EndsWith | Equals | NotEqualTo | DoesNotContain
            | DoesNotStartWith | DoesNotEndWith => (1, 2),
            RegexGroup | TopN | BottomN => (2, 2),
            Intersects | Intersection | SubsetOf | SupersetOf | Includes | Get | Exists | Any
            | All | Filter => (1, 1),
            Sum | Average | Min | Max => (0, 1),
            Distinct | Count | IsNull | IsNotNull | Keys | Values | Head | GetMonth | GetYear
            | GetDayOfMonth | Age => (0, 0),
        }
    }

    /// Whether the first argument is evaluated once per element, relative to it (a lambda in
    /// all but name), rather than once in the caller's scope.
    pub fn element_wise(self) -> bool {
        use Method::*;
        matches!(
            self,
            Sum | Average | Min | Max | Exists | Any | All | Filter | TopN | BottomN
        )
    }
}

impl Expr {
    /// Direct sub-expressions, in source order (including query values, chain steps and
    /// `occurs` anchors), for analyses that visit the whole tree.
    pub fn children(&self) -> Vec<&Expr> {
        fn anchor<'a>(out: &mut Vec<&'a Expr>, a: &'a Anchor) {
            if let Anchor::Expr(e) = a {
                out.push(e);
            }
        }
        fn occurs<'a>(out: &mut Vec<&'a Expr>, o: &'a Occurs) {
            match o {
                Occurs::Relative { anchor: a, .. }
                | Occurs::Before(a)
                | Occurs::After(a)
                | Occurs::On(a) => anchor(out, a),
                Occurs::Between(a, b) => {
                    anchor(out, a);
                    anchor(out, b);
                }
            }
        }
        let mut out = Vec::new();
        match self {
            Expr::Null
            | Expr::Bool(_)
            | Expr::Num(_)
            | Expr::Str(_)
            | Expr::Now
            | Expr::Today
            | Expr::Yesterday
            | Expr::Tomorrow => {}
            Expr::List(items) | Expr::And(items) | Expr::Or(items) => out.extend(items),
            Expr::Path(p) => {
                if let Base::Expr(e) = &p.base {
                    out.push(e);
                }
            }
            Expr::Index { target, index } => {
                out.push(target);
                out.push(index);
            }
            Expr::Method { target, args, .. } => {
                out.push(target);
                out.extend(args);
            }
            Expr::Call { args, .. } => out.extend(args),
            Expr::Not(e) | Expr::Neg(e) => out.push(e),
            Expr::Binary { lhs, rhs, .. } => {
                out.push(lhs);
                out.push(rhs);
            }
            Expr::Occurs { subject, when } => {
                out.push(subject);
                occurs(&mut out, when);
            }
            Expr::Query(q) => {
                if let QueryKind::Sum(v)
                | QueryKind::Average(v)
                | QueryKind::Min(v)
                | QueryKind::Max(v) = &q.kind
                {
                    out.push(v);
                }
                for b in &q.bindings {
                    out.push(&b.source);
                    out.extend(&b.cond);
                }
            }
            Expr::Chain(steps) => {
                for s in steps {
                    out.push(&s.what);
                    if let Some(o) = &s.when {
                        occurs(&mut out, o);
                    }
                    out.extend(&s.where_);
                }
            }
            Expr::Let { value, body, .. } => {
                out.push(value);
                out.push(body);
            }
            Expr::Lambda { body, .. } => out.push(body),
        }
        out
    }
}
