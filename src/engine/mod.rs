//! THE RUNBOOK. No tokio, no ratatui, no I/O: what the failover decides, as data.

pub mod alerts;
pub mod checklist;
pub mod duty_window;
pub mod gate;
pub mod ids;
pub mod incident;
pub mod journal;
pub mod machine;
pub mod preflight;
pub mod steps;
pub mod switch_time;

#[cfg(test)]
mod tests {
    /// The runbook imports nothing that does I/O or reads the time: no hosts, no
    /// probes, no driver, no tokio, no wall clock. What it knows comes in with events.
    #[test]
    fn the_engine_imports_no_world() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/engine");
        let mut files = vec![std::path::PathBuf::from(dir)];
        let mut seen = 0;
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            seen += 1;
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                // Spelt in two halves, so that this test does not find itself.
                for banned in [
                    concat!("crate::", "hosts"),
                    concat!("crate::", "probes"),
                    concat!("crate::", "driver"),
                    concat!("tok", "io"),
                    concat!("unix_", "now"),
                    concat!("System", "Time"),
                    concat!("Instant::", "now"),
                ] {
                    assert!(
                        !code.contains(banned),
                        "{}:{}: the engine uses {banned}: {line}",
                        p.display(),
                        n + 1
                    );
                }
            }
        }
        assert!(seen >= 8, "read the engine's files ({seen})");
    }
}
