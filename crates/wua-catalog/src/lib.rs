//! wua's catalog logic, without I/O beyond reading the target root for rules:
//!
//! - [`rules`]: the applicability rule language (a small JSON expression tree: `all`, `any`,
//!   `not`, `os`, `arch`, `kernel`, `file_exists`, `file_sha256`, `file_version`,
//!   `dpkg_package`, `update_installed`) and its evaluator, rooted at any directory; an unknown
//!   rule kind makes an update not applicable (D-42).
//! - [`debversion`]: Debian version ordering (`dpkg --compare-versions`).
//! - [`criteria`]: the search-criteria language of D-26 and D-27: a parser to an AST with
//!   positions in its errors, an evaluator, and `escape_string`.
//! - [`supersedence`]: which updates a search leaves out as superseded (D-28).

pub mod criteria;
pub mod debversion;
pub mod rules;
pub mod supersedence;
