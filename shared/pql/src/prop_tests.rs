//! Property tests: random trees print and parse back to themselves; random text (including
//! mutations of real definitions) never panics the parser, the analyser or the evaluator.

use crate::ast::*;
use crate::context::{EvalContext, Event};
use crate::{compile, parse, print};
use proptest::prelude::*;

fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "person",
        "name",
        "city",
        "homeAddress",
        "count",
        "items",
        "_acme",
        "tier2",
    ])
    .prop_map(String::from)
}

fn var() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["X", "Y", "E1"]).prop_map(String::from)
}

fn unit() -> impl Strategy<Value = Unit> {
    prop::sample::select(vec![
        Unit::Millisecond,
        Unit::Second,
        Unit::Minute,
        Unit::Hour,
        Unit::Day,
        Unit::Week,
        Unit::Month,
        Unit::Year,
        Unit::Decade,
        Unit::Century,
        Unit::Millennium,
    ])
}

fn cmp() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        Just(Expr::Null),
        any::<bool>().prop_map(Expr::Bool),
        (-1e12f64..1e12).prop_map(Expr::Num),
        any::<i32>().prop_map(|n| Expr::Num(f64::from(n))),
        "[ -~]{0,8}|\\PC{0,4}".prop_map(Expr::Str),
        Just(Expr::Now),
        Just(Expr::Today),
        Just(Expr::Yesterday),
        Just(Expr::Tomorrow),
        prop::collection::vec(field(), 1..4).prop_map(|fields| Expr::Path(Path {
            base: Base::Implicit(0),
            fields
        })),
        (1u32..4, prop::collection::vec(field(), 0..3)).prop_map(|(n, fields)| Expr::Path(Path {
            base: Base::Param(n),
            fields
        })),
        prop::collection::vec(field(), 0..3).prop_map(|fields| Expr::Path(Path {
            base: Base::XEvent,
            fields
        })),
    ]
}

fn anchor(e: BoxedStrategy<Expr>) -> BoxedStrategy<Anchor> {
    prop_oneof![
        Just(Anchor::Now),
        Just(Anchor::Today),
        Just(Anchor::Yesterday),
        Just(Anchor::Tomorrow),
        unit().prop_map(Anchor::This),
        unit().prop_map(Anchor::Last),
        unit().prop_map(Anchor::Next),
        e.prop_filter("keyword-like anchors parse as keywords", |e| !matches!(
            e,
            Expr::Now | Expr::Today | Expr::Yesterday | Expr::Tomorrow
        ))
        .prop_map(|e| Anchor::Expr(Box::new(e))),
    ]
    .boxed()
}

fn occurs(e: BoxedStrategy<Expr>) -> impl Strategy<Value = Occurs> {
    let a = anchor(e);
    prop_oneof![
        (cmp(), 0u32..1000, unit(), any::<bool>(), a.clone()).prop_map(
            |(cmp, n, unit, b, anchor)| {
                Occurs::Relative {
                    cmp,
                    n,
                    unit,
                    dir: if b { Dir::Before } else { Dir::After },
                    anchor,
                }
            }
        ),
        a.clone().prop_map(Occurs::Before),
        a.clone().prop_map(Occurs::After),
        a.clone().prop_map(Occurs::On),
        (a.clone(), a).prop_map(|(x, y)| Occurs::Between(x, y)),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(Method::ALL.to_vec())
}

/// Trees the parser can produce (no `Neg(Num)`, no nested And-in-And, bound variables only
/// inside their query).
fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        let b = inner.clone().boxed();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Expr::List),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| Expr::And(
                v.into_iter()
                    .map(|e| if matches!(e, Expr::And(_)) {
                        Expr::Not(Box::new(e))
                    } else {
                        e
                    })
                    .collect()
            )),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| Expr::Or(
                v.into_iter()
                    .map(|e| if matches!(e, Expr::Or(_)) {
                        Expr::Not(Box::new(e))
                    } else {
                        e
                    })
                    .collect()
            )),
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            inner
                .clone()
                .prop_filter("negative literals fold", |e| !matches!(e, Expr::Num(_)))
                .prop_map(|e| Expr::Neg(Box::new(e))),
            (
                prop::sample::select(vec![
                    BinOp::Cmp(CmpOp::Eq),
                    BinOp::Cmp(CmpOp::Ne),
                    BinOp::Cmp(CmpOp::Lt),
                    BinOp::Cmp(CmpOp::Ge),
                    BinOp::Add,
                    BinOp::Sub,
                    BinOp::Mul,
                    BinOp::Div,
                    BinOp::Rem,
                    BinOp::In,
                    BinOp::NotIn,
                    BinOp::Like,
                    BinOp::Matches,
                ]),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, l, r)| Expr::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r)
                }),
            (inner.clone(), occurs(b.clone())).prop_map(|(s, when)| Expr::Occurs {
                subject: Box::new(s),
                when
            }),
            (
                inner.clone(),
                method(),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(t, method, args)| Expr::Method {
                    target: Box::new(t),
                    method,
                    args: fit(args, method.arity())
                }),
            (inner.clone(), inner.clone()).prop_map(|(t, i)| Expr::Index {
                target: Box::new(t),
                index: Box::new(i)
            }),
            (
                prop::sample::select(Func::ALL.to_vec()),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(func, args)| Expr::Call {
                    func,
                    args: fit(args, func.arity())
                }),
            (inner.clone(), prop::collection::vec(field(), 1..3)).prop_map(|(e, fields)| {
                match e {
                    Expr::Path(mut p) => {
                        p.fields.extend(fields);
                        Expr::Path(p)
                    }
                    other => Expr::Path(Path {
                        base: Base::Expr(Box::new(other)),
                        fields,
                    }),
                }
            }),
            (
                var(),
                inner.clone(),
                prop::option::of(inner.clone()),
                0usize..4
            )
                .prop_map(|(v, src, cond, k)| {
                    let reference = Expr::Path(Path {
                        base: Base::Var(v.clone()),
                        fields: vec!["timestamp".into()],
                    });
                    let cond = cond.map(|c| Expr::And(vec![c, reference.clone()]));
                    let kind = match k {
                        0 => QueryKind::Select,
                        1 => QueryKind::Exists,
                        2 => QueryKind::Forall,
                        _ => QueryKind::Sum(reference),
                    };
                    Expr::Query(Box::new(Query {
                        kind,
                        bindings: vec![Binding {
                            var: v,
                            source: src,
                            cond,
                        }],
                    }))
                }),
            (prop::collection::vec(
                (
                    var(),
                    inner.clone(),
                    prop::option::of(occurs(b.clone())),
                    prop::option::of(1u32..10),
                    prop::option::of(inner.clone())
                ),
                1..3
            ))
            .prop_map(|steps| Expr::Chain(
                steps
                    .into_iter()
                    .map(|(label, what, when, count, where_)| Step {
                        label,
                        what,
                        when,
                        count,
                        where_
                    })
                    .collect()
            )),
            (inner.clone(), inner.clone()).prop_map(|(v, body)| Expr::Let {
                name: "S".into(),
                value: Box::new(v),
                body: Box::new(Expr::And(vec![
                    body,
                    Expr::Path(Path {
                        base: Base::Var("S".into()),
                        fields: vec![]
                    })
                ])),
            }),
        ]
    })
}

/// Pads or truncates arguments to an accepted count.
fn fit(mut args: Vec<Expr>, (lo, hi): (usize, usize)) -> Vec<Expr> {
    let n = args.len().clamp(lo, hi);
    args.resize(n, Expr::Null);
    args
}

/// Real definitions to mutate.
const SEEDS: &[&str] = &[
    "homeAddress.countryCode = \"US\" and chain(xEvent, timestamp, [C0: WHAT(eventType.equals(\"commerce.checkouts\", false)) WHEN(today)])",
    "select X from xEvent where X.timestamp occurs before today, I from X.productListItems where I.SKU = \"PS\"",
    "(sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = \"USD\") > 1000",
    "xEvent[(timestamp occurs < 7 days before now) and eventType=\"download\"].count()",
    "person.birthYear - (person.birthMonth + person.birthDay) >= 3 or not(inSegment(\"x\"))",
];

fn eval_quietly(src: &str) {
    let Ok(c) = compile(src) else { return };
    let profile = serde_json::json!({"homeAddress": {"countryCode": "US"}, "person": {"birthYear": 1980},
        "items": [1, 2, {"a": "b"}], "X": "2018-01-01"});
    let events: Vec<Event> = (0..20)
        .map(|i| Event {
            timestamp_ms: 1_500_000_000_000 + i * 3_600_000,
            event_type: if i % 2 == 0 { "download".into() } else { "commerce.checkouts".into() },
            xdm: serde_json::json!({"productListItems": [{"SKU": "PS"}], "commerce": {"order": {"priceTotal": i}}}),
        })
        .collect();
    let none = |_: &str| None;
    let ctx =
        EvalContext::new(&profile, &events, None, &none, 1_500_050_000_000).with_budget(50_000);
    let _ = c.evaluate(&ctx);
    let _ = c.evaluate_value(&ctx);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(e in expr()) {
        let text = print(&e);
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&e), "text: {} err: {:?}", text, back.as_ref().err());
        // Canonical text is a fixed point.
        prop_assert_eq!(back.map(|b| print(&b)).ok(), Some(text));
    }

    #[test]
    fn printed_trees_evaluate_without_panicking(e in expr()) {
        eval_quietly(&print(&e));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
        eval_quietly(&s);
    }

    #[test]
    fn token_soup_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "(", ")", "[", "]", "{", "}", ",", ".", ":", "^", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%",
        "!", "=>", "@", "$1", "\"s\"", "1", "2.5", "and", "or", "not", "in", "notIn", "like", "matches", "occurs",
        "select", "X", "from", "where", "xEvent", "exists", "forall", "sum", "over", "let", "chain", "WHAT", "WHEN",
        "COUNT", "WHERE", "today", "now", "before", "after", "between", "hours", "days", "last", "month", "date",
        "inSegment", "if", "count", "timestamp", "eventType", "a", "b",
    ]), 0..60)) {
        let s = parts.join(" ");
        let _ = parse(&s);
        eval_quietly(&s);
    }

    #[test]
    fn mutated_definitions_never_panic(seed in prop::sample::select(SEEDS.to_vec()), cut in 0usize..200, insert in "\\PC{0,5}") {
        let mut s = seed.to_string();
        let at = (0..=cut.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.insert_str(at, &insert);
        let _ = parse(&s);
        eval_quietly(&s);
        let truncated: String = seed.chars().take(cut).collect();
        let _ = parse(&truncated);
        eval_quietly(&truncated);
    }

    #[test]
    fn extreme_times_never_panic(now in any::<i64>(), t in any::<i64>(), offset in -1440i32..1440, k in 0usize..8) {
        let src = [
            "t occurs < 3 months before now",
            "t occurs = 2 centuries after today",
            "t occurs != 1 millennium before last decade",
            "t occurs between last week and next year",
            "t occurs on t",
            "t.getMonth() = currentMonth() and t.age() > 3",
            "t occurs >= 4294967295 millennia after date(9999999, 12, 31)",
            "chain(xEvent, timestamp, [A: WHAT(timestamp occurs yesterday) WHEN(> 4294967295 years before tomorrow)])",
        ][k];
        let Ok(c) = compile(src) else { return Err(TestCaseError::fail(src)) };
        let profile = serde_json::json!({"t": t});
        let events = vec![Event { timestamp_ms: t, event_type: "x".into(), xdm: serde_json::json!({}) }];
        let none = |_: &str| None;
        let ctx = EvalContext::new(&profile, &events, None, &none, now).with_utc_offset_minutes(offset);
        let _ = c.evaluate(&ctx);
    }
}
