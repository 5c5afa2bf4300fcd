//! The search-criteria language: parser, errors with positions, evaluator, escaping
//! (decisions D-26 and D-27, reference §5.2).

use proptest::prelude::*;
use wua_catalog::{
    Clause, Criteria, Criterion, DEFAULT_CRITERIA, DeploymentFilter, Group, Op, Subject, Value, escape_string,
    parse_criteria, parse_string_literal,
};
use wua_types::{HResult, UpdateType, WuError};

const ID: &str = "5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21";
const CAT: &str = "0fa1201d-4330-4fa8-8ae9-b877473b6441";

/// A compact rendering: groups joined by ` | `, each `[deployment] clauses` (canonical text).
fn render(c: &Criteria) -> String {
    c.groups.iter().map(|g| format!("[{}] {g}", g.deployment_action)).collect::<Vec<_>>().join(" | ")
}

/// The AST with every position zeroed, to compare parses of different texts.
fn strip(c: &Criteria) -> Criteria {
    let mut c = c.clone();
    for clause in c.groups.iter_mut().flat_map(|g| g.clauses.iter_mut()) {
        clause.position = 0;
    }
    c
}

enum Expect {
    Ok(&'static str),
    Err(usize),
}
use Expect::{Err as Bad, Ok as Good};

fn table() -> Vec<(String, Expect)> {
    let s = |t: &str| t.to_string();
    vec![
        // --- valid (D-26) ---
        (
            s("IsInstalled=0 and Type='Software' and IsHidden=0"),
            Good("[Installation] IsInstalled=0 and Type='Software' and IsHidden=0"),
        ),
        (
            s(
                "IsInstalled=0 and DeploymentAction='Installation' or IsPresent=1 and DeploymentAction='Uninstallation' \
               or IsInstalled=1 and DeploymentAction='Installation' and RebootRequired=1 or IsInstalled=0 and \
               DeploymentAction='Uninstallation' and RebootRequired=1",
            ),
            Good(
                "[Installation] IsInstalled=0 and DeploymentAction='Installation' \
                 | [Uninstallation] IsPresent=1 and DeploymentAction='Uninstallation' \
                 | [Installation] IsInstalled=1 and DeploymentAction='Installation' and RebootRequired=1 \
                 | [Uninstallation] IsInstalled=0 and DeploymentAction='Uninstallation' and RebootRequired=1",
            ),
        ),
        (
            s("isinstalled=0 AND type='software' AnD ISHIDDEN=0"),
            Good("[Installation] IsInstalled=0 and Type='software' and IsHidden=0"),
        ),
        (s("IsInstalled = 0 Or IsHidden = 1"), Good("[Installation] IsInstalled=0 | [Installation] IsHidden=1")),
        (
            s("(IsInstalled=0 and IsHidden=0) or (IsHidden=1)"),
            Good("[Installation] IsInstalled=0 and IsHidden=0 | [Installation] IsHidden=1"),
        ),
        (s("(Type='Driver')or(IsHidden=1)"), Good("[Installation] Type='Driver' | [Installation] IsHidden=1")),
        (s("(IsInstalled=0)"), Good("[Installation] IsInstalled=0")),
        (s("  IsInstalled=0  "), Good("[Installation] IsInstalled=0")),
        (s("IsInstalled=0\tand\nIsHidden=0\r\n"), Good("[Installation] IsInstalled=0 and IsHidden=0")),
        (s("Type = 'Software' and IsHidden=0"), Good("[Installation] Type='Software' and IsHidden=0")),
        (s("Type!='Driver'"), Good("[Installation] Type!='Driver'")),
        (
            s("IsAssigned=1 and BrowseOnly=0 and AutoSelectOnWebSites=1 and IsPresent=0 and RebootRequired=0"),
            Good(
                "[Installation] IsAssigned=1 and BrowseOnly=0 and AutoSelectOnWebSites=1 and IsPresent=0 \
                 and RebootRequired=0",
            ),
        ),
        // --- DeploymentAction (D-27) ---
        (s("DeploymentAction=*"), Good("[*] DeploymentAction=*")),
        (s("DeploymentAction='*' and IsInstalled=0"), Good("[*] DeploymentAction=* and IsInstalled=0")),
        (
            s("DeploymentAction='OptionalInstallation' and BrowseOnly=1"),
            Good("[OptionalInstallation] DeploymentAction='OptionalInstallation' and BrowseOnly=1"),
        ),
        (s("deploymentaction='detection'"), Good("[Detection] DeploymentAction='detection'")),
        (s("DeploymentAction=* or IsHidden=1"), Good("[*] DeploymentAction=* | [Installation] IsHidden=1")),
        // --- UUID strings, CategoryIDs, RevisionNumber ---
        (
            format!("CategoryIDs contains '{CAT}'"),
            Good("[Installation] CategoryIDs contains '0fa1201d-4330-4fa8-8ae9-b877473b6441'"),
        ),
        (
            s("categoryids CONTAINS 'e6cf1350-c01b-414d-a61f-263d14d133b4' and IsInstalled=0"),
            Good("[Installation] CategoryIDs contains 'e6cf1350-c01b-414d-a61f-263d14d133b4' and IsInstalled=0"),
        ),
        (
            format!("UpdateID='{ID}' and RevisionNumber=200"),
            Good("[Installation] UpdateID='5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21' and RevisionNumber=200"),
        ),
        (
            format!("RevisionNumber=-1 and updateid = '{ID}'"),
            Good("[Installation] RevisionNumber=-1 and UpdateID='5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21'"),
        ),
        (
            format!("UpdateID!='{ID}' and IsInstalled=0"),
            Good("[Installation] UpdateID!='5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21' and IsInstalled=0"),
        ),
        (
            format!("UpdateID='{ID}' and RevisionNumber=1 or UpdateID='{ID}'"),
            Good(
                "[Installation] UpdateID='5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21' and RevisionNumber=1 \
                 | [Installation] UpdateID='5f3c8a52-2d1e-4c3b-9a7f-0e6d5c4b3a21'",
            ),
        ),
        // --- invalid (D-26): unknown names ---
        (s("Foo=1"), Bad(0)),
        (s("IsInstalled=0 and Bogus=1"), Bad(18)),
        (s("Title='x'"), Bad(0)),
        // bad values
        (s("IsInstalled=2"), Bad(12)),
        (s("IsInstalled=-1"), Bad(12)),
        (s("IsInstalled='0'"), Bad(12)),
        (s("Type='Firmware'"), Bad(5)),
        (s("Type=Software"), Bad(5)),
        (s("Type=1"), Bad(5)),
        (s("UpdateID='not-a-uuid'"), Bad(9)),
        (format!("UpdateID='{{{ID}}}'"), Bad(9)),
        (s("CategoryIDs contains 'x'"), Bad(21)),
        (s("DeploymentAction='Install'"), Bad(17)),
        (s("DeploymentAction=1"), Bad(17)),
        (format!("RevisionNumber=99999999999 and UpdateID='{ID}'"), Bad(15)),
        (s("RevisionNumber=99999999999999999999"), Bad(15)),
        (s("IsInstalled=-"), Bad(12)),
        (s("IsInstalled="), Bad(12)),
        (s("IsInstalled==0"), Bad(12)),
        (s("IsInstalled=0and IsHidden=0"), Bad(13)),
        // bad operators
        (s("Type contains 'x'"), Bad(5)),
        (s("IsHidden != 1"), Bad(9)),
        (format!("CategoryIDs='{CAT}'"), Bad(11)),
        // `contains` and nothing else: another word in its place is no operator.
        (format!("CategoryIDs includes '{CAT}'"), Bad(12)),
        (format!("CategoryIDs containing '{CAT}'"), Bad(12)),
        // A UUID is 36 characters exactly.
        (format!("UpdateID='{ID}0'"), Bad(9)),
        (format!("CategoryIDs contains '{}'", &CAT[..35]), Bad(21)),
        (s("DeploymentAction!='Installation'"), Bad(16)),
        (s("IsInstalled 0"), Bad(12)),
        (s("IsInstalled!0"), Bad(11)),
        (s("IsInstalled<0"), Bad(11)),
        // group rules
        (s("RevisionNumber=1"), Bad(0)),
        (s("IsInstalled=0 and RevisionNumber=1"), Bad(18)),
        (format!("UpdateID='{ID}' or RevisionNumber=1"), Bad(51)),
        (format!("UpdateID!='{ID}' and RevisionNumber=1"), Bad(53)),
        (s("DeploymentAction=* and DeploymentAction='Installation'"), Bad(23)),
        // nested or, parentheses
        (s("(IsInstalled=0) and (IsHidden=1 or IsPresent=1)"), Bad(16)),
        (s("(IsInstalled=0 or IsHidden=1)"), Bad(15)),
        (s("(IsInstalled=0"), Bad(14)),
        (s("IsInstalled=0)"), Bad(13)),
        (s("((IsInstalled=0))"), Bad(1)),
        (s("IsInstalled=0 ) or (IsHidden=1"), Bad(14)),
        (s("()"), Bad(1)),
        (s("IsInstalled=0 and ()"), Bad(18)),
        // unclosed quotes
        (s("Type='Software"), Bad(5)),
        (s("Type='It''s"), Bad(5)),
        (s("IsInstalled=0 and Type='"), Bad(23)),
        // trailing junk, misplaced keywords, stray characters
        (s("IsInstalled=0 junk"), Bad(14)),
        (s("IsInstalled=0 IsHidden=0"), Bad(14)),
        (s("IsInstalled=0 and"), Bad(17)),
        (s("or IsInstalled=0"), Bad(0)),
        (s("and IsInstalled=0"), Bad(0)),
        (s("IsInstalled=0 or"), Bad(16)),
        (s("IsInstalled=0 or   "), Bad(19)),
        (s("IsInstalled=0 or or IsHidden=1"), Bad(17)),
        (s("IsInstalled=0 and and IsHidden=0"), Bad(18)),
        (s("IsInstalled=0 & IsHidden=0"), Bad(14)),
        (s("IsInstalled=0;"), Bad(13)),
        (s("contains contains 'x'"), Bad(0)),
        // positions are byte offsets: U+3000 (a 3-byte whitespace) before the fault
        (s("IsInstalled=0\u{3000}and Foo=1"), Bad(20)),
        (s("Type='Software' and \u{fc}=1"), Bad(20)),
    ]
}

/// D-26 and D-27: the table of valid criteria (with their AST) and invalid ones (with
/// `WU_E_INVALID_CRITERIA` and the position of the fault).
#[test]
fn d26_d27_criteria_table() {
    let table = table();
    assert!(table.len() >= 40, "{} rows", table.len());
    for (text, expect) in &table {
        match (parse_criteria(text), expect) {
            (Ok(c), Good(rendering)) => {
                assert_eq!(render(&c), *rendering, "for {text:?}");
                // The canonical text reads back to the same AST (positions aside).
                let again = parse_criteria(&c.to_string()).unwrap_or_else(|e| panic!("{text:?} -> {c} -> {e}"));
                assert_eq!(strip(&again), strip(&c), "for {text:?}");
            }
            (Err(e), Bad(position)) => {
                assert_eq!(e.hresult(), HResult::WU_E_INVALID_CRITERIA, "for {text:?}");
                assert_eq!(e.position, *position, "for {text:?}: {e}");
                assert!(!e.message.is_empty());
            }
            (Ok(c), Bad(position)) => panic!("{text:?} parsed as {} but should fail at {position}", render(&c)),
            (Err(e), Good(rendering)) => panic!("{text:?} failed ({e}) but should be {rendering}"),
        }
    }
}

/// D-26: the AST itself, for the SDK sample: values as written, booleans as `Bool`, positions
/// of the names.
#[test]
fn d26_ast_of_sdk_sample() {
    let c = parse_criteria("IsInstalled=0 and Type='Software' and IsHidden=0").unwrap();
    assert_eq!(
        c,
        Criteria {
            groups: vec![Group {
                clauses: vec![
                    Clause { criterion: Criterion::IsInstalled, op: Op::Eq, value: Value::Bool(false), position: 0 },
                    Clause {
                        criterion: Criterion::Type,
                        op: Op::Eq,
                        value: Value::Str("Software".into()),
                        position: 18
                    },
                    Clause { criterion: Criterion::IsHidden, op: Op::Eq, value: Value::Bool(false), position: 38 },
                ],
                deployment_action: DeploymentFilter::Installation,
            }],
        }
    );
    let c = parse_criteria(&format!("CategoryIDs contains '{CAT}' and DeploymentAction=*")).unwrap();
    assert_eq!(c.groups[0].clauses[0].op, Op::Contains);
    assert_eq!(c.groups[0].clauses[0].value, Value::Str(CAT.into()));
    assert_eq!(c.groups[0].clauses[1].value, Value::Any);
    assert_eq!(c.groups[0].deployment_action, DeploymentFilter::Any);
    let c = parse_criteria(&format!("UpdateID='{ID}' and RevisionNumber=7")).unwrap();
    assert_eq!(c.groups[0].clauses[1].value, Value::Int(7));
}

/// D-26: the empty criteria string, or only whitespace, means `IsInstalled=0 and IsHidden=0`.
#[test]
fn d26_empty_criteria_means_default() {
    let default = parse_criteria("IsInstalled=0 and IsHidden=0").unwrap();
    for text in ["", " ", "\t\r\n ", "\u{3000}"] {
        let c = parse_criteria(text).unwrap();
        assert_eq!(c, default, "for {text:?}");
        assert_eq!(c.to_string(), DEFAULT_CRITERIA);
        assert_eq!(c.groups[0].deployment_action, DeploymentFilter::Installation);
    }
}

/// D-26: a criteria error is `WU_E_INVALID_CRITERIA` as a `WuError` too, with its position.
#[test]
fn d26_error_converts_to_wu_error() {
    let e = parse_criteria("IsInstalled=0 and Foo=1").unwrap_err();
    assert_eq!(e.position, 18);
    assert!(e.to_string().starts_with("invalid criteria at position 18: "), "{e}");
    let w: WuError = e.into();
    assert_eq!(w.hresult, HResult::WU_E_INVALID_CRITERIA);
    assert!(w.message.contains("position 18"), "{}", w.message);
}

/// D-26: `escape_string` wraps in quotes and doubles quotes; unusual but valid literals.
#[test]
fn d26_escape_string() {
    assert_eq!(escape_string(""), "''");
    assert_eq!(escape_string("It's"), "'It''s'");
    assert_eq!(escape_string("''"), "''''''");
    assert_eq!(parse_string_literal("'It''s' and x").unwrap(), ("It's".to_string(), 7));
    assert_eq!(parse_string_literal("''''").unwrap(), ("'".to_string(), 4));
    assert_eq!(parse_string_literal("'é'").unwrap(), ("é".to_string(), 4));
    assert_eq!(parse_string_literal("x'").unwrap_err().position, 0);
    assert_eq!(parse_string_literal("'abc''").unwrap_err().position, 0);
    assert_eq!(parse_string_literal("").unwrap_err().hresult(), HResult::WU_E_INVALID_CRITERIA);
    // Through the parser: an escaped quote inside a value is one quote of the value.
    let e = parse_criteria("Type='Soft''ware'").unwrap_err();
    assert_eq!((e.position, e.hresult()), (5, HResult::WU_E_INVALID_CRITERIA));
    let c = parse_criteria(&format!("Type={}", escape_string("DRIVER"))).unwrap();
    assert_eq!(c.groups[0].clauses[0].value, Value::Str("DRIVER".into()));
}

/// Text made of the language's own tokens, so that the fuzzing reaches deep into the parser.
fn tokenish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("IsInstalled".to_string()),
        Just("Type".to_string()),
        Just("UpdateID".to_string()),
        Just("RevisionNumber".to_string()),
        Just("CategoryIDs".to_string()),
        Just("DeploymentAction".to_string()),
        Just("and".to_string()),
        Just("OR".to_string()),
        Just("contains".to_string()),
        Just("=".to_string()),
        Just("!=".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just("*".to_string()),
        Just("'".to_string()),
        Just("-".to_string()),
        Just(" ".to_string()),
        Just("0".to_string()),
        Just("1".to_string()),
        Just("'Software'".to_string()),
        Just("'*'".to_string()),
        Just(format!("'{ID}'")),
        "[a-zA-Z0-9_ '!=()*é\u{3000}-]{0,4}",
    ];
    prop::collection::vec(token, 0..16).prop_map(|v| v.concat())
}

/// Valid criteria built from valid clauses: groups of `and`-ed clauses, maybe parenthesized,
/// `or`-ed together, keywords in random case; a group may start with a lead clause (which
/// holds the group's only DeploymentAction).
fn valid_criteria() -> impl Strategy<Value = String> {
    let clause = prop_oneof![
        Just("IsInstalled=0".to_string()),
        Just("ishidden = 1".to_string()),
        Just("Type='Driver'".to_string()),
        Just("TYPE != 'software'".to_string()),
        Just(format!("UpdateID='{ID}' and RevisionNumber=12")),
        Just(format!("CategoryIDs contains '{CAT}'")),
        Just("BrowseOnly=1".to_string()),
    ];
    let keyword = |k: &'static str| {
        prop_oneof![Just(k.to_string()), Just(k.to_uppercase()), Just(format!("  {k}  "))]
            .prop_map(|k| format!(" {k} "))
    };
    let lead = prop::option::of(prop_oneof![
        Just("DeploymentAction=*".to_string()),
        Just("deploymentaction='Uninstallation'".to_string()),
        Just("Type!='Driver' AND DeploymentAction='Detection'".to_string()),
    ]);
    let group = (lead, prop::collection::vec(clause, 1..4), keyword("and"), any::<bool>()).prop_map(
        |(lead, clauses, and, paren)| {
            let body = lead.into_iter().chain(clauses).collect::<Vec<_>>().join(&and);
            if paren { format!("({body})") } else { body }
        },
    );
    (prop::collection::vec(group, 1..4), keyword("or")).prop_map(|(groups, or)| groups.join(&or))
}

proptest! {
    /// D-26: `escape_string` round-trips any string through the literal reader, which stops
    /// exactly at the closing quote.
    #[test]
    fn d26_escape_string_round_trips(s in any::<String>(), tail in any::<String>()) {
        let escaped = escape_string(&s);
        prop_assert_eq!(parse_string_literal(&escaped)?, (s.clone(), escaped.len()));
        let with_tail = format!("{escaped} {tail}");
        prop_assert_eq!(parse_string_literal(&with_tail)?, (s, escaped.len()));
    }

    /// D-26: `parse` never panics; an error's position is a char boundary within the input.
    #[test]
    fn d26_parse_never_panics(text in any::<String>()) {
        if let Err(e) = parse_criteria(&text) {
            prop_assert!(text.is_char_boundary(e.position), "{} in {:?}", e.position, text);
        }
    }

    /// D-26: generated valid criteria parse, and their canonical text parses to the same AST.
    #[test]
    fn d26_valid_criteria_parse_and_print(text in valid_criteria()) {
        let c = parse_criteria(&text);
        prop_assert!(c.is_ok(), "{:?}: {:?}", text, c);
        if let Ok(c) = c {
            prop_assert_eq!(strip(&parse_criteria(&c.to_string())?), strip(&c));
        }
    }

    /// D-26: same over token soup; what parses prints as text that parses to the same AST.
    #[test]
    fn d26_parse_token_soup(text in tokenish()) {
        match parse_criteria(&text) {
            Ok(c) => {
                let again = parse_criteria(&c.to_string());
                prop_assert!(again.is_ok(), "{:?} -> {}", text, c);
                if let Ok(again) = again {
                    prop_assert_eq!(strip(&again), strip(&c));
                }
            }
            Err(e) => {
                prop_assert_eq!(e.hresult(), HResult::WU_E_INVALID_CRITERIA);
                prop_assert!(text.is_char_boundary(e.position), "{} in {:?}", e.position, text);
            }
        }
    }
}

// --- evaluation ---

#[derive(Clone, Debug)]
struct Upd {
    update_type: UpdateType,
    id: &'static str,
    revision: i32,
    categories: Vec<String>,
    installed: bool,
    hidden: bool,
    present: bool,
    reboot: bool,
    assigned: bool,
    browse_only: bool,
    auto_select: bool,
    deployments: Vec<DeploymentFilter>,
}

impl Default for Upd {
    fn default() -> Self {
        Upd {
            update_type: UpdateType::Software,
            id: ID,
            revision: 3,
            categories: vec![CAT.to_string()],
            installed: false,
            hidden: false,
            present: false,
            reboot: false,
            assigned: true,
            browse_only: false,
            auto_select: true,
            deployments: vec![DeploymentFilter::Installation],
        }
    }
}

impl Subject for Upd {
    fn update_type(&self) -> UpdateType {
        self.update_type
    }
    fn update_id(&self) -> &str {
        self.id
    }
    fn revision_number(&self) -> i32 {
        self.revision
    }
    fn category_ids(&self) -> Vec<String> {
        self.categories.clone()
    }
    fn is_installed(&self) -> bool {
        self.installed
    }
    fn is_hidden(&self) -> bool {
        self.hidden
    }
    fn is_present(&self) -> bool {
        self.present
    }
    fn reboot_required(&self) -> bool {
        self.reboot
    }
    fn is_assigned(&self) -> bool {
        self.assigned
    }
    fn browse_only(&self) -> bool {
        self.browse_only
    }
    fn auto_select_on_web_sites(&self) -> bool {
        self.auto_select
    }
    fn deployments(&self) -> Vec<DeploymentFilter> {
        self.deployments.clone()
    }
}

fn m(criteria: &str, u: &Upd) -> bool {
    parse_criteria(criteria).unwrap_or_else(|e| panic!("{criteria:?}: {e}")).matches(u)
}

/// D-26: clauses AND, groups OR.
#[test]
fn d26_matches_and_or() {
    let u = Upd::default();
    assert!(m("IsInstalled=0 and IsHidden=0", &u));
    assert!(!m("IsInstalled=0 and IsHidden=1", &u));
    assert!(m("IsInstalled=1 or IsHidden=0", &u));
    assert!(!m("IsInstalled=1 or IsHidden=1", &u));
    assert!(m("(IsInstalled=1 and IsHidden=0) or (IsAssigned=1 and AutoSelectOnWebSites=1)", &u));
    assert!(!m("BrowseOnly=1 or IsPresent=1 or RebootRequired=1", &u));
    let installed = Upd { installed: true, present: true, reboot: true, hidden: true, ..Upd::default() };
    assert!(m("IsPresent=1 and RebootRequired=1 and IsHidden=1", &installed));
    // Each flag's true side, on its own.
    let browse = Upd { browse_only: true, ..Upd::default() };
    assert!(m("BrowseOnly=1", &browse) && !m("BrowseOnly=0", &browse));
    let assigned = Upd { assigned: true, auto_select: true, ..Upd::default() };
    assert!(m("IsAssigned=1 and AutoSelectOnWebSites=1", &assigned));
    assert!(!m("IsAssigned=0", &assigned) && !m("AutoSelectOnWebSites=0", &assigned));
    assert!(!m("", &installed));
    assert!(m("", &u));
}

/// D-26: Type, UpdateID and CategoryIDs compare case-insensitively; `!=` negates.
#[test]
fn d26_matches_strings_case_insensitively() {
    let u = Upd::default();
    assert!(m("Type='SOFTWARE'", &u));
    assert!(m("Type!='driver'", &u));
    assert!(!m("Type='Driver'", &u));
    let driver = Upd { update_type: UpdateType::Driver, ..Upd::default() };
    assert!(m("type='dRiVeR'", &driver));
    assert!(!m("Type!='Driver'", &driver));
    let upper = ID.to_uppercase();
    assert!(m(&format!("UpdateID='{upper}'"), &u));
    assert!(!m(&format!("UpdateID!='{upper}'"), &u));
    assert!(m(&format!("UpdateID='{upper}' and RevisionNumber=3"), &u));
    assert!(!m(&format!("UpdateID='{ID}' and RevisionNumber=4"), &u));
    assert!(!m("UpdateID='00000000-0000-0000-0000-000000000000'", &u));
    assert!(m(&format!("CategoryIDs contains '{}'", CAT.to_lowercase()), &u));
    assert!(!m("CategoryIDs contains 'e6cf1350-c01b-414d-a61f-263d14d133b4'", &u));
}

/// D-27: a group without DeploymentAction asks for Installation; `*` matches any deployment,
/// none included; an explicit action must be among the update's deployments.
#[test]
fn d27_matches_deployment() {
    let install = Upd::default();
    let uninstall = Upd { deployments: vec![DeploymentFilter::Uninstallation], ..Upd::default() };
    let optional = Upd { deployments: vec![DeploymentFilter::OptionalInstallation], ..Upd::default() };
    let both = Upd { deployments: vec![DeploymentFilter::Installation, DeploymentFilter::Detection], ..Upd::default() };
    let none = Upd { deployments: vec![], ..Upd::default() };

    assert!(m("IsInstalled=0", &install));
    assert!(!m("IsInstalled=0", &uninstall));
    assert!(!m("IsInstalled=0", &optional));
    assert!(!m("IsInstalled=0", &none));
    assert!(m("IsInstalled=0 and DeploymentAction='uninstallation'", &uninstall));
    assert!(!m("IsInstalled=0 and DeploymentAction='Uninstallation'", &install));
    assert!(m("DeploymentAction='OptionalInstallation'", &optional));
    assert!(m("DeploymentAction='Detection'", &both));
    assert!(m("DeploymentAction='Installation'", &both));
    for u in [&install, &uninstall, &optional, &both, &none] {
        assert!(m("DeploymentAction=*", u), "{u:?}");
        assert!(m("IsInstalled=0 and DeploymentAction='*'", u), "{u:?}");
    }
    // Each group carries its own deployment.
    let actionable = "IsInstalled=0 and DeploymentAction='Installation' or IsPresent=1 and \
                      DeploymentAction='Uninstallation'";
    assert!(m(actionable, &install));
    assert!(!m(actionable, &uninstall));
    let present_uninstall = Upd { present: true, installed: true, ..uninstall.clone() };
    assert!(m(actionable, &present_uninstall));
}

/// A clause built by hand with a value of the wrong kind never holds; `DeploymentFilter`
/// maps to and from WUA's `DeploymentAction`.
#[test]
fn d27_hand_built_ast_and_actions() {
    let u = Upd::default();
    let c = Criteria {
        groups: vec![Group {
            clauses: vec![Clause { criterion: Criterion::IsInstalled, op: Op::Eq, value: Value::Int(0), position: 0 }],
            deployment_action: DeploymentFilter::Any,
        }],
    };
    assert!(!c.matches(&u));
    for d in [
        DeploymentFilter::Installation,
        DeploymentFilter::Uninstallation,
        DeploymentFilter::OptionalInstallation,
        DeploymentFilter::Detection,
    ] {
        let action = d.to_action().unwrap();
        assert_eq!(DeploymentFilter::from_action(action), Some(d));
    }
    assert_eq!(DeploymentFilter::Any.to_action(), None);
    assert_eq!(DeploymentFilter::from_action(wua_types::DeploymentAction::None), None);
}

/// D-26: each kind of fault has its own message, naming what was found where something else
/// was expected (an administrator reads these, not only the position).
#[test]
fn d26_error_messages_name_the_fault() {
    let cases = [
        ("(IsInstalled=0) and IsHidden=0", 16, "'and' cannot follow a parenthesized group"),
        ("(IsInstalled=0) IsHidden=0", 16, "expected 'and', 'or' or the end of the criteria, found 'IsHidden'"),
        ("(IsInstalled=0 or IsHidden=0)", 15, "'or' is allowed only at top level"),
        ("(IsInstalled=0 IsHidden=0)", 15, "expected 'and' or ')', found 'IsHidden'"),
        ("(IsInstalled=0 5", 15, "expected 'and' or ')', found the integer 5"),
        ("(IsInstalled=0 'x'", 15, "expected 'and' or ')', found the string 'x'"),
        ("(IsInstalled=0", 14, "expected ')'"),
        ("IsInstalled=0)", 13, "unbalanced parenthesis: ')' without '('"),
        ("and IsInstalled=0", 0, "expected a criterion name, found 'and'"),
        ("Contains=1", 0, "expected a criterion name, found 'Contains'"),
        ("(=1", 1, "expected a criterion name, found '='"),
        ("IsInstalled=0 or *", 17, "expected a criterion name, found '*'"),
        ("IsInstalled=0 and !=", 18, "expected a criterion name, found '!='"),
        ("IsInstalled=0 and (", 18, "parentheses cannot be nested"),
        ("IsInstalled=0 and", 17, "expected a criterion name, found the end of the criteria"),
        ("_Foo=1", 0, "unknown criterion '_Foo'"),
        ("IsInstalled=0;", 13, "unexpected character ';'"),
        ("Type='Software", 5, "unterminated string"),
    ];
    for (text, position, message) in cases {
        let e = parse_criteria(text).unwrap_err();
        assert_eq!(e.position, position, "{text:?}: {e}");
        assert!(e.message.contains(message), "{text:?}: {:?} should contain {message:?}", e.message);
    }
}
