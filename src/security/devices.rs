//! The guest's device policy as a cgroup2 BPF device program, attached to
//! `payload/` before the guest exists: only the standard character nodes,
//! ptys and /dev/net/tun may be created, read or written. It works on pure
//! v2 and on hybrid hosts alike (the kernel runs cgroup2 device programs
//! whatever the v1 devices controller says), and is attached with
//! BPF_F_ALLOW_MULTI so a guest's own programs can only narrow it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One allowed (type, major, minor) triple; `None` is any minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub kind: u32,
    pub major: u32,
    pub minor: Option<u32>,
    pub access: u32,
}

const fn chr(major: u32, minor: Option<u32>) -> Rule {
    Rule { kind: DEV_CHAR, major, minor, access: ACC_ALL }
}

/// null, zero, full, random, urandom, tty, ptmx, the devpts slaves
/// (majors 136-143) and tun.
pub const ALLOWED: &[Rule] = &[
    chr(1, Some(3)),
    chr(1, Some(5)),
    chr(1, Some(7)),
    chr(1, Some(8)),
    chr(1, Some(9)),
    chr(5, Some(0)),
    chr(5, Some(2)),
    chr(10, Some(200)),
    chr(136, None),
    chr(137, None),
    chr(138, None),
    chr(139, None),
    chr(140, None),
    chr(141, None),
    chr(142, None),
    chr(143, None),
];

/// A raw eBPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

// Opcodes (BPF_CLASS | BPF_SIZE/OP | BPF_SRC).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x54; // BPF_ALU | BPF_AND | BPF_K (32-bit)
const ALU_RSH_K: u8 = 0x74; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MOV_X: u8 = 0xbc; // BPF_ALU | BPF_MOV | BPF_X
const ALU_MOV_K: u8 = 0xb4; // BPF_ALU | BPF_MOV | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const EXIT: u8 = 0x95;

/// Compiles the rules: r2 = type, r3 = access, r4 = major, r5 = minor
/// (from struct bpf_cgroup_dev_ctx); each rule falls through to the next
/// on any mismatch and returns 1 (allow) on a match; the end returns 0.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        let mut block = vec![insn(JNE_K, 2, 0, 0, r.kind as i32), insn(JNE_K, 4, 0, 0, r.major as i32)];
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        // Every requested access bit must be allowed: (access & ~allowed) == 0.
        block.push(insn(ALU_MOV_X, 1, 3, 0, 0));
        block.push(insn(ALU_AND_K, 1, 0, 0, !(r.access as i32)));
        block.push(insn(JNE_K, 1, 0, 0, 0));
        block.push(insn(ALU_MOV_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        // Patch the jumps to skip the rest of this block.
        let len = block.len() as i16;
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = len - 1 - i as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU_MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    rest: [u8; 64],
}

#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    rest: [u8; 44],
}

const BPF_PROG_LOAD: i32 = 5;
const BPF_PROG_ATTACH: i32 = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

impl From<&crate::host::property::Device> for Rule {
    fn from(d: &crate::host::property::Device) -> Rule {
        let access = [(d.mknod, ACC_MKNOD), (d.read, ACC_READ), (d.write, ACC_WRITE)]
            .iter()
            .filter(|(on, _)| *on)
            .fold(0, |a, (_, bit)| a | bit);
        Rule { kind: if d.block { DEV_BLOCK } else { DEV_CHAR }, major: d.major, minor: d.minor, access }
    }
}

/// Loads the policy, with `extra` rules from `--property DeviceAllow=`,
/// and attaches it to the cgroup `cgroup` names.
pub fn restrict(cgroup: &impl AsRawFd, extra: &[Rule]) -> io::Result<()> {
    let rules: Vec<Rule> = ALLOWED.iter().chain(extra).copied().collect();
    let insns = program(&rules);
    let license = c"GPL";
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        rest: [0; 64],
    };
    // SAFETY: bpf(2) with a fully initialised attribute block.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &load as *const ProgLoad, std::mem::size_of::<ProgLoad>())
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        replace_bpf_fd: 0,
        rest: [0; 44],
    };
    // SAFETY: as above; the cgroup keeps its own reference to the program.
    let r = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attach as *const ProgAttach, std::mem::size_of::<ProgAttach>())
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset of eBPF `program` emits, so the
    /// policy itself is tested without root.
    fn run(p: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u32 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u32; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[i.off as usize / 4],
                ALU_AND_K => r[dst] &= i.imm as u32,
                ALU_RSH_K => r[dst] >>= i.imm as u32,
                ALU_MOV_X => r[dst] = r[src],
                ALU_MOV_K => r[dst] = i.imm as u32,
                JNE_K => {
                    if r[dst] != i.imm as u32 {
                        pc = (pc as i64 + i.off as i64) as usize;
                    }
                }
                EXIT => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn allows_standard_nodes_and_ptys_only() {
        let p = program(ALLOWED);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1, "null");
        assert_eq!(run(&p, DEV_CHAR, ACC_MKNOD, 1, 9), 1, "mknod urandom");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 136, 42), 1, "a pts slave");
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 10, 200), 1, "tun");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 11), 0, "/dev/kmsg");
        assert_eq!(run(&p, 1, ACC_READ, 8, 0), 0, "a block device");
        assert_eq!(run(&p, 1, ACC_MKNOD, 1, 3), 0, "block 1:3 is not char 1:3");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 10, 237), 0, "loop-control");
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 4, 1), 0, "a host vt");
    }
}
