//! The guest's confinement: capabilities, the system call filter, the device program and the policy that gathers them.

pub mod capabilities;
pub mod devices;
pub mod policy;
pub mod policy_values;
pub mod seccomp;
