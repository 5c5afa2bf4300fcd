//! The routes, by who calls them: agents, administrators, operations.

pub mod admin;
pub mod agent;
pub mod ops;
