//! wua-trust's integration tests: one binary, a module per property.

mod static_repo;
