//! Starting a machine: the launcher and its event loop, the children that set the guest up, the stub init, and the protocol between them.

pub mod child;
pub mod console;
pub mod ctx;
pub mod exec;
pub mod exit;
pub mod inner;
pub mod launch;
pub mod notify;
pub mod protocol;
pub mod stop;
pub mod stub;
pub mod supervisor;
