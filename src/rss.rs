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
    fn this_process_is_resident() {
        let rss = current().expect("linux has /proc/self/status");
        assert!(rss.now > 0 && rss.peak >= rss.now);
    }
}
