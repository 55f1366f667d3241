//! One machine's numbers, read when a file is rendered, and the files
//! rendered from them. What cannot be computed on this host falls back to
//! the host's file, said once in berth's log; a read never fails.

use crate::views::render::{self, cpulist, loadavg::Load, meminfo::Memory};
use crate::views::{cgroup1, cgroup2, File};
use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::Instant;

/// Where the machine's numbers are.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    /// The guest's cgroup2 directory (`payload/`) and the hierarchy's root.
    pub payload: PathBuf,
    pub hierarchy: PathBuf,
    /// The guest's PID 1 on the host.
    pub leader: i32,
}

pub struct Machine {
    spec: Spec,
    v1: cgroup1::Groups,
    /// When the guest's PID 1 started, in clock ticks after the host's boot.
    start_ticks: u64,
    hz: u64,
    load: Load,
    sampled: Instant,
    warned: HashSet<&'static str>,
}

fn host(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// Field 22 of /proc/PID/stat (after the command's closing parenthesis).
fn start_ticks(stat: &str) -> Option<u64> {
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// The state letter of /proc/PID/stat.
fn state(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

impl Machine {
    pub fn new(spec: Spec) -> Machine {
        let leader = host(&format!("/proc/{}/cgroup", spec.leader));
        let v1 = cgroup1::resolve(&leader, &host("/proc/self/cgroup"), crate::host::cgroupv1::mountpoint);
        // SAFETY: plain sysconf.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        let start_ticks = start_ticks(&host(&format!("/proc/{}/stat", spec.leader))).unwrap_or(0);
        Machine { spec, v1, start_ticks, hz, load: Load::default(), sampled: Instant::now(), warned: HashSet::new() }
    }

    fn fallback(&mut self, what: &'static str, file: File) {
        if self.warned.insert(what) {
            tracing::info!(
                "views of {}: the machine's {what} cannot be read on this host; its {} shows the host's values",
                self.spec.name,
                file.path()
            );
        }
    }

    fn memory(&self, host_meminfo: &str) -> Option<Memory> {
        let mut m = cgroup2::memory(&self.spec.payload, &self.spec.hierarchy)
            .or_else(|| self.v1.memory.as_ref().and_then(cgroup1::memory))?;
        if let Some(s) = &mut m.swap {
            let host_swap = render::field(host_meminfo, "SwapTotal:", 1).unwrap_or(0) * 1024;
            s.total = s.total.min(host_swap);
        }
        Some(m)
    }

    /// The CPUs the machine shows.
    pub fn cpus(&self) -> Vec<u32> {
        let online = cpulist::parse(&host(File::CpuOnline.path())).unwrap_or_default();
        let cpuset = cgroup2::cpuset(&self.spec.payload).or_else(|| self.v1.cpuset.as_ref().and_then(cgroup1::cpuset));
        let quota = cgroup2::quota(&self.spec.payload, &self.spec.hierarchy)
            .flatten()
            .or_else(|| self.v1.cpu.as_ref().and_then(cgroup1::quota).flatten());
        cpulist::visible(&online, cpuset.as_deref(), quota)
    }

    fn cpu_time(&self) -> Option<render::stat::CpuTime> {
        cgroup2::cpu_time(&self.spec.payload, self.hz).or_else(|| self.v1.cpuacct.as_ref().and_then(cgroup1::cpu_time))
    }

    fn uptime(&self) -> Option<f64> {
        render::uptime::machine_uptime(&host("/proc/uptime"), self.start_ticks, self.hz)
    }

    /// (running, blocked, all) of the machine's threads.
    fn tasks(&self) -> (u64, u64, u64) {
        let tids = cgroup2::tasks(&self.spec.payload);
        let mut counts = (0, 0, tids.len() as u64);
        for t in tids {
            match state(&host(&format!("/proc/{t}/stat"))) {
                Some('R') => counts.0 += 1,
                Some('D') => counts.1 += 1,
                _ => {}
            }
        }
        counts
    }

    /// Folds the machine's active tasks into its load averages.
    pub fn sample(&mut self) {
        let (r, b, _) = self.tasks();
        let secs = self.sampled.elapsed().as_secs_f64();
        self.sampled = Instant::now();
        self.load.sample(r + b, secs);
    }

    /// The file as the guest sees it now.
    pub fn render(&mut self, file: File) -> Vec<u8> {
        let text = host(file.path());
        let out = match file {
            File::Meminfo => match self.memory(&text) {
                Some(m) => render::meminfo::render(&text, &m),
                None => {
                    self.fallback("memory cgroup", file);
                    text
                }
            },
            File::Swaps => match self.memory(&host("/proc/meminfo")).and_then(|m| m.swap) {
                Some(s) => render::swaps::render(&text, s),
                None => {
                    self.fallback("swap limit", file);
                    text
                }
            },
            File::Cpuinfo => render::cpuinfo::render(&text, &self.cpus()),
            File::CpuOnline => cpulist::render(&self.cpus()),
            File::Stat => self.stat(&text),
            File::Uptime => match self.uptime() {
                Some(up) => {
                    let busy = self.cpu_time().map(|t| (t.user + t.system) as f64 / self.hz as f64);
                    render::uptime::render(up, self.cpus().len(), busy)
                }
                None => {
                    self.fallback("start time", file);
                    text
                }
            },
            File::Loadavg => {
                let (r, _, all) = self.tasks();
                render::loadavg::render(&text, &self.load, r, all)
            }
            File::Diskstats => {
                let io = cgroup2::io(&self.spec.payload).or_else(|| self.v1.blkio.as_ref().and_then(cgroup1::io));
                match io {
                    Some(io) => render::diskstats::render(&text, &io),
                    None => {
                        self.fallback("I/O statistics", file);
                        text
                    }
                }
            }
        };
        out.into_bytes()
    }

    fn stat(&mut self, text: &str) -> String {
        let cpus = self.cpus();
        let time = self.cpu_time();
        if time.is_none() {
            self.fallback("CPU time", File::Stat);
        }
        let up = self.uptime().unwrap_or(0.0);
        let host_btime = render::field(text, "btime", 1).unwrap_or(0);
        let (r, b, _) = self.tasks();
        let inputs = render::stat::Inputs {
            cpus: &cpus,
            time,
            uptime_ticks: (up * self.hz as f64) as u64,
            btime: host_btime + self.start_ticks / self.hz,
            tasks: Some((r, b)),
        };
        render::stat::render(text, &inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_start_time_and_state_past_odd_command_names() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 1000 10\n";
        assert_eq!(start_ticks(stat), Some(98765));
        assert_eq!(state(stat), Some('S'));
        assert_eq!(state("7 (x) R 1"), Some('R'));
        assert_eq!(start_ticks("garbage"), None);
    }
}
