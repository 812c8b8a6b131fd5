//! What the benchmarks share: their one summary — each benchmark, besides its own
//! report, records its headline figures with [`record`], and `scripts/bench.sh`
//! (which runs them all with `TEXTBRIDGE_BENCH_SUMMARY` naming a file) prints them
//! as one table, every figure next to its reference from the same run — a process's
//! memory as Linux reports it ([`memory_kib`]), their flags ([`arg`]) and times in
//! milliseconds ([`ms`]).

use std::io::Write;

/// The variable naming the file the figures are appended to (unset: not recorded).
pub const SUMMARY_VAR: &str = "TEXTBRIDGE_BENCH_SUMMARY";

/// Records one figure of `bench`: what was measured, its value and the reference it
/// is compared with in the same run (both as printed, units included). Nothing is
/// recorded when [`SUMMARY_VAR`] is unset.
pub fn record(bench: &str, what: &str, value: &str, reference: &str) {
    if let Ok(path) = std::env::var(SUMMARY_VAR)
        && let Err(e) = append(std::path::Path::new(&path), [bench, what, value, reference])
    {
        eprintln!("could not record the figure in {path}: {e}");
    }
}

/// The number after the command-line flag `name` (`--runs 20`), or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `d` in milliseconds.
pub fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A memory figure of process `pid` from `/proc/{pid}/status`, in KiB: `field` is
/// e.g. `VmRSS` (resident now) or `VmHWM` (resident at the most). `None` when the
/// process or the field is not there.
pub fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Appends one tab-separated line of `cells` to `path`.
fn append(path: &std::path::Path, cells: [&str; 4]) -> std::io::Result<()> {
    let cells: Vec<String> = cells.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
    let line = format!("{}\n", cells.join("\t"));
    std::fs::OpenOptions::new().create(true).append(true).open(path)?.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_of_this_process() {
        let me = std::process::id();
        let (now, most) = (memory_kib(me, "VmRSS").expect("VmRSS"), memory_kib(me, "VmHWM").expect("VmHWM"));
        assert!(now > 0 && most >= now, "{now} KiB now, {most} KiB at the most");
        assert_eq!(memory_kib(me, "VmNothing"), None);
        assert_eq!(memory_kib(me, "VmRS"), None, "a whole field name only");
    }

    #[test]
    fn figures_are_appended_as_tab_separated_lines() {
        let file = std::env::temp_dir().join(format!("textbridge-bench-{}.tsv", std::process::id()));
        let _ = std::fs::remove_file(&file);
        append(&file, ["intake", "signed webhooks/s", "6,400", "no-op route\t30,000/s"]).expect("append");
        append(&file, ["archiver", "messages/s", "2,570", "-"]).expect("append");
        let text = std::fs::read_to_string(&file).expect("summary");
        let _ = std::fs::remove_file(&file);
        assert_eq!(text, "intake\tsigned webhooks/s\t6,400\tno-op route 30,000/s\narchiver\tmessages/s\t2,570\t-\n");
    }
}
