//! Parser target: any text either fails with positioned diagnostics inside the source, or
//! parses to a tree whose canonical printed form parses back to the same tree and prints the
//! same again (the property `prop_tests::print_parse_round_trip` checks on generated trees).
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run parse seeds -- -dict=pql.dict` (from `shared/pql/fuzz`)

#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_pql::{parse, print};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    match parse(src) {
        Ok(tree) => {
            let text = print(&tree);
            match parse(&text) {
                Ok(back) => {
                    assert_eq!(back, tree, "printed form {text:?} parses to another tree");
                    assert_eq!(print(&back), text, "canonical text is not a fixed point");
                }
                Err(e) => panic!("printed form {text:?} of {src:?} does not parse: {e}"),
            }
        }
        Err(errors) => {
            assert!(
                !errors.diagnostics.is_empty(),
                "an error without diagnostics"
            );
            for d in &errors.diagnostics {
                assert!(
                    d.offset <= src.len(),
                    "diagnostic offset {} past the end ({} bytes): {d}",
                    d.offset,
                    src.len()
                );
            }
        }
    }
});
