//! Semantic tests of evaluation, one group per operator family: comparisons and null handling,
//! booleans, arithmetic, strings, lists, maps, dates and windows (edges and time zones), event
//! queries, chains and segment membership.

use crate::context::{EvalContext, Event, MembershipState};
use crate::time::{MS_PER_DAY, parse_timestamp};
use crate::{EvalError, compile};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap_or_else(|| panic!("bad timestamp {s}"))
}

/// 2018-08-28T15:00:00Z, the date of the reference's worked `occurs` example.
fn now() -> i64 {
    ts("2018-08-28T15:00:00Z")
}

struct World {
    profile: Value,
    events: Vec<Event>,
    current: Option<Event>,
    members: Vec<(&'static str, MembershipState)>,
    now: i64,
    offset_minutes: i32,
}

impl World {
    fn new(profile: Value) -> Self {
        World {
            profile,
            events: Vec::new(),
            current: None,
            members: Vec::new(),
            now: now(),
            offset_minutes: 0,
        }
    }

    fn event(mut self, event_type: &str, at: i64, xdm: Value) -> Self {
        self.events.push(Event {
            timestamp_ms: at,
            event_type: event_type.into(),
            xdm,
        });
        self
    }

    fn current(mut self, event_type: &str, xdm: Value) -> Self {
        self.current = Some(Event {
            timestamp_ms: self.now,
            event_type: event_type.into(),
            xdm,
        });
        self
    }

    fn member(mut self, id: &'static str, s: MembershipState) -> Self {
        self.members.push((id, s));
        self
    }

    fn offset(mut self, minutes: i32) -> Self {
        self.offset_minutes = minutes;
        self
    }

    fn at(mut self, t: i64) -> Self {
        self.now = t;
        self
    }

    fn run(&self, src: &str) -> Result<bool, EvalError> {
        let c = match compile(src) {
            Ok(c) => c,
            Err(e) => panic!("{src}: {e}"),
        };
        let members = self.members.clone();
        let lookup = move |id: &str| members.iter().find(|(k, _)| *k == id).map(|(_, s)| *s);
        let ctx = EvalContext::new(
            &self.profile,
            &self.events,
            self.current.as_ref(),
            &lookup,
            self.now,
        )
        .with_utc_offset_minutes(self.offset_minutes);
        c.evaluate(&ctx)
    }

    fn is(&self, src: &str) -> bool {
        match self.run(src) {
            Ok(b) => b,
            Err(e) => panic!("{src}: {e}"),
        }
    }

    fn value(&self, src: &str) -> Value {
        let Ok(c) = compile(src) else { panic!("{src}") };
        let none = |_: &str| None;
        let ctx = EvalContext::new(&self.profile, &self.events, None, &none, self.now)
            .with_utc_offset_minutes(self.offset_minutes);
        c.evaluate_value(&ctx).unwrap_or(Value::Null)
    }
}

fn person(p: Value) -> World {
    World::new(p)
}

#[test]
fn comparisons_and_null() {
    let w = person(
        json!({"homeAddress": {"countryISO": "CA", "stateProvinceISO": "CA"},
        "workAddress": {"stateProvinceISO": "OR"}, "person": {"birthYear": 1980, "birthMonth": 3}}),
    );
    assert!(w.is("homeAddress.countryISO = \"CA\""));
    assert!(!w.is("homeAddress.countryISO = \"ca\""));
    assert!(w.is("person.birthYear > 1979 and person.birthMonth <= 3"));
    assert!(w.is("homeAddress.stateProvinceISO != workAddress.stateProvinceISO"));
    // Null on either side: both = and != are false; not(=) is true.
    assert!(!w.is("homeAddress.city = \"x\""));
    assert!(!w.is("homeAddress.city != \"x\""));
    assert!(w.is("not(homeAddress.city = \"x\")"));
    assert!(!w.is("missing < 3"));
    // Coercion of the literal to the attribute's type.
    let w = person(json!({"flag": true, "n": 5}));
    assert!(w.is("flag = \"true\""));
    assert!(w.is("n = \"5\""));
    assert!(w.is("$1.n = 5"));
    assert!(w.is("(Profile) => Profile.n >= 5"));
}

#[test]
fn booleans_and_coercion() {
    let w = person(json!({"person": {"a": 1}, "homeAddress": {}, "tags": [], "list": [1]}));
    assert!(w.is("person"));
    assert!(w.is("homeAddress"));
    assert!(!w.is("workAddress"));
    assert!(!w.is("tags"));
    assert!(w.is("list"));
    assert!(w.is("person.a = 1 or missing = 2"));
    assert!(!w.is("person.a = 1 and missing = 2"));
    assert!(w.is("!(missing = 2)"));
    assert!(w.is("if(person.a = 1, true, false)"));
    assert_eq!(w.value("if(person.a = 2, 60, 65)"), json!(65.0));
}

#[test]
fn arithmetic() {
    let w = person(json!({"a": 10, "b": 0, "age": 35}));
    assert!(w.is("a / 4 = 2.5"));
    assert!(!w.is("a / b > 5"));
    assert!(!w.is("a / b <= 5"));
    assert!(w.is("age % 5 = 0"));
    assert!(w.is("a - (2 + 3) * 2 = 0"));
    assert!(w.is("-(a) = -10"));
    assert!(!w.is("a + missing > 0"));
}

#[test]
fn strings_match_reference_examples() {
    let e = |s: &str| person(json!({"workEmail": {"address": s}, "firstName": s, "name": s}));
    assert!(e("joe.lean@work.com").is("workEmail.address.startsWith(\"joe\")"));
    assert!(!e("JOE.lean@work.com").is("workEmail.address.startsWith(\"joe\")"));
    assert!(e("JOE.lean@work.com").is("workEmail.address.startsWith(\"joe\", false)"));
    assert!(!e("joe.lean@work.com").is("workEmail.address.doesNotStartWith(\"joe\")"));
    assert!(e("JOE.lean@work.com").is("workEmail.address.doesNotStartWith(\"joe\")"));
    assert!(e("joe.lean@work.edu").is("workEmail.address.endsWith(\".edu\")"));
    assert!(!e("joe.lean@work.EDU").is("workEmail.address.endsWith(\".edu\")"));
    assert!(e("joe.lean@work.EDU").is("workEmail.address.endsWith(\".edu\", false)"));
    assert!(!e("joe.lean@YAHOO.com").is("workEmail.address.contains(\"yahoo\")"));
    assert!(e("joe.lean@YAHOO.com").is("workEmail.address.contains(\"yahoo\", false)"));
    assert!(e("John").is("firstName.equals(\"John\")"));
    assert!(!e("john").is("firstName.equals(\"John\")"));
    assert!(e("john").is("firstName.equals(\"John\", false)"));
    assert!(!e("Johnny").is("firstName.equals(\"John\", false)"));
    assert!(e("Johnny").is("firstName.notEqualTo(\"John\", false)"));
    assert!(!e("john").is("firstName.notEqualTo(\"John\", false)"));
    // Negative forms are also false on null.
    let none = person(json!({}));
    assert!(!none.is("firstName.contains(\"a\")"));
    assert!(!none.is("firstName.doesNotContain(\"a\")"));
    // like.
    assert!(e("John").is("firstName like \"John%\""));
    assert!(e("Johnny").is("firstName like \"John%\""));
    assert!(!e("UpJohn").is("firstName like \"John%\""));
    assert!(e("Madrid es").is("name like \"%es%\""));
    // matches: regex with find semantics.
    assert!(e("Johnny").is("firstName matches \"^John\""));
    assert!(!e("JOHN").is("firstName matches \"^John\""));
    assert!(e("UpJohn").is("firstName matches \"J.hn\""));
    assert!(e("Jahn").is("firstName matches \"J.hn\""));
    assert!(e("Jonathan").is("firstName matches \"^J.*n$\""));
    assert!(!e("Johnny").is("firstName matches \"^J.*n$\""));
    assert!(e("JOHN").is("firstName.matches(\"(?i)^john\")"));
    let m = person(json!({"emailAddress": "ada@example.com"}));
    assert_eq!(
        m.value("emailAddress.regexGroup(\"@(\\\\w+)\", 1)"),
        json!("example")
    );
}

#[test]
fn lists_and_sets() {
    let w = person(json!({
        "person": {"birthMonth": 6, "favoriteColors": ["red", "blue"], "eatenFoods": ["sushi", "pizza", "kale"],
                   "orders": [{"storeId": 1, "price": 10}, {"storeId": 2, "price": 30}, {"storeId": 1, "price": 20}]},
        "citiesVisited": ["London", "Paris"], "homeAddress": {"stateProvinceISO": "OR", "city": "Paris"}
    }));
    assert!(w.is("person.birthMonth in [3, 6, 9]"));
    assert!(!w.is("person.birthMonth notIn [3, 6, 9]"));
    assert!(w.is("homeAddress.stateProvinceISO in [\"CA\", \"OR\"]"));
    assert!(!w.is("homeAddress.stateProvinceISO in [\"ca\", \"or\"]"));
    assert!(w.is("\"London\" in citiesVisited"));
    assert!(!w.is("\"london\" in citiesVisited"));
    assert!(w.is("homeAddress.city in citiesVisited"));
    // notIn is false for a null left side.
    assert!(!w.is("homeAddress.countryISO notIn [\"CA\"]"));
    assert!(!w.is("homeAddress.countryISO in [\"CA\"]"));
    assert!(w.is("person.favoriteColors.intersects([\"red\", \"green\"])"));
    assert!(!w.is("person.favoriteColors.intersects([\"green\"])"));
    assert!(w.is("person.eatenFoods.supersetOf([\"sushi\", \"pizza\"])"));
    assert!(w.is("[\"sushi\"].subsetOf(person.eatenFoods)"));
    assert!(w.is("person.favoriteColors.includes(\"red\")"));
    assert!(w.is("person.favoriteColors.intersection([\"blue\", \"x\"]) = [\"blue\"]"));
    assert!(w.is("person.favoriteColors.intersection([\"x\"]).isNull()"));
    assert!(w.is("person.orders.storeId.distinct().count() = 2"));
    assert!(w.is("person.orders.count() = 3"));
    assert!(w.is("person.orders.sum(price) = 60"));
    assert!(w.is("person.orders.average(price) = 20"));
    assert!(w.is("person.orders.avg(price) = 20"));
    assert!(w.is("person.orders.min(price) = 10 and person.orders.max(price) = 30"));
    assert!(w.is("person.orders.price.max() = 30"));
    assert!(w.is("person.orders[price > 15].count() = 2"));
    assert!(w.is("person.orders.filter(storeId = 1).sum(price) = 30"));
    assert!(w.is("person.orders.topN(price, 2).head().price = 30"));
    assert!(w.is("person.orders.bottomN(price, 1).head().price = 10"));
    assert!(w.is("person.orders[0].price = 10"));
    assert!(w.is("person.orders.exists(price > 25) and person.orders.all(price > 5)"));
    assert!(!w.is("missing.all(price > 5)"));
    assert!(w.is("missing.count() = 0"));
    assert!(w.is("missing.sum() = 0"));
    assert!(!w.is("missing.average() = 0"));
}

#[test]
fn maps_and_null_checks() {
    let w = person(json!({
        "identityMap": {"Email": [{"id": "a@b.c"}], "ECID": [{"id": "123"}]},
        "segmentMembership": {"ups": {"s1": {"status": "existing"}}},
        "person": {"homeAddress": null}
    }));
    assert!(w.is("identityMap.keys().count() = 2"));
    assert!(w.is("identityMap.get(\"Email\").id = \"a@b.c\""));
    assert!(w.is("identityMap[\"ECID\"][0].id = \"123\""));
    assert!(
        w.is("segmentMembership.get(\"ups\").get(\"s1\").status in ([\"realized\", \"existing\"])")
    );
    assert!(w.is("identityMap.values().exists(id = \"123\")"));
    assert!(w.is("person.homeAddress.isNull() and person.isNotNull() and nothing.isNull()"));
}

#[test]
fn dates_and_calendar_functions() {
    let w = person(json!({
        "person": {"birthDate": "1990-08-29", "birthYear": 2018, "birthMonth": 8},
        "product": {"saleDate": "2018-08-22T10:00:00Z"},
        "_repo": {"modifyDate": "2019-04-02T00:00:00Z"},
    }));
    assert!(w.is("person.birthMonth = currentMonth() and person.birthYear = currentYear()"));
    assert!(w.is("currentDayOfMonth() = 28"));
    assert!(w.is("person.birthDate.getMonth() = 8 and person.birthDate.getDayOfMonth() = 29"));
    assert!(w.is("person.birthDate.getYear() in [1989, 1990]"));
    // Birthday tomorrow: still 27.
    assert!(w.is("person.birthDate.age() = 27"));
    assert!(w.is("product.saleDate occurs last week"));
    assert!(w.is("product.saleDate occurs between date(2018, 8, 1) and date(2018, 8, 22)"));
    assert!(!w.is("product.saleDate occurs between date(2018, 8, 1) and date(2018, 8, 21)"));
    assert!(w.is("_repo.modifyDate occurs after date(2019, 4, 1)"));
    assert!(!w.is("_repo.modifyDate occurs after date(2019, 4, 2)"));
    assert!(w.is("product.saleDate occurs before today"));
    assert!(w.is("product.saleDate occurs = 6 days before today"));
    assert!(w.is("product.saleDate occurs this month"));
    assert!(w.is("product.saleDate occurs on date(2018, 8, 22)"));
    assert!(w.is("product.saleDate occurs date(currentYear(), 8, 22)"));
    assert!(w.is("product.saleDate = date(2018, 8, 22)"));
    assert!(w.is("product.saleDate < today"));
    assert!(!w.is("missing occurs before today"));
    assert!(!w.is("product.saleDate occurs on date(2018, 2, 30)"));
    assert_eq!(w.value("date(2018, 8, 28)"), json!("2018-08-28"));
}

#[test]
fn occurs_window_edges() {
    let n = now();
    let at = |t: i64| person(json!({"t": t}));
    // `< 24 hours before now`: (now - 24h, now]; `<=` includes the boundary.
    assert!(!at(n - 24 * HOUR).is("t occurs < 24 hours before now"));
    assert!(at(n - 24 * HOUR + 1).is("t occurs < 24 hours before now"));
    assert!(at(n - 24 * HOUR).is("t occurs <= 24 hours before now"));
    assert!(!at(n - 24 * HOUR - 1).is("t occurs <= 24 hours before now"));
    assert!(at(n).is("t occurs < 24 hours before now"));
    assert!(!at(n + 1).is("t occurs < 24 hours before now"));
    assert!(at(n - 25 * HOUR).is("t occurs > 24 hours before now"));
    assert!(at(n - 24 * HOUR).is("t occurs >= 24 hours before now"));
    assert!(at(n + 3 * HOUR + 5).is("t occurs = 3 hours after now"));
    assert!(!at(n + 4 * HOUR).is("t occurs = 3 hours after now"));
    assert!(at(n + 4 * HOUR).is("t occurs != 3 hours after now"));
    // The reference's worked example: today = 28 Aug 2018, `<= 1 month before today` covers
    // 28 Jul .. 27 Aug.
    assert!(at(ts("2018-07-28T00:00:00Z")).is("t occurs <= 1 month before today"));
    assert!(at(ts("2018-08-27T23:59:59Z")).is("t occurs <= 1 month before today"));
    assert!(!at(ts("2018-07-27T23:59:59Z")).is("t occurs <= 1 month before today"));
    assert!(!at(ts("2018-08-28T00:00:00Z")).is("t occurs <= 1 month before today"));
    // today / yesterday / calendar months.
    assert!(at(ts("2018-08-28T00:00:00Z")).is("t occurs today"));
    assert!(!at(ts("2018-08-27T23:59:59.999Z")).is("t occurs today"));
    assert!(at(ts("2018-08-27T23:59:59.999Z")).is("t occurs yesterday"));
    assert!(at(ts("2018-07-01T00:00:00Z")).is("t occurs last month"));
    assert!(at(ts("2018-07-31T23:59:59.999Z")).is("t occurs last month"));
    assert!(!at(ts("2018-08-01T00:00:00Z")).is("t occurs last month"));
    assert!(at(ts("2017-12-31T00:00:00Z")).is("t occurs last year"));
    // Inclusive `between`.
    assert!(at(ts("2018-08-01T12:00:00Z")).is("t occurs between last month and this month"));
    // After/before relative to another timestamp.
    let w = person(json!({"x": "2018-08-01T00:00:00Z", "y": "2018-08-10T00:00:00Z"}));
    assert!(w.is("y occurs < 2 weeks after x"));
    assert!(w.is("y occurs after x"));
    assert!(!w.is("x occurs after y"));
    assert!(w.is("x occurs > 3 weeks after date(2017, 10, 1)"));
}

#[test]
fn time_zones() {
    // 2018-08-28T23:30Z is already 29 Aug in UTC+2 and still 28 Aug in UTC.
    let late = ts("2018-08-28T23:30:00Z");
    let w = person(json!({"t": "2018-08-28T12:00:00Z"})).at(late);
    assert!(w.is("t occurs today"));
    assert!(w.is("currentDayOfMonth() = 28"));
    let w2 = person(json!({"t": "2018-08-28T12:00:00Z"}))
        .at(late)
        .offset(120);
    assert!(!w2.is("t occurs today"));
    assert!(w2.is("t occurs yesterday"));
    assert!(w2.is("currentDayOfMonth() = 29"));
    // Local midnight of UTC-5 is 05:00Z.
    let w3 = person(json!({"t": "2018-08-28T04:59:59Z"})).offset(-300);
    assert!(w3.is("t occurs yesterday"));
    assert!(w3.is("t.getDayOfMonth() = 27"));
    assert!(w3.is("date(2018, 8, 28) = \"2018-08-28T05:00:00Z\""));
}

fn shopper() -> World {
    let n = now();
    person(json!({"homeAddress": {"countryCode": "US"}, "person": {"gender": "male"}}))
        .event("web.pageView", n - 30 * HOUR, json!({"web": {"webPageDetails": {"name": "home"}}}))
        .event("homePageView", n - 5 * HOUR, json!({}))
        .event("homePageView", n - 4 * HOUR, json!({}))
        .event("commerce.productListAdds", n - 3 * HOUR,
            json!({"productListItems": [{"SKU": "PS", "name": "iPhone 15 Pro", "priceTotal": 900}], "commerce": {"order": {"priceTotal": 900, "currencyCode": "USD"}}}))
        .event("commerce.checkouts", n - 2 * HOUR, json!({"commerce": {"order": {"priceTotal": 120, "currencyCode": "EUR"}}}))
        .event("homePageView", n - HOUR, json!({}))
}

#[test]
fn chain_steps_windows_counts_and_order() {
    let w = shopper();
    assert!(
        w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.checkouts\") WHEN(today)])")
    );
    assert!(w.is("CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals(\"COMMERCE.checkouts\", false)) WHEN(<= 24 hours before now)])"));
    assert!(!w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"web.pageView\") WHEN(< 24 hours before now)])"));
    assert!(w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"web.pageView\") WHEN(< 2 days before now)])"));
    assert!(w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"homePageView\") WHEN(< 24 hours before now) COUNT(3)])"));
    assert!(!w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"homePageView\") WHEN(< 24 hours before now) COUNT(4)])"));
    // Order: add to cart then checkout, not the reverse.
    assert!(w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.productListAdds\"), B: WHAT(eventType = \"commerce.checkouts\")])"));
    assert!(!w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.checkouts\"), B: WHAT(eventType = \"commerce.productListAdds\")])"));
    // Untyped steps scan all events; nested exists relative to the event.
    assert!(w.is("person.gender in [\"male\"] and CHAIN(xEvent, timestamp, [C0: WHAT(productListItems.exists(name.equals(\"iphone 15 pro\", false)))])"));
    assert!(w.is("chain(xEvent, timestamp, [X: WHAT(web.webPageDetails.name = \"home\")])"));
    assert!(w.is("not(chain(xEvent, timestamp, [A: WHAT(eventType = \"refund\")]))"));
    assert!(w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"homePageView\") WHERE(homeAddress.countryCode = \"US\")])"));
    assert!(!w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"homePageView\") WHERE(homeAddress.countryCode = \"CA\")])"));
    // `^` reaches the profile from inside WHAT.
    assert!(w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"homePageView\" and ^.homeAddress.countryCode = \"US\")])"));
}

#[test]
fn current_event_counts() {
    let w = person(json!({})).current(
        "commerce.purchases",
        json!({"commerce": {"order": {"priceTotal": 5}}}),
    );
    assert!(w.is("chain(xEvent, timestamp, [A: WHAT(eventType = \"commerce.purchases\") WHEN(< 1 minutes before now)])"));
    assert!(w.is("xEvent.any(commerce.order.priceTotal = 5)"));
    assert!(!person(json!({})).is("xEvent.any(eventType = \"commerce.purchases\")"));
}

#[test]
fn select_quantifiers_and_aggregations() {
    let w = shopper();
    assert!(w.is("select X from xEvent where X.eventType = \"homePageView\""));
    assert!(w.is("(select X from xEvent where X.eventType = \"homePageView\").count() = 3"));
    assert!(
        w.is("(select X from xEvent where X.timestamp occurs < 3 hours before now).count() = 2")
    );
    assert!(!w.is("select X from xEvent where X.timestamp occurs before today, I from X.productListItems where I.SKU = \"PS\""));
    assert!(w.is("select X from xEvent where X.timestamp occurs today, I from X.productListItems where I.SKU = \"PS\""));
    assert!(w.is("exists E from xEvent where (E.commerce.order.priceTotal > 50), I from E.productListItems where I.SKU = \"PS\""));
    assert!(!w.is("forall E from xEvent where E.eventType = \"homePageView\""));
    assert!(w.is("forall E from xEvent where E.timestamp occurs < 2 days before now"));
    assert!(w.is("(sum X.commerce.order.priceTotal over X from xEvent) = 1020"));
    assert!(w.is("(sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = \"USD\") = 900"));
    assert!(w.is("(average X.commerce.order.priceTotal over X from xEvent) = 510"));
    assert!(w.is("(min X.commerce.order.priceTotal over X from xEvent) = 120"));
    assert!(!w.is(
        "(max X.commerce.order.priceTotal over X from xEvent where X.eventType = \"none\") > 0"
    ));
    assert!(w.is(
        "(sum X.commerce.order.priceTotal over X from xEvent where X.eventType = \"none\") = 0"
    ));
    assert!(w.is(
        "let S = (sum X.commerce.order.priceTotal over X from xEvent) in (S > 100 and S < 2000)"
    ));
    // Two variables with relative ordering.
    assert!(w.is("select A from xEvent where A.eventType = \"homePageView\", B from xEvent where B.eventType = \"homePageView\" and B.timestamp occurs < 2 hours after A.timestamp and A.timestamp != B.timestamp"));
    // Filters over events and counts of events within a window.
    assert!(w.is("xEvent[eventType = \"homePageView\" and (timestamp occurs < 24 hours before now)].count() >= 3"));
    assert!(w.is(
        "xEvent[(timestamp occurs < 7 days before now)].sum(commerce.order.priceTotal) = 1020"
    ));
    assert!(w.is("xEvent.all(timestamp occurs < 2 days before now)"));
    assert!(w.is("xEvent.web.webPageDetails.name = \"home\""));
    assert!(w.is("xEvent[productListItems[SKU = \"PS\" or ^^.person.gender = \"female\"]]"));
    assert!(w.is("(sum X from [1, -2, 3] where X > 0) = 4"));
}

#[test]
fn segment_membership() {
    let w = person(json!({"homeAddress": {"countryCode": "US"}}))
        .member("a", MembershipState::Realized)
        .member("b", MembershipState::Existing)
        .member("c", MembershipState::Exited);
    assert!(w.is("inSegment(\"a\") and inSegment(\"b\")"));
    assert!(!w.is("inSegment(\"c\")"));
    assert!(!w.is("inSegment(\"unknown\")"));
    assert!(w.is("homeAddress.countryCode = \"US\" and inSegment(\"b\")"));
}

#[test]
fn budget_stops_runaway_queries() {
    let mut w = person(json!({}));
    for i in 0..400 {
        w = w.event("x", now() - i, json!({}));
    }
    let r = w.run("select A from xEvent, B from xEvent, C from xEvent where A.timestamp = 0");
    assert!(matches!(r, Err(EvalError::Budget(_))));
    assert_eq!(
        w.run("select A from xEvent where A.eventType = \"x\""),
        Ok(true)
    );
}

#[test]
fn deepest_accepted_expression_evaluates() {
    let depth = crate::MAX_DEPTH - 2;
    let src = format!("{}a = 1{}", "(".repeat(depth), ")".repeat(depth));
    let w = person(json!({"a": 1}));
    let result = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || w.is(&src))
        .ok()
        .map(|h| h.join().ok());
    assert_eq!(result, Some(Some(true)));
    let nots = format!("{}a = 1", "not ".repeat(crate::MAX_DEPTH - 2));
    let w = person(json!({"a": 1}));
    assert!(w.is(&nots));
    let _ = MS_PER_DAY;
}
