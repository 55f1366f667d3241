//! The guest's file system: the mount table, the root, throw-away layers, /dev, /run/host and the files the host hands the guest.

pub mod api;
pub mod apply;
pub mod dev;
pub mod ephemeral;
pub mod guestfiles;
pub mod rootfs;
pub mod runhost;
