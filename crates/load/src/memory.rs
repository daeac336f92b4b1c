//! The server's resident memory: `VmRSS` of `/proc/<pid>/status` when the pid is known
//! (same machine), otherwise the `process_resident_memory_bytes` gauge of `/metrics`.

/// `VmRSS` in bytes from the text of a `/proc/<pid>/status` file.
#[must_use]
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The value of an unlabelled gauge `name` in a Prometheus text exposition.
#[must_use]
pub fn parse_gauge(exposition: &str, name: &str) -> Option<f64> {
    exposition.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (metric, value) = line.split_once(' ')?;
        (metric == name).then(|| value.trim().parse().ok()).flatten()
    })
}

/// Where the server's memory is read from.
#[derive(Clone, Debug)]
pub enum MemorySource {
    Pid(u32),
    Metrics { base_url: String },
}

impl MemorySource {
    /// A short description for the report.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            MemorySource::Pid(pid) => format!("/proc/{pid}/status VmRSS"),
            MemorySource::Metrics { .. } => "/metrics process_resident_memory_bytes".to_owned(),
        }
    }

    /// The resident set size now, if it can be read.
    pub async fn read(&self, http: &reqwest::Client) -> Option<u64> {
        match self {
            MemorySource::Pid(pid) => {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                parse_vm_rss(&status)
            }
            MemorySource::Metrics { base_url } => {
                let text = http.get(format!("{base_url}/metrics")).send().await.ok()?.text().await.ok()?;
                parse_gauge(&text, "process_resident_memory_bytes").map(|bytes| bytes as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tswitchboard\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(12345 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }

    #[test]
    fn a_gauge_is_found_by_its_exact_name() {
        let text = "# HELP process_resident_memory_bytes x\nprocess_resident_memory_bytes_total 5\nprocess_resident_memory_bytes 1.5e6\n";
        assert_eq!(parse_gauge(text, "process_resident_memory_bytes"), Some(1_500_000.0));
        assert_eq!(parse_gauge(text, "missing"), None);
    }
}
