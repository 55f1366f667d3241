//! The guest's file system: the mount table, the root, throw-away layers, /dev and /run/host.

pub mod api;
pub mod apply;
pub mod dev;
pub mod ephemeral;
pub mod rootfs;
pub mod runhost;
