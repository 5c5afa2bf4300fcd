//! D-28: which updates a search leaves out as superseded.

use wua_catalog::{Candidate, superseded};

fn candidate<'a>(id: &'a str, supersedes: &'a [String]) -> Candidate<'a> {
    Candidate { update_id: id, supersedes, is_installed: false, applicable: true, deployed: true, hidden: false }
}

/// D-28: an installed successor, or an applicable, deployed, not hidden one, supersedes; a
/// hidden, undeployed or inapplicable one does not.
#[test]
fn d28_supersedence_cases() {
    let old = vec![];
    let by_new = vec!["old".to_owned()];
    // (what, successor installed, applicable, deployed, hidden, predecessor left out)
    let cases = [
        ("applicable, deployed, not hidden successor", false, true, true, false, true),
        ("installed successor (even hidden and undeployed)", true, false, false, true, true),
        ("hidden successor", false, true, true, true, false),
        ("undeployed successor", false, true, false, false, false),
        ("inapplicable successor", false, false, true, false, false),
    ];
    for (what, is_installed, applicable, deployed, hidden, want) in cases {
        let new = Candidate { is_installed, applicable, deployed, hidden, ..candidate("new", &by_new) };
        let result = superseded(&[candidate("old", &old), new]);
        assert_eq!(result.contains("old"), want, "{what}");
        assert!(!result.contains("new"), "{what}");
    }
}

/// D-28: chains: each link is judged on its own successor.
#[test]
fn d28_chains_and_unknown_predecessors() {
    let (none, a, b) = (vec![], vec!["v1".to_owned()], vec!["v2".to_owned(), "not-in-search".to_owned()]);
    let result = superseded(&[candidate("v1", &none), candidate("v2", &a), candidate("v3", &b)]);
    assert_eq!(result.into_iter().collect::<Vec<_>>(), vec!["v1".to_owned(), "v2".to_owned()]);
}
