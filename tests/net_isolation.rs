//! From inside a private-network guest the host's network is out of
//! reach: no host interface is visible, host sockets on 127.0.0.1 do not
//! answer, and the host's nf_tables cannot be read or changed (a static
//! probe speaks nf_tables over netlink itself). The "host" is a network
//! namespace the test creates (tests/common/netns.rs).

mod common;

use common::netns::*;
use common::*;
use std::time::Duration;

/// Lists the nf_tables tables it sees (TABLE=name lines), then tries to
/// create table ip hnguest (CREATE=0 or CREATE=-errno).
const NFT_PROBE: &str = r#"
#include <linux/netlink.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#define NFPROTO_IPV4 2
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char buf[65536];

static int put(char *p, int type, int flags, int seq, int family, int resid, const char *table) {
    struct nlmsghdr *h = (struct nlmsghdr *)p;
    struct nfgenmsg *g = NLMSG_DATA(h);
    memset(p, 0, 64);
    h->nlmsg_len = NLMSG_LENGTH(sizeof *g);
    h->nlmsg_type = type; h->nlmsg_flags = NLM_F_REQUEST | flags; h->nlmsg_seq = seq;
    g->nfgen_family = family; g->res_id = (unsigned short)((resid >> 8) | ((resid & 0xff) << 8));
    if (table) {
        struct nlattr *a = (struct nlattr *)((char *)h + h->nlmsg_len);
        a->nla_type = NFTA_TABLE_NAME; a->nla_len = NLA_HDRLEN + strlen(table) + 1;
        strcpy((char *)a + NLA_HDRLEN, table);
        h->nlmsg_len += NLA_ALIGN(a->nla_len);
    }
    return NLMSG_ALIGN(h->nlmsg_len);
}

int main(void) {
    int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    if (s < 0) { perror("socket"); return 1; }
    char req[512]; int n = put(req, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, NLM_F_DUMP, 1, AF_UNSPEC, 0, 0);
    send(s, req, n, 0);
    for (int done = 0; !done;) {
        int len = recv(s, buf, sizeof buf, 0);
        if (len <= 0) break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) { done = 1; break; }
            struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
            int rest = h->nlmsg_len - ((char *)a - (char *)h);
            for (; rest >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN; rest -= NLA_ALIGN(a->nla_len),
                 a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len)))
                if ((a->nla_type & NLA_TYPE_MASK) == NFTA_TABLE_NAME) printf("TABLE=%s\n", (char *)a + NLA_HDRLEN);
        }
    }
    n = put(req, NFNL_MSG_BATCH_BEGIN, 0, 10, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, 0);
    n += put(req + n, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, NLM_F_CREATE | NLM_F_ACK, 11, NFPROTO_IPV4, 0, "hnguest");
    n += put(req + n, NFNL_MSG_BATCH_END, 0, 12, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, 0);
    send(s, req, n, 0);
    int len = recv(s, buf, sizeof buf, 0);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (len > 0 && h->nlmsg_type == NLMSG_ERROR) printf("CREATE=%d\n", ((struct nlmsgerr *)NLMSG_DATA(h))->error);
    else printf("CREATE=none\n");
    return 0;
}
"#;

/// In both user-namespace modes the guest sees only its own `lo`, cannot
/// reach a host listener on 127.0.0.1, sees none of the host's nf_tables
/// tables (a table the test made there, berth's own of a running -n
/// machine) and its own table never appears on the host.
#[test]
fn private_network_guest_cannot_see_or_touch_the_host_network() {
    require(&["nft", "gcc"]);
    let (_s, tree) = busybox_setup("iso");
    install_udhcpc_script(&tree);
    gcc_static(NFT_PROBE, &tree.join("nftprobe"), &[]);
    let _l = host_lock_shared();
    let host = HostNs::new("is");
    host.sh("nft add table ip hnsecret");
    assert!(host.nft_tables().contains("hnsecret"), "test setup: {}", host.nft_tables());
    // The probe itself sees and changes the namespace it runs in (the
    // test is sound); its table goes again.
    let own = host.sh(&format!("{} && nft delete table ip hnguest", tree.join("nftprobe").display()));
    assert!(own.contains("TABLE=hnsecret") && own.contains("CREATE=0"), "the probe on the host: {own}");
    host.ip(&["link", "add", "hnisa0", "type", "veth", "peer", "name", "hnisb0"]);
    let port = host.serve("127.0.0.1:0", |_| "host-secret\n".into()).port();
    let script = format!(
        r#"echo LINKS=$(ls /sys/class/net | tr '\n' ' ')
echo HOSTLO=$(nc -w 2 127.0.0.1 {port} </dev/null 2>/dev/null || echo unreachable)
/nftprobe"#
    );
    for extra in [&["-U", "pick", "-n"][..], &["-U", "no", "--private-network"][..]] {
        let name = hn_name("iso");
        let out = host.run_sh(&tree, &name, extra, &script);
        out.expect_code(0);
        let ctx = out.describe();
        let links = out.get("LINKS");
        let want = if extra.contains(&"-n") { "host0 lo" } else { "lo" };
        assert_eq!(links.trim(), want, "only the guest's own links\n{ctx}");
        assert_eq!(out.get("HOSTLO"), "unreachable", "{ctx}");
        assert!(!out.stdout.contains("TABLE=hnsecret") && !out.stdout.contains("TABLE=berth"), "{ctx}");
        // Its own namespace is its to change (CAP_NET_ADMIN there).
        assert_eq!(out.get("CREATE"), "0", "{ctx}");
        let tables = host.nft_tables();
        assert!(tables.contains("hnsecret") && !tables.contains("hnguest"), "the host's tables: {tables}\n{ctx}");
        assert_clean(&name, "", &[&tree], None, Duration::from_secs(5));
    }
    let links = host.ip(&["-o", "link"]);
    assert_eq!(links.lines().count(), 3, "lo and the test's own pair only:\n{links}");
}
