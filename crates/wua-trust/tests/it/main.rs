//! wua-trust's integration tests: one binary, a module per property.

mod round_trip;
mod static_repo;
mod support;
