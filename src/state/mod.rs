//! berth's runtime state under /run/berth: machine records, locks, the watcher and gc, and the lookups the management verbs use.

pub mod cleanup;
pub mod lock;
pub mod machine;
pub mod record;
pub mod status_json;
pub mod watcher;
