//! This process's resident memory as the kernel counts it (`VmRSS`, and its peak `VmHWM`, from
//! `/proc/self/status`: the figure GNU `time -f %M` reports), for `--timings` and the memory
//! benchmark. Pages of a mapped file count too. `None` where the kernel does not say (not Linux).

/// Resident memory now and at its peak so far, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rss {
    /// `VmRSS`.
    pub now: u64,
    /// `VmHWM`: the peak since the process started.
    pub peak: u64,
}

/// This process's [`Rss`], or `None` when `/proc/self/status` cannot be read.
pub fn current() -> Option<Rss> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse(&status)
}

fn parse(status: &str) -> Option<Rss> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Rss {
        now: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Turns transparent huge pages off for this process (`prctl(PR_SET_THP_DISABLE)`; nothing
/// where the kernel has no such switch). The allocator asks for huge pages, and a machine
/// whose memory is fragmented (a page cache full of the snapshot just written) then compacts
/// memory on each fault: loading the 1M-asset store took 3.5–5.4 s of system time with them
/// and 1.4–2.2 s without (user time the same; at 100k assets the difference is 0.06 s).
pub fn without_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and touches no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// `bytes` in MB with one decimal (`1234.5 MB`), as the timings print it.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kernels_fields() {
        let status = "Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n";
        assert_eq!(
            parse(status),
            Some(Rss {
                now: 1024 * 1024,
                peak: 2048 * 1024
            })
        );
        assert_eq!(parse("Name:\tx\n"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn huge_pages_go_off() {
        without_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE takes no pointer.
        let state = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(state, 1);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_resident() {
        let rss = current().expect("linux has /proc/self/status");
        assert!(rss.now > 0 && rss.peak >= rss.now);
    }
}
