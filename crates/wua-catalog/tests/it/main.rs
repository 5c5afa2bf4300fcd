//! wua-catalog's integration tests: one binary, a module per area.

mod criteria;
mod rules;
mod supersedence;
