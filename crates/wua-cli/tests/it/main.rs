//! The `wua` command line, driven as a real child process: crash safety (SIGKILL at every
//! journal step), durability order (strace), bad input, exit codes, jobs across processes
//! (D-8, D-38, Ctrl-C), the quickstart, a repository's root change and its signings without the
//! targets key killed at every step, root keys kept offline, managed repositories, the
//! scheduled agent run with its systemd units, and the Debian package installed into a
//! throwaway dpkg root.

mod agent_run;
mod bad_input;
mod cli;
mod cli_options;
mod concurrency;
mod crash;
mod durability;
mod imports;
mod jobs;
mod json_schema;
mod links;
mod managed_server;
mod modes;
mod packaging;
mod quickstart;
mod repo_crash;
mod repo_server_side;
mod repo_signing_crash;
mod revisions;
mod roots;
mod search_cli;
mod server_cli;
mod server_support;
mod services;
mod support;
mod terminal;
mod trusted_state_crash;
