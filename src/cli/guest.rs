//! The options of what the host hands the guest's system (its journal,
//! resolver, time zone and credentials), spelled like systemd-nspawn's.

use clap::Args;

#[derive(Args, Debug, Default)]
pub struct GuestArgs {
    /// Show the guest's journal on the host: no (default), host, try-host, guest, try-guest or auto.
    #[arg(long = "link-journal", value_name = "MODE")]
    pub link_journal: Option<String>,
    /// Same as --link-journal=try-guest.
    #[arg(short = 'j')]
    pub j: bool,
    /// The guest's /etc/resolv.conf: off, copy-host, copy-static, copy-uplink, copy-stub, replace-*, bind-*, delete or auto (default).
    #[arg(long = "resolv-conf", value_name = "MODE")]
    pub resolv_conf: Option<String>,
    /// The guest's /etc/localtime: off, copy, bind, symlink, delete or auto (default).
    #[arg(long, value_name = "MODE")]
    pub timezone: Option<String>,
    /// Pass a credential to the guest's system, under /run/host/credentials.
    #[arg(long = "set-credential", value_name = "ID:VALUE")]
    pub set_credential: Vec<String>,
    /// Pass a host file's contents as a credential to the guest's system.
    #[arg(long = "load-credential", value_name = "ID:PATH")]
    pub load_credential: Vec<String>,
    /// Bind a host user's home to /run/host/home/USER and make the user known to the guest (its ids as 60514 and up).
    #[arg(long = "bind-user", value_name = "USER")]
    pub bind_user: Vec<String>,
}
