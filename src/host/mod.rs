//! The host's service managers and cgroups: cgroup2 and hybrid v1, resource limits, systemd scopes, machines as services, machined and the D-Bus helper.

pub mod bus;
pub mod cgroup;
pub mod cgroupv1;
pub mod limits;
pub mod machined;
pub mod nested;
pub mod property;
pub mod property_values;
pub mod scope;
pub mod scope_stop;
pub mod service;
pub mod service_bus;
