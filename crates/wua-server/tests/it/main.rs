//! wua-server's integration tests: a real server on 127.0.0.1 over a real repository and a
//! real SQLite file, spoken to over HTTP.

mod api_errors;
mod openapi;
mod reports;
mod rules;
mod status;
mod support;
