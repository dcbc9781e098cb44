// SPDX-License-Identifier: GPL-2.0
//! The guest's console output, cut into lines for the VMM's log.

use std::io::{Result, Write};

/// A `Write` that hands each complete line (without `\r\n`) to `F`.
pub struct LineOut<F: FnMut(&str)> {
    buf: Vec<u8>,
    on_line: F,
}

/// Longest line kept whole; a longer one is cut.
const MAX_LINE: usize = 4096;

impl<F: FnMut(&str)> LineOut<F> {
    /// Calls `on_line` for every line written.
    pub fn new(on_line: F) -> Self {
        LineOut {
            buf: Vec::new(),
            on_line,
        }
    }

    fn emit(&mut self) {
        let s = String::from_utf8_lossy(&self.buf);
        let s = s.trim_end_matches('\r');
        (self.on_line)(s);
        self.buf.clear();
    }

    /// Emits what is left without a newline.
    pub fn flush_partial(&mut self) {
        if !self.buf.is_empty() {
            self.emit();
        }
    }
}

impl<F: FnMut(&str)> Write for LineOut<F> {
    fn write(&mut self, data: &[u8]) -> Result<usize> {
        for &b in data {
            if b == b'\n' {
                self.emit();
            } else {
                self.buf.push(b);
                if self.buf.len() >= MAX_LINE {
                    self.emit();
                }
            }
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let mut got = Vec::new();
        {
            let mut w = LineOut::new(|l: &str| got.push(l.to_string()));
            for b in b"hello\r\nwor" {
                w.write_all(&[*b]).unwrap();
            }
            w.write_all(b"ld\n\nlast").unwrap();
            w.flush_partial();
        }
        assert_eq!(got, ["hello", "world", "", "last"]);
    }
}
