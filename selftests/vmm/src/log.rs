// SPDX-License-Identifier: GPL-2.0
//! Every line of the VMM carries the time since it started, in ms.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();

/// Starts the clock (the first call wins).
pub fn start() {
    START.get_or_init(Instant::now);
}

/// Milliseconds since `start()`.
pub fn now_ms() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// One log line: `[   123.456 ms] TAG   message`.
pub fn format_line(ms: f64, tag: &str, msg: &str) -> String {
    format!("[{ms:10.3} ms] {tag:<5} {msg}")
}

/// Prints one line to stdout, whole.
pub fn line(tag: &str, msg: &str) {
    use std::io::Write;
    let s = format_line(now_ms(), tag, msg);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

/// `vlog!("VMM", "x = {}", x)`.
#[macro_export]
macro_rules! vlog {
    ($tag:expr, $($arg:tt)*) => {
        $crate::log::line($tag, &format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn format() {
        assert_eq!(
            super::format_line(12345.6789, "VMM", "hello"),
            "[ 12345.679 ms] VMM   hello"
        );
    }
}
