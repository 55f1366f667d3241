//! User namespaces: id ranges, id maps, idmapped mounts and on-disk ownership shifts.

pub mod shift;
pub mod userns;
