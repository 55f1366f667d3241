//! Masquerading for berth's own links through nf_tables over netlink
//! (never `nft` or `iptables`): table `ip berth` (and `ip6 berth` for
//! IPv6), one base chain per link at the postrouting hook,
//! `iifname LINK oifname != LINK masquerade`.
//! Every message is built here, as the kernel's nf_tables UAPI spells it.

use super::error::{NetError, Result};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use std::io;

pub const TABLE: &str = "berth";

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NFT_MSG_NEWTABLE: u16 = 0;
const NFT_MSG_DELTABLE: u16 = 2;
const NFT_MSG_NEWCHAIN: u16 = 3;
const NFT_MSG_DELCHAIN: u16 = 5;
const NFT_MSG_NEWRULE: u16 = 6;
const NFT_MSG_DELRULE: u16 = 8;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_NONREC: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_APPEND: u16 = 0x800;
const NLA_F_NESTED: u16 = 0x8000;

const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_META_DREG: u16 = 1;
const NFTA_META_KEY: u16 = 2;
const NFTA_CMP_SREG: u16 = 1;
const NFTA_CMP_OP: u16 = 2;
const NFTA_CMP_DATA: u16 = 3;
pub const NFTA_DATA_VALUE: u16 = 1;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_REG_1: u32 = 1;
pub const NFT_CMP_EQ: u32 = 0;
pub const NFT_CMP_NEQ: u32 = 1;
const NF_INET_POST_ROUTING: u32 = 4;
const NF_IP_PRI_NAT_SRC: i32 = 100;

/// Attributes of one message, appended in order.
#[derive(Default)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    pub fn raw(&mut self, ty: u16, v: &[u8]) -> &mut Self {
        let len = 4 + v.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(v);
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
        self
    }
    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.raw(ty, &v)
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.raw(ty, &v.to_be_bytes())
    }
    pub fn nest(&mut self, ty: u16, inner: &Attrs) -> &mut Self {
        self.raw(ty | NLA_F_NESTED, &inner.0)
    }
}

/// An interface name as the kernel compares it: IFNAMSIZ bytes.
fn ifname_data(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.resize(16, 0);
    v
}

pub fn expr(name: &str, data: Option<&Attrs>) -> Attrs {
    let mut e = Attrs::default();
    e.str(NFTA_EXPR_NAME, name);
    if let Some(d) = data {
        e.nest(NFTA_EXPR_DATA, d);
    }
    e
}

pub fn meta(key: u32) -> Attrs {
    let mut d = Attrs::default();
    d.u32(NFTA_META_KEY, key).u32(NFTA_META_DREG, NFT_REG_1);
    expr("meta", Some(&d))
}

pub fn cmp(op: u32, value: &[u8]) -> Attrs {
    let mut v = Attrs::default();
    v.raw(NFTA_DATA_VALUE, value);
    let mut d = Attrs::default();
    d.u32(NFTA_CMP_SREG, NFT_REG_1).u32(NFTA_CMP_OP, op).nest(NFTA_CMP_DATA, &v);
    expr("cmp", Some(&d))
}

/// The chain of link `ifname`.
pub fn chain_name(ifname: &str) -> String {
    format!("masq-{ifname}")
}

/// A batch of nf_tables messages, sent as one transaction.
pub struct Batch {
    msgs: Vec<(u16, u16, Attrs)>,
    /// NFPROTO_IPV4 (table ip berth) or NFPROTO_IPV6 (table ip6 berth).
    family: u8,
}

impl Default for Batch {
    fn default() -> Batch {
        Batch::new()
    }
}

impl Batch {
    pub fn new() -> Batch {
        Batch::in_family(NFPROTO_IPV4)
    }

    /// A batch on table berth of `family`.
    pub fn in_family(family: u8) -> Batch {
        Batch { msgs: Vec::new(), family }
    }

    fn add(&mut self, msg: u16, flags: u16, attrs: Attrs) {
        self.msgs.push(((NFNL_SUBSYS_NFTABLES << 8) | msg, flags, attrs));
    }

    /// Table ip berth, if it is not there yet.
    pub fn table(&mut self) {
        self.add(NFT_MSG_NEWTABLE, NLM_F_CREATE, table_attrs());
    }

    /// A nat base chain of table ip berth at `hook`, `priority`.
    pub fn base_chain(&mut self, chain: &str, hook: u32, priority: i32) {
        let mut h = Attrs::default();
        h.u32(NFTA_HOOK_HOOKNUM, hook).u32(NFTA_HOOK_PRIORITY, priority as u32);
        let mut c = chain_attrs(chain);
        c.nest(NFTA_CHAIN_HOOK, &h).str(NFTA_CHAIN_TYPE, "nat");
        self.add(NFT_MSG_NEWCHAIN, NLM_F_CREATE, c);
    }

    /// A rule of `exprs` appended to `chain`.
    pub fn rule(&mut self, chain: &str, exprs: &[Attrs]) {
        let mut list = Attrs::default();
        for e in exprs {
            list.nest(NFTA_LIST_ELEM, e);
        }
        let mut r = Attrs::default();
        r.str(NFTA_RULE_TABLE, TABLE).str(NFTA_RULE_CHAIN, chain).nest(NFTA_RULE_EXPRESSIONS, &list);
        self.add(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, r);
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut put = |ty: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[u8]| {
            let len = 16 + 4 + attrs.len();
            out.extend_from_slice(&(len as u32).to_ne_bytes());
            out.extend_from_slice(&ty.to_ne_bytes());
            out.extend_from_slice(&flags.to_ne_bytes());
            out.extend_from_slice(&seq.to_ne_bytes());
            out.extend_from_slice(&0u32.to_ne_bytes());
            out.push(family);
            out.push(0);
            out.extend_from_slice(&res_id.to_be_bytes());
            out.extend_from_slice(attrs);
        };
        put(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, 0, NFNL_SUBSYS_NFTABLES, &[]);
        for (i, (ty, flags, a)) in self.msgs.iter().enumerate() {
            put(*ty, NLM_F_REQUEST | NLM_F_ACK | flags, i as u32 + 1, self.family, 0, &a.0);
        }
        put(NFNL_MSG_BATCH_END, NLM_F_REQUEST, self.msgs.len() as u32 + 1, 0, NFNL_SUBSYS_NFTABLES, &[]);
        out
    }

    /// Sends the batch and reads one acknowledgement per message; the
    /// first error fails it (and the kernel applies none of it).
    pub fn commit(&self, what: &str) -> Result<()> {
        let mut sock = Socket::new(NETLINK_NETFILTER).map_err(|e| NetError::netlink(what, e))?;
        sock.bind_auto().map_err(|e| NetError::netlink(what, e))?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(|e| NetError::netlink(what, e))?;
        sock.send(&self.encode(), 0).map_err(|e| NetError::netlink(what, e))?;
        let mut acked = 0;
        while acked < self.msgs.len() {
            let (data, _) = sock.recv_from_full().map_err(|e| NetError::netlink(what, e))?;
            let mut off = 0;
            while off + 16 <= data.len() {
                let len = u32::from_ne_bytes(data[off..off + 4].try_into().unwrap()) as usize;
                let ty = u16::from_ne_bytes(data[off + 4..off + 6].try_into().unwrap());
                if len < 16 {
                    break;
                }
                if ty == 2 && off + 20 <= data.len() {
                    // NLMSG_ERROR: 0 is an acknowledgement.
                    let code = i32::from_ne_bytes(data[off + 16..off + 20].try_into().unwrap());
                    if code != 0 {
                        return Err(NetError::netlink(what, io::Error::from_raw_os_error(-code)));
                    }
                    acked += 1;
                }
                off += (len + 3) & !3;
            }
        }
        Ok(())
    }
}

fn table_attrs() -> Attrs {
    let mut a = Attrs::default();
    a.str(NFTA_TABLE_NAME, TABLE);
    a
}

fn chain_attrs(chain: &str) -> Attrs {
    let mut a = Attrs::default();
    a.str(NFTA_CHAIN_TABLE, TABLE).str(NFTA_CHAIN_NAME, chain);
    a
}

/// Masquerades what comes in from `ifname` and leaves by another link.
pub fn add_masquerade(ifname: &str) -> Result<()> {
    add_masquerade_in(NFPROTO_IPV4, ifname)
}

/// The same in table berth of `family`.
pub fn add_masquerade_in(family: u8, ifname: &str) -> Result<()> {
    let chain = chain_name(ifname);
    let mut b = Batch::in_family(family);
    b.table();
    b.base_chain(&chain, NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC);
    b.rule(
        &chain,
        &[
            meta(NFT_META_IIFNAME),
            cmp(NFT_CMP_EQ, &ifname_data(ifname)),
            meta(NFT_META_OIFNAME),
            cmp(NFT_CMP_NEQ, &ifname_data(ifname)),
            expr("masq", None),
        ],
    );
    b.commit(&format!("adding the masquerade rule for {ifname} to nf_tables table {} {TABLE}", family_name(family)))
}

/// Turns on IPv4 forwarding (as networkd's IPMasquerade= does) and
/// masquerades what comes in by `link`; a host without nf_tables gets
/// one line and no NAT.
pub fn forward_and_masquerade(link: &str) -> Result<()> {
    if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "1") {
        tracing::warn!("turning on IPv4 forwarding: {e}");
    }
    match add_masquerade(link) {
        Ok(()) => Ok(()),
        Err(e) if unsupported(&e) => {
            eprint!("berth: this host has no nf_tables (legacy iptables only?); {link} gets no NAT\r\n");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Removes the chain of `ifname`, then the table if no chain is left.
pub fn remove_masquerade(ifname: &str) -> Result<()> {
    remove_chain(&chain_name(ifname))
}

/// Removes `chain` with its rules, then the table if no chain is left.
pub fn remove_chain(chain: &str) -> Result<()> {
    remove_chain_in(NFPROTO_IPV4, chain)
}

/// `ip` or `ip6`, as nft names the family.
pub fn family_name(family: u8) -> &'static str {
    if family == NFPROTO_IPV6 {
        "ip6"
    } else {
        "ip"
    }
}

/// Removes `chain` of table berth of `family`, then the table if empty.
pub fn remove_chain_in(family: u8, chain: &str) -> Result<()> {
    let mut b = Batch::in_family(family);
    let mut r = Attrs::default();
    r.str(NFTA_RULE_TABLE, TABLE).str(NFTA_RULE_CHAIN, chain);
    b.add(NFT_MSG_DELRULE, 0, r);
    b.add(NFT_MSG_DELCHAIN, 0, chain_attrs(chain));
    let res = b.commit(&format!("removing chain {chain} of nf_tables table {} {TABLE}", family_name(family)));
    // Only an empty table goes: other machines' chains stay.
    let mut t = Batch::in_family(family);
    t.add(NFT_MSG_DELTABLE, NLM_F_NONREC, table_attrs());
    let _ = t.commit("removing an empty nf_tables table");
    res
}

/// Whether an error means the kernel has no nf_tables (a host on legacy
/// iptables only).
pub fn unsupported(e: &NetError) -> bool {
    matches!(e, NetError::Netlink { source, .. }
        if matches!(source.raw_os_error(), Some(libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT | libc::EOPNOTSUPP)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_aligned_and_nested() {
        let mut a = Attrs::default();
        a.str(1, "abc");
        assert_eq!(a.0, vec![8, 0, 1, 0, b'a', b'b', b'c', 0]);
        let mut b = Attrs::default();
        b.str(2, "ve-x");
        assert_eq!(b.0.len(), 12, "4 + 5 bytes, padded");
        let mut n = Attrs::default();
        n.nest(4, &a);
        assert_eq!(&n.0[0..4], &[12, 0, 4, 0x80]);
        assert_eq!(ifname_data("ve-web").len(), 16);
    }

    #[test]
    fn a_batch_is_framed_by_begin_and_end() {
        let mut b = Batch::new();
        b.add(NFT_MSG_NEWTABLE, NLM_F_CREATE, table_attrs());
        let raw = b.encode();
        let ty = |off: usize| u16::from_ne_bytes(raw[off + 4..off + 6].try_into().unwrap());
        assert_eq!(ty(0), NFNL_MSG_BATCH_BEGIN);
        assert_eq!(ty(20), (10 << 8) | NFT_MSG_NEWTABLE);
        let second = u32::from_ne_bytes(raw[20..24].try_into().unwrap()) as usize;
        assert_eq!(ty(20 + second), NFNL_MSG_BATCH_END);
        assert_eq!(raw.len(), 20 + second + 20);
    }
}
