//! wua's catalog logic, without I/O beyond reading the target root for rules:
//!
//! - Applicability rules: a small JSON expression tree (`all`, `any`, `not`, `os`, `arch`,
//!   `kernel`, `file_exists`, `file_sha256`, `file_version`, `dpkg_package`,
//!   `update_installed`) evaluated by [`evaluate_rule`] and [`applicability`] on a [`Machine`]
//!   rooted at any directory; an unknown rule kind makes an update not applicable (D-42).
//!   Versions compare in Debian version ordering (`dpkg --compare-versions`).
//! - Search criteria: the language of D-26 and D-27, parsed by [`parse_criteria`] to a
//!   [`Criteria`] AST with positions in its errors ([`CriteriaError`]), evaluated over any
//!   [`Subject`], and [`escape_string`].
//! - Supersedence: which updates a search leaves out as [`superseded`] (D-28).

mod criteria;
mod debversion;
mod rules;
mod supersedence;

pub use criteria::{
    Clause, Criteria, CriteriaError, Criterion, DEFAULT_CRITERIA, DeploymentFilter, Group, Op, Subject, Value,
    escape_string, parse_criteria, parse_string_literal,
};
pub use rules::{Applicable, Machine, RULE_KINDS, RuleError, RuleFault, applicability, check_kinds, evaluate_rule};
pub use supersedence::{Candidate, superseded};
