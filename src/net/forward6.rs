//! The IPv6 sysctls of berth's links (under /proc/sys/net/ipv6/conf of
//! the launcher's network namespace).
//!
//! Per link: no duplicate address detection on the host side (berth
//! picked its addresses, and the link-local one is usable as the source
//! of router advertisements as soon as the link has carrier).
//!
//! Forwarding: Linux forwards IPv6 only when `all.forwarding` is on (a
//! per-link switch does not route the replies coming in by the host's
//! uplink), so berth turns it on as it turns on IPv4 forwarding (as
//! systemd-networkd's IPMasquerade= does) but says so, once, when it
//! changes it; and since a forwarding host's interfaces stop taking
//! router advertisements where accept_ra is 1, those first get 2, so the
//! host keeps its own SLAAC addresses and routes.

use std::fs;
use std::path::Path;

const CONF: &str = "/proc/sys/net/ipv6/conf";

fn read(p: &Path) -> String {
    fs::read_to_string(p).map(|s| s.trim().to_string()).unwrap_or_default()
}

/// Prepares link `ifname` before it goes up: no DAD on its addresses.
pub fn prepare_link(ifname: &str) {
    let p = Path::new(CONF).join(ifname).join("accept_dad");
    if let Err(e) = fs::write(&p, "0") {
        tracing::warn!("{}: {e}", p.display());
    }
}

/// Which of (interface, accept_ra, forwarding) must get accept_ra=2 to
/// keep taking router advertisements once forwarding is on (pure).
pub fn keep_taking_ra(conf: &[(String, String, String)]) -> Vec<String> {
    conf.iter()
        .filter(|(name, ra, fwd)| name != "all" && name != "lo" && ra == "1" && fwd == "0")
        // berth's own links route; they take no advertisements.
        .filter(|(name, _, _)| !["ve-", "vb-", "vz-"].iter().any(|p| name.starts_with(p)))
        .map(|(name, _, _)| name.clone())
        .collect()
}

/// Turns IPv6 forwarding on (for berth's links, but Linux has one switch
/// for all); whether the host forwards IPv6 now (then the advertisements
/// offer a default route).
pub fn enable() -> bool {
    let all = Path::new(CONF).join("all/forwarding");
    if read(&all) == "1" {
        return true;
    }
    let conf: Vec<(String, String, String)> = fs::read_dir(CONF)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            (e.file_name().to_string_lossy().into_owned(), read(&p.join("accept_ra")), read(&p.join("forwarding")))
        })
        .collect();
    let keep = keep_taking_ra(&conf);
    for name in &keep {
        let _ = fs::write(Path::new(CONF).join(name).join("accept_ra"), "2");
    }
    if let Err(e) = fs::write(&all, "1") {
        tracing::warn!("turning on IPv6 forwarding: {e}");
        eprint!("berth: cannot turn on IPv6 forwarding ({e}); guests get IPv6 addresses but no IPv6 route beyond the host\r\n");
        return false;
    }
    let kept =
        if keep.is_empty() { String::new() } else { format!("; accept_ra=2 on {} keeps their SLAAC", keep.join(" ")) };
    eprint!("berth: turned on IPv6 forwarding for every interface (net.ipv6.conf.all.forwarding=1) for the guests' IPv6{kept}\r\n");
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_interfaces_taking_ras_without_forwarding_are_kept() {
        let c = |n: &str, ra: &str, f: &str| (n.to_string(), ra.to_string(), f.to_string());
        let conf = vec![
            c("all", "1", "0"),
            c("default", "1", "0"),
            c("lo", "1", "0"),
            c("eth0", "1", "0"),
            c("eth1", "0", "0"),
            c("eth2", "2", "0"),
            c("br0", "1", "1"),
            c("ve-web", "1", "0"),
        ];
        assert_eq!(keep_taking_ra(&conf), vec!["default".to_string(), "eth0".to_string()]);
    }
}
