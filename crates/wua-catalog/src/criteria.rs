//! The search-criteria language of `IUpdateSearcher::Search` (reference §5.2, decisions D-26
//! and D-27): a parser to an AST whose errors carry the byte position of the fault, an
//! evaluator over any [`Subject`], and [`escape_string`].
//!
//! ```
//! use wua_catalog::parse_criteria;
//!
//! // D-26's default, and a group per side of a top-level `or`.
//! assert!(parse_criteria("IsInstalled=0 and IsHidden=0").is_ok());
//! assert!(parse_criteria("(Type='Driver') or (IsHidden=1)").is_ok());
//! // A fault names where it is.
//! let e = parse_criteria("IsInstalled=").unwrap_err();
//! assert!(e.to_string().contains("12"), "{e}");
//! ```
//!
//! # Grammar
//!
//! ```text
//! criteria := group ( "or" group )*                 -- "or" only at top level
//! group    := "(" clauses ")" | clauses             -- parentheses around a whole group only
//! clauses  := clause ( "and" clause )*
//! clause   := Name op Value
//! op       := "=" | "!=" | "contains"
//! Value    := integer | string | "*"
//! integer  := [ "-" ] digit+                        -- decimal
//! string   := "'" ( any character but "'" | "''" )* "'"   -- "''" is one quote
//! ```
//!
//! - Keywords (`and`, `or`, `contains`), criterion names and string values are
//!   case-insensitive. Whitespace between tokens is optional where the tokens stay apart
//!   (`IsInstalled=0`, `(Type='Driver')or(IsHidden=1)`); an integer directly followed by a
//!   letter (`0and`) is an error.
//! - Parentheses do not nest, and a parenthesized group is a whole operand of `or`:
//!   `(x=1 and y=1) or (z=1)` is valid, `(x=1) and (y=1 or z=1)` is not.
//! - The criteria, their operators and values:
//!
//! | Criterion | Ops | Value |
//! |---|---|---|
//! | `Type` | `=`, `!=` | `'Software'` or `'Driver'` |
//! | `DeploymentAction` | `=` | `'Installation'`, `'Uninstallation'`, `'OptionalInstallation'`, `'Detection'`, `*` or `'*'` |
//! | `IsAssigned`, `BrowseOnly`, `AutoSelectOnWebSites` | `=` | `0` or `1` |
//! | `UpdateID` | `=`, `!=` | a UUID string |
//! | `RevisionNumber` | `=` | an integer (32-bit); needs an `UpdateID =` and no `UpdateID !=` in its group |
//! | `CategoryIDs` | `contains` | a UUID string |
//! | `IsInstalled`, `IsHidden`, `IsPresent`, `RebootRequired` | `=` | `0` or `1` |
//!
//! - A group gives `DeploymentAction` at most once; a group without it implies
//!   `DeploymentAction='Installation'` (D-27).
//! - The empty criteria (or only whitespace) means `IsInstalled=0 and IsHidden=0` (D-26).
//! - Every fault is a [`CriteriaError`] (`WU_E_INVALID_CRITERIA`) with the 0-based byte offset
//!   of the fault in the input; a fault at the end of the input has the input's length.
//!
//! Nothing here panics on any input: the parser is meant to be fuzzed.

use std::fmt;

use wua_types::{DeploymentAction, HResult, UpdateType, WuError};

/// What the empty criteria string means (D-26).
pub const DEFAULT_CRITERIA: &str = "IsInstalled=0 and IsHidden=0";

/// Parsed search criteria: the OR of its groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Criteria {
    /// The groups, any of which may match; never empty after [`parse_criteria`].
    pub groups: Vec<Group>,
}

/// One operand of `or`: the AND of its clauses, with its deployment filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The clauses, all of which must hold; never empty after [`parse_criteria`].
    pub clauses: Vec<Clause>,
    /// From the group's `DeploymentAction` clause, or the implied `Installation` (D-27).
    pub deployment_action: DeploymentFilter,
}

/// One `Name op Value` comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// The criterion compared.
    pub criterion: Criterion,
    /// The operator.
    pub op: Op,
    /// The value, unescaped; booleans as [`Value::Bool`].
    pub value: Value,
    /// Byte offset of the criterion's name in the input.
    pub position: usize,
}

/// A criterion name (reference §5.2, in the documented evaluation-precedence order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Criterion {
    /// `Type`: `'Software'` or `'Driver'`.
    Type,
    /// `DeploymentAction`: the deployment the group asks for.
    DeploymentAction,
    /// `IsAssigned`: intended for Automatic Updates deployment.
    IsAssigned,
    /// `BrowseOnly`: an optional update.
    BrowseOnly,
    /// `AutoSelectOnWebSites`: the `IUpdate` property.
    AutoSelectOnWebSites,
    /// `UpdateID`: identity match or exclusion.
    UpdateId,
    /// `RevisionNumber`: with an `UpdateID =` in the same group.
    RevisionNumber,
    /// `CategoryIDs`: the update belongs to the category.
    CategoryIds,
    /// `IsInstalled`.
    IsInstalled,
    /// `IsHidden`.
    IsHidden,
    /// `IsPresent`: installed for at least one product.
    IsPresent,
    /// `RebootRequired`: installing or removing needs a restart to complete.
    RebootRequired,
}

impl Criterion {
    /// Every criterion, in the documented order.
    pub(crate) const ALL: &'static [Criterion] = &[
        Criterion::Type,
        Criterion::DeploymentAction,
        Criterion::IsAssigned,
        Criterion::BrowseOnly,
        Criterion::AutoSelectOnWebSites,
        Criterion::UpdateId,
        Criterion::RevisionNumber,
        Criterion::CategoryIds,
        Criterion::IsInstalled,
        Criterion::IsHidden,
        Criterion::IsPresent,
        Criterion::RebootRequired,
    ];

    /// The name as WUA spells it (`UpdateID`, `CategoryIDs`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Criterion::Type => "Type",
            Criterion::DeploymentAction => "DeploymentAction",
            Criterion::IsAssigned => "IsAssigned",
            Criterion::BrowseOnly => "BrowseOnly",
            Criterion::AutoSelectOnWebSites => "AutoSelectOnWebSites",
            Criterion::UpdateId => "UpdateID",
            Criterion::RevisionNumber => "RevisionNumber",
            Criterion::CategoryIds => "CategoryIDs",
            Criterion::IsInstalled => "IsInstalled",
            Criterion::IsHidden => "IsHidden",
            Criterion::IsPresent => "IsPresent",
            Criterion::RebootRequired => "RebootRequired",
        }
    }

    /// The criterion named `name`, compared case-insensitively.
    pub(crate) fn from_name(name: &str) -> Option<Criterion> {
        Criterion::ALL.iter().copied().find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// Whether `op` is allowed with this criterion (D-26).
    pub(crate) fn allows(self, op: Op) -> bool {
        match op {
            Op::Eq => self != Criterion::CategoryIds,
            Op::Ne => matches!(self, Criterion::Type | Criterion::UpdateId),
            Op::Contains => self == Criterion::CategoryIds,
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`.
    Eq,
    /// `!=` (`Type` and `UpdateID` only).
    Ne,
    /// `contains` (`CategoryIDs` only).
    Contains,
}

impl Op {
    /// The operator as written in criteria.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Contains => "contains",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A clause's value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// An integer (`RevisionNumber`).
    Int(i64),
    /// `0` or `1` of a boolean criterion.
    Bool(bool),
    /// A string, unescaped, as written (case kept).
    Str(String),
    /// `DeploymentAction=*` (bare or quoted).
    Any,
}

impl fmt::Display for Value {
    /// The value as criteria text: strings escaped, booleans as `0`/`1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => f.write_str(if *b { "1" } else { "0" }),
            Value::Str(s) => f.write_str(&escape_string(s)),
            Value::Any => f.write_str("*"),
        }
    }
}

/// The deployment a group asks for (D-27).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeploymentFilter {
    /// `'Installation'`, and the implied filter of a group without `DeploymentAction`.
    Installation,
    /// `'Uninstallation'`.
    Uninstallation,
    /// `'OptionalInstallation'`.
    OptionalInstallation,
    /// `'Detection'`.
    Detection,
    /// `*`: any deployment, or none.
    Any,
}

impl DeploymentFilter {
    /// The name as written in a `DeploymentAction` value (`*` for [`DeploymentFilter::Any`]).
    pub(crate) fn name(self) -> &'static str {
        match self {
            DeploymentFilter::Installation => "Installation",
            DeploymentFilter::Uninstallation => "Uninstallation",
            DeploymentFilter::OptionalInstallation => "OptionalInstallation",
            DeploymentFilter::Detection => "Detection",
            DeploymentFilter::Any => "*",
        }
    }

    /// The filter named `name` (case-insensitive), `*` included.
    pub(crate) fn from_name(name: &str) -> Option<DeploymentFilter> {
        [
            DeploymentFilter::Installation,
            DeploymentFilter::Uninstallation,
            DeploymentFilter::OptionalInstallation,
            DeploymentFilter::Detection,
            DeploymentFilter::Any,
        ]
        .into_iter()
        .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// The filter matching WUA's `DeploymentAction`; `None` for `daNone`.
    pub fn from_action(action: DeploymentAction) -> Option<DeploymentFilter> {
        match action {
            DeploymentAction::None => None,
            DeploymentAction::Installation => Some(DeploymentFilter::Installation),
            DeploymentAction::Uninstallation => Some(DeploymentFilter::Uninstallation),
            DeploymentAction::Detection => Some(DeploymentFilter::Detection),
            DeploymentAction::OptionalInstallation => Some(DeploymentFilter::OptionalInstallation),
        }
    }

    /// WUA's `DeploymentAction` for this filter; `None` for [`DeploymentFilter::Any`].
    pub fn to_action(self) -> Option<DeploymentAction> {
        match self {
            DeploymentFilter::Installation => Some(DeploymentAction::Installation),
            DeploymentFilter::Uninstallation => Some(DeploymentAction::Uninstallation),
            DeploymentFilter::OptionalInstallation => Some(DeploymentAction::OptionalInstallation),
            DeploymentFilter::Detection => Some(DeploymentAction::Detection),
            DeploymentFilter::Any => None,
        }
    }
}

impl fmt::Display for DeploymentFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Clause {
    /// `Name=value`, `Name!=value` or `Name contains value`, in canonical spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.op {
            Op::Contains => write!(f, "{} contains {}", self.criterion, self.value),
            op => write!(f, "{}{}{}", self.criterion, op, self.value),
        }
    }
}

impl fmt::Display for Group {
    /// The clauses joined by ` and ` (the implied deployment is not written).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, &self.clauses, " and ")
    }
}

impl fmt::Display for Criteria {
    /// Canonical criteria text that [`parse_criteria`] reads back to the same AST (positions aside).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_joined(f, &self.groups, " or ")
    }
}

fn write_joined<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T], separator: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// A criteria fault: `WU_E_INVALID_CRITERIA` at a byte offset of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid criteria at position {position}: {message}")]
pub struct CriteriaError {
    /// 0-based byte offset of the fault (the input's length for a fault at its end).
    pub position: usize,
    /// What is wrong there.
    pub message: String,
}

impl CriteriaError {
    fn new(position: usize, message: impl Into<String>) -> Self {
        CriteriaError { position, message: message.into() }
    }

    /// Always `WU_E_INVALID_CRITERIA`.
    pub fn hresult(&self) -> HResult {
        HResult::WU_E_INVALID_CRITERIA
    }
}

impl From<CriteriaError> for WuError {
    fn from(e: CriteriaError) -> WuError {
        WuError::new(e.hresult(), e.to_string())
    }
}

/// Makes `s` a criteria string literal: wrapped in single quotes, every `'` doubled
/// (`IUpdateSearcher::EscapeString`). [`parse_string_literal`] reads it back to `s`.
pub fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// Reads the single-quoted string literal at the start of `text` (no leading whitespace):
/// its unescaped value (`''` is one quote) and the number of bytes it takes, closing quote
/// included. Errors: `text` does not start with `'` (position 0), or the literal is not
/// closed (position 0, its opening quote).
pub fn parse_string_literal(text: &str) -> Result<(String, usize), CriteriaError> {
    if !text.starts_with('\'') {
        return Err(CriteriaError::new(0, "expected a string in single quotes"));
    }
    let mut value = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if matches!(chars.peek(), Some((_, '\''))) {
                chars.next();
                value.push('\'');
            } else {
                return Ok((value, i + 1));
            }
        } else {
            value.push(c);
        }
    }
    Err(CriteriaError::new(0, "unterminated string: no closing quote"))
}

/// Parses search criteria (D-26, D-27). The empty string, or only whitespace, is
/// [`DEFAULT_CRITERIA`].
pub fn parse_criteria(text: &str) -> Result<Criteria, CriteriaError> {
    if text.chars().all(char::is_whitespace) {
        return Parser::new(DEFAULT_CRITERIA).criteria();
    }
    Parser::new(text).criteria()
}

/// What a criteria evaluator needs to know of one update (the searcher implements it).
pub trait Subject {
    /// `Type`.
    fn update_type(&self) -> UpdateType;
    /// `UpdateID`.
    fn update_id(&self) -> &str;
    /// `RevisionNumber`.
    fn revision_number(&self) -> i32;
    /// `CategoryIDs`: the IDs of the update's categories.
    fn category_ids(&self) -> Vec<String>;
    /// `IsInstalled`.
    fn is_installed(&self) -> bool;
    /// `IsHidden`.
    fn is_hidden(&self) -> bool;
    /// `IsPresent`.
    fn is_present(&self) -> bool;
    /// `RebootRequired`.
    fn reboot_required(&self) -> bool;
    /// `IsAssigned`.
    fn is_assigned(&self) -> bool;
    /// `BrowseOnly`.
    fn browse_only(&self) -> bool;
    /// `AutoSelectOnWebSites`.
    fn auto_select_on_web_sites(&self) -> bool;
    /// The deployment actions this update has for this computer (D-27); never contains
    /// [`DeploymentFilter::Any`].
    fn deployments(&self) -> Vec<DeploymentFilter>;
}

impl Criteria {
    /// Whether `s` matches: any group matches.
    pub fn matches(&self, s: &dyn Subject) -> bool {
        self.groups.iter().any(|g| g.matches(s))
    }
}

impl Group {
    /// Whether `s` matches: every clause holds, and the deployment filter is `Any` or among
    /// `s.deployments()`.
    pub(crate) fn matches(&self, s: &dyn Subject) -> bool {
        let deployed =
            self.deployment_action == DeploymentFilter::Any || s.deployments().contains(&self.deployment_action);
        deployed && self.clauses.iter().all(|c| c.holds(s))
    }
}

impl Clause {
    /// Whether the clause holds for `s`. A `DeploymentAction` clause always holds (its
    /// group's filter does the work); a value of the wrong kind never holds.
    pub(crate) fn holds(&self, s: &dyn Subject) -> bool {
        let positive = match (self.criterion, &self.value) {
            (Criterion::DeploymentAction, _) => return true,
            (Criterion::Type, Value::Str(v)) => {
                let name = match s.update_type() {
                    UpdateType::Software => "Software",
                    UpdateType::Driver => "Driver",
                };
                eq_ci(v, name)
            }
            (Criterion::UpdateId, Value::Str(v)) => eq_ci(v, s.update_id()),
            (Criterion::RevisionNumber, Value::Int(n)) => *n == i64::from(s.revision_number()),
            (Criterion::CategoryIds, Value::Str(v)) => s.category_ids().iter().any(|c| eq_ci(v, c)),
            (Criterion::IsAssigned, Value::Bool(b)) => *b == s.is_assigned(),
            (Criterion::BrowseOnly, Value::Bool(b)) => *b == s.browse_only(),
            (Criterion::AutoSelectOnWebSites, Value::Bool(b)) => *b == s.auto_select_on_web_sites(),
            (Criterion::IsInstalled, Value::Bool(b)) => *b == s.is_installed(),
            (Criterion::IsHidden, Value::Bool(b)) => *b == s.is_hidden(),
            (Criterion::IsPresent, Value::Bool(b)) => *b == s.is_present(),
            (Criterion::RebootRequired, Value::Bool(b)) => *b == s.reboot_required(),
            _ => return false,
        };
        match self.op {
            Op::Eq | Op::Contains => positive,
            Op::Ne => !positive,
        }
    }
}

/// Case-insensitive string equality. ASCII case is enough: the values compared are `Type`'s
/// names and UUIDs, which the parser only accepts in ASCII.
fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether `s` is a UUID as criteria accept it: the document's rule (8-4-4-4-12 hexadecimal
/// digits, no braces) in either case, as WUA accepts it; values compare case-insensitively.
fn is_uuid_any_case(s: &str) -> bool {
    wua_types::is_uuid(&s.to_ascii_lowercase())
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok<'a> {
    LParen,
    RParen,
    Eq,
    Ne,
    Star,
    Ident(&'a str),
    Int(i64),
    Str(String),
    End,
}

impl Tok<'_> {
    fn describe(&self) -> String {
        match self {
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Eq => "'='".into(),
            Tok::Ne => "'!='".into(),
            Tok::Star => "'*'".into(),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Int(n) => format!("the integer {n}"),
            Tok::Str(s) => format!("the string {}", escape_string(s)),
            Tok::End => "the end of the criteria".into(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Tok::Ident(s) if s.eq_ignore_ascii_case(keyword))
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next unread character.
    pos: usize,
    /// The next token and its position, once peeked.
    peeked: Option<(Tok<'a>, usize)>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Parser { text, pos: 0, peeked: None }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Byte offset just past the run of characters from `start` that satisfy `pred`.
    fn scan(&self, start: usize, pred: impl Fn(char) -> bool) -> usize {
        let tail = self.text.get(start..).unwrap_or("");
        start + tail.char_indices().find(|&(_, c)| !pred(c)).map_or(tail.len(), |(i, _)| i)
    }

    fn lex(&mut self) -> Result<(Tok<'a>, usize), CriteriaError> {
        self.pos = self.scan(self.pos, char::is_whitespace);
        let start = self.pos;
        let Some(c) = self.rest().chars().next() else {
            return Ok((Tok::End, start));
        };
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '=' => Some(Tok::Eq),
            '*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(tok) = single {
            self.pos += 1;
            return Ok((tok, start));
        }
        let tok = match c {
            '!' => {
                if self.rest().starts_with("!=") {
                    self.pos += 2;
                    Tok::Ne
                } else {
                    return Err(CriteriaError::new(start, "'!' must be followed by '=' (the operator '!=')"));
                }
            }
            '\'' => {
                // The rest starts with a quote, so the one possible fault is a literal that is not
                // closed, which `parse_string_literal` places at the opening quote: `start`.
                let (value, len) =
                    parse_string_literal(self.rest()).map_err(|e| CriteriaError::new(start, e.message))?;
                self.pos += len;
                Tok::Str(value)
            }
            '-' | '0'..='9' => {
                let digits_start = if c == '-' { start + 1 } else { start };
                let end = self.scan(digits_start, |c| c.is_ascii_digit());
                if end == digits_start {
                    return Err(CriteriaError::new(start, "'-' must be followed by decimal digits"));
                }
                if let Some(next) = self.text.get(end..).and_then(|t| t.chars().next()) {
                    if is_ident_char(next) {
                        return Err(CriteriaError::new(end, "an integer must not be directly followed by a letter"));
                    }
                }
                let literal = self.text.get(start..end).unwrap_or("");
                let n = literal
                    .parse::<i64>()
                    .map_err(|_| CriteriaError::new(start, format!("the integer {literal} is out of range")))?;
                self.pos = end;
                Tok::Int(n)
            }
            c if is_ident_start(c) => {
                let end = self.scan(start, is_ident_char);
                self.pos = end;
                Tok::Ident(self.text.get(start..end).unwrap_or(""))
            }
            c => return Err(CriteriaError::new(start, format!("unexpected character {c:?}"))),
        };
        Ok((tok, start))
    }

    fn peek(&mut self) -> Result<&(Tok<'a>, usize), CriteriaError> {
        if self.peeked.is_none() {
            let next = self.lex()?;
            self.peeked = Some(next);
        }
        match &self.peeked {
            Some(p) => Ok(p),
            // Unreachable: filled just above.
            None => Err(CriteriaError::new(self.pos, "internal parser error")),
        }
    }

    fn next(&mut self) -> Result<(Tok<'a>, usize), CriteriaError> {
        match self.peeked.take() {
            Some(p) => Ok(p),
            None => self.lex(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Grammar

    fn criteria(&mut self) -> Result<Criteria, CriteriaError> {
        let mut groups = vec![self.group()?];
        loop {
            let (tok, pos) = self.next()?;
            match tok {
                Tok::End => return Ok(Criteria { groups }),
                t if t.is_keyword("or") => groups.push(self.group()?),
                Tok::RParen => return Err(CriteriaError::new(pos, "unbalanced parenthesis: ')' without '('")),
                t if t.is_keyword("and") => {
                    return Err(CriteriaError::new(
                        pos,
                        "'and' cannot follow a parenthesized group: parentheses enclose a whole 'or' operand",
                    ));
                }
                t => {
                    return Err(CriteriaError::new(
                        pos,
                        format!("expected 'and', 'or' or the end of the criteria, found {}", t.describe()),
                    ));
                }
            }
        }
    }

    fn group(&mut self) -> Result<Group, CriteriaError> {
        let parenthesized = matches!(self.peek()?, (Tok::LParen, _));
        if parenthesized {
            self.next()?;
        }
        let mut clauses = vec![self.clause()?];
        while self.peek()?.0.is_keyword("and") {
            self.next()?;
            clauses.push(self.clause()?);
        }
        if parenthesized {
            let (tok, pos) = self.next()?;
            match tok {
                Tok::RParen => {}
                t if t.is_keyword("or") => {
                    return Err(CriteriaError::new(pos, "'or' is allowed only at top level, not inside parentheses"));
                }
                Tok::End => return Err(CriteriaError::new(pos, "unbalanced parenthesis: expected ')'")),
                t => return Err(CriteriaError::new(pos, format!("expected 'and' or ')', found {}", t.describe()))),
            }
        }
        Self::finish_group(clauses)
    }

    /// Group-level rules: one `DeploymentAction` at most; `RevisionNumber` needs an
    /// `UpdateID =` and no `UpdateID !=`.
    fn finish_group(clauses: Vec<Clause>) -> Result<Group, CriteriaError> {
        let mut deployment_action = None;
        for clause in clauses.iter().filter(|c| c.criterion == Criterion::DeploymentAction) {
            if deployment_action.is_some() {
                return Err(CriteriaError::new(clause.position, "DeploymentAction is given twice in one group"));
            }
            deployment_action = Some(match &clause.value {
                Value::Str(s) => DeploymentFilter::from_name(s).unwrap_or(DeploymentFilter::Installation),
                _ => DeploymentFilter::Any,
            });
        }
        let has_id_eq = clauses.iter().any(|c| c.criterion == Criterion::UpdateId && c.op == Op::Eq);
        let has_id_ne = clauses.iter().any(|c| c.criterion == Criterion::UpdateId && c.op == Op::Ne);
        if let Some(rev) = clauses.iter().find(|c| c.criterion == Criterion::RevisionNumber) {
            if has_id_ne {
                return Err(CriteriaError::new(
                    rev.position,
                    "RevisionNumber is not allowed in a group with 'UpdateID !='",
                ));
            }
            if !has_id_eq {
                return Err(CriteriaError::new(
                    rev.position,
                    "RevisionNumber needs an 'UpdateID =' clause in the same group",
                ));
            }
        }
        Ok(Group { clauses, deployment_action: deployment_action.unwrap_or(DeploymentFilter::Installation) })
    }

    fn clause(&mut self) -> Result<Clause, CriteriaError> {
        let (tok, position) = self.next()?;
        let criterion = match tok {
            Tok::Ident(name) if !["and", "or", "contains"].iter().any(|k| name.eq_ignore_ascii_case(k)) => {
                Criterion::from_name(name)
                    .ok_or_else(|| CriteriaError::new(position, format!("unknown criterion '{name}'")))?
            }
            Tok::LParen => return Err(CriteriaError::new(position, "parentheses cannot be nested")),
            t => {
                return Err(CriteriaError::new(position, format!("expected a criterion name, found {}", t.describe())));
            }
        };

        let (tok, op_pos) = self.next()?;
        let op = match tok {
            Tok::Eq => Op::Eq,
            Tok::Ne => Op::Ne,
            t if t.is_keyword("contains") => Op::Contains,
            t => {
                return Err(CriteriaError::new(
                    op_pos,
                    format!("expected '=', '!=' or 'contains' after {criterion}, found {}", t.describe()),
                ));
            }
        };
        if !criterion.allows(op) {
            return Err(CriteriaError::new(op_pos, format!("the operator '{op}' is not allowed with {criterion}")));
        }

        let (tok, value_pos) = self.next()?;
        let value = Self::value(criterion, tok, value_pos)?;
        Ok(Clause { criterion, op, value, position })
    }

    fn value(criterion: Criterion, tok: Tok<'_>, pos: usize) -> Result<Value, CriteriaError> {
        let bad = |what: &str, tok: &Tok<'_>| {
            CriteriaError::new(pos, format!("{criterion} takes {what}, found {}", tok.describe()))
        };
        match criterion {
            Criterion::Type => match tok {
                Tok::Str(s) if ["Software", "Driver"].iter().any(|t| t.eq_ignore_ascii_case(&s)) => Ok(Value::Str(s)),
                t => Err(bad("'Software' or 'Driver'", &t)),
            },
            Criterion::DeploymentAction => match tok {
                Tok::Star => Ok(Value::Any),
                Tok::Str(s) if s == "*" => Ok(Value::Any),
                Tok::Str(s) if DeploymentFilter::from_name(&s).is_some() => Ok(Value::Str(s)),
                t => Err(bad("'Installation', 'Uninstallation', 'OptionalInstallation', 'Detection' or *", &t)),
            },
            Criterion::UpdateId | Criterion::CategoryIds => match tok {
                Tok::Str(s) if is_uuid_any_case(&s) => Ok(Value::Str(s)),
                t => Err(bad("a UUID string like '00000000-0000-0000-0000-000000000000'", &t)),
            },
            Criterion::RevisionNumber => match tok {
                Tok::Int(n) if i32::try_from(n).is_ok() => Ok(Value::Int(n)),
                t => Err(bad("a 32-bit integer", &t)),
            },
            Criterion::IsAssigned
            | Criterion::BrowseOnly
            | Criterion::AutoSelectOnWebSites
            | Criterion::IsInstalled
            | Criterion::IsHidden
            | Criterion::IsPresent
            | Criterion::RebootRequired => match tok {
                Tok::Int(0) => Ok(Value::Bool(false)),
                Tok::Int(1) => Ok(Value::Bool(true)),
                t => Err(bad("only 0 or 1", &t)),
            },
        }
    }
}
