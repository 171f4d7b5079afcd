//! CPU time this process has used so far, all threads, user and system (`utime` + `stime` of
//! `/proc/self/stat`): what `--timings` sets beside each phase's wall time, so that a phase
//! that leaves a core idle (wall time above CPU time / cores) shows. `None` where the kernel
//! does not say (not Linux).

/// Seconds of CPU time (user + system) this process has used so far.
pub fn used() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = parse(&stat)?;
    Some(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// `utime + stime` in clock ticks from a `/proc/<pid>/stat` line: fields 14 and 15, counted
/// after the command name (which is in parentheses and may hold spaces).
fn parse(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_after_the_command_name() {
        let stat = "4242 (a (b) c) R 1 2 3 4 5 6 7 8 9 10 1200 34 0 0 20 0 3 0 99 1000 50";
        assert_eq!(parse(stat), Some(1234));
        assert_eq!(parse("4242 (x) R 1 2"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn the_time_used_grows_with_work() {
        let before = used().expect("linux has /proc/self/stat");
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(120) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let after = used().expect("again");
        assert!(after >= before + 0.05, "{before} → {after}");
    }
}
