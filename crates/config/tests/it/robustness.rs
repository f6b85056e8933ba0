//! Bad input never panics: random edits of the example and random text always give a config
//! or an error that names where the problem is.

use comfy_local_config::{Config, ConfigError};
use proptest::prelude::*;

const EXAMPLE: &str = include_str!("../../../../local-support-config.yml.example");

const SNIPPETS: &[&str] = &[
    ":",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "\n",
    "  ",
    "${",
    "}",
    "$${",
    "&a ",
    "*a",
    "<<: *a\n",
    "!!binary ",
    "\t",
    "'",
    "\"",
    "#",
    "0",
    "-1",
    "99999",
    "~",
    "...\n",
    "---\n",
    "? ",
    "|\n",
    "\u{0}",
    "é",
];

fn check(text: &str) {
    match Config::from_str_with_env(text, "fuzz.yml", &|_| None) {
        Ok(_) => {}
        Err(ConfigError::Invalid { problems, .. }) => {
            assert!(
                !problems.is_empty(),
                "an Invalid error without problems for {text:?}"
            );
        }
        Err(other) => panic!("unexpected error kind {other:?}"),
    }
}

fn char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn edited_example_never_panics(
        edits in prop::collection::vec((any::<usize>(), 0usize..40, 0usize..SNIPPETS.len()), 1..6)
    ) {
        let mut text = EXAMPLE.to_owned();
        for (at, remove, snippet) in edits {
            let start = char_boundary(&text, at % (text.len() + 1));
            let end = char_boundary(&text, start + remove);
            text.replace_range(start..end.max(start), SNIPPETS[snippet]);
        }
        check(&text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }
}
