//! The spec's seccomp profile compiled with libseccomp: default action,
//! architectures, syscalls with argument comparisons and errno values,
//! filter flags. Names this libseccomp does not know are skipped, as
//! runc does (a profile lists calls newer than the library).

use super::{OciError, Result};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterAttr, ScmpFilterContext, ScmpSyscall};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator};

fn err(what: String) -> impl FnOnce(libseccomp::error::SeccompError) -> OciError {
    move |e| OciError::Setup(format!("linux.seccomp: {what}: {e}"))
}

/// An OCI action as libseccomp's. Pure.
pub fn action(a: LinuxSeccompAction, errno: Option<u32>, default_errno: u32) -> Result<ScmpAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno.unwrap_or(default_errno) as i32),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno.unwrap_or(default_errno) as u16),
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(OciError::unsupported(
                "linux.seccomp",
                "SCMP_ACT_NOTIFY needs a listener, which berth does not support",
            ))
        }
    })
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
    }
}

fn compare(index: usize, op: LinuxSeccompOperator, value: u64, two: Option<u64>) -> ScmpArgCompare {
    let op = match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    };
    let datum = if matches!(op, ScmpCompareOp::MaskedEqual(_)) { two.unwrap_or(0) } else { value };
    ScmpArgCompare::new(index as u32, op, datum)
}

/// Builds the filter (not loaded).
pub fn build(s: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default_errno = s.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(s.default_action(), s.default_errno_ret(), default_errno)?;
    let mut ctx = ScmpFilterContext::new(default).map_err(err("allocating the filter".into()))?;
    ctx.set_ctl_nnp(false).map_err(err("CTL_NNP".into()))?;
    for a in s.architectures().iter().flatten() {
        let a = arch(*a);
        if a != ScmpArch::native() {
            ctx.add_arch(a).map_err(err(format!("architecture {a:?}")))?;
        }
    }
    for f in s.flags().iter().flatten() {
        match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => ctx.set_ctl_tsync(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => ctx.set_ctl_log(true),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => ctx.set_filter_attr(ScmpFilterAttr::CtlSsb, 1),
        }
        .map_err(err(format!("flag {f:?}")))?;
    }
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret(), libc::EPERM as u32)?;
        if act == default {
            continue;
        }
        let cmps: Vec<ScmpArgCompare> =
            rule.args().iter().flatten().map(|a| compare(a.index(), a.op(), a.value(), a.value_two())).collect();
        for name in rule.names() {
            let Ok(sc) = ScmpSyscall::from_name(name) else { continue };
            let r = if cmps.is_empty() { ctx.add_rule(act, sc) } else { ctx.add_rule_conditional(act, sc, &cmps) };
            r.map_err(err(format!("rule for {name}")))?;
        }
    }
    Ok(ctx)
}

/// Loads a built filter on the calling thread.
pub fn load(ctx: &mut ScmpFilterContext) -> Result<()> {
    ctx.load().map_err(err("loading the filter".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_like_profile_builds() {
        let s: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "no_such_call_xyz"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
            ]
        }))
        .unwrap();
        build(&s).unwrap();
    }

    #[test]
    fn notify_is_refused() {
        assert!(action(LinuxSeccompAction::ScmpActNotify, None, 1).is_err());
        assert_eq!(action(LinuxSeccompAction::ScmpActErrno, None, 38).unwrap(), ScmpAction::Errno(38));
    }
}
