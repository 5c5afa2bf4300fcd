//! wua-agent's integration tests: one binary, a module per area. Tests name the decision
//! (D-n) they check and assert exact result codes and HResult values.

mod api_shape;
mod au_results;
mod commands;
mod decisions_doc;
mod download;
mod example;
mod job_model;
mod job_model_kinds;
mod jobs;
mod managed;
mod rule_based;
mod rules;
mod search;
mod search_edges;
mod server_e2e;
mod support;
