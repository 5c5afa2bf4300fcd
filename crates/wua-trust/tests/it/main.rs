//! wua-trust's integration tests: one binary, a module per property; each attack has its own
//! module and builds its hostile fixture at test time with test keys (so nothing expires).

mod approvals_role_only;
mod approvals_without_targets_key;
mod attack_arbitrary_content;
mod attack_endless_data;
mod attack_freeze;
mod attack_mix_and_match;
mod attack_rollback;
mod attack_root_rotation;
mod attack_threshold;
mod attack_wrong_key;
mod clock_moved_back;
mod concurrent_refreshes;
mod concurrent_writers;
mod errors_by_side;
mod export;
mod export_unpack;
mod interop_python_tuf;
mod known_packs;
mod managed_repository;
mod poisoned_cache;
mod pruning;
mod recreated_repository;
mod repo_lock;
mod resign_online;
mod revoked_key_hidden_root;
mod rollback_after_rotation;
mod root_merge_files;
mod round_trip;
mod shared_modes;
mod slow_server;
mod static_repo;
mod support;
mod trusted_state_power_loss;
