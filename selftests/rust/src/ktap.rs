// SPDX-License-Identifier: GPL-2.0
//! KTAP output in the form kselftest produces, so that the report and
//! kselftest runners read it like the C tests.

use std::fmt::Write as _;

/// The outcome of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The case passed.
    Pass,
    /// The case failed, with what was expected and what came.
    Fail(String),
    /// The case could not run here, with the reason.
    Skip(String),
}

/// Collects results and renders them as KTAP lines.
#[derive(Debug, Default)]
pub struct Ktap {
    results: Vec<(String, Outcome)>,
}

impl Ktap {
    /// The header: version and plan.
    pub fn header(planned: usize) -> String {
        format!("TAP version 13\n1..{planned}\n")
    }

    /// Records a result and returns its KTAP lines (diagnostics first).
    pub fn record(&mut self, name: &str, outcome: Outcome) -> String {
        let n = self.results.len() + 1;
        let mut out = String::new();
        match &outcome {
            Outcome::Pass => {
                let _ = writeln!(out, "ok {n} {name}");
            }
            Outcome::Fail(why) => {
                for line in why.lines() {
                    let _ = writeln!(out, "# {line}");
                }
                let _ = writeln!(out, "not ok {n} {name}");
            }
            Outcome::Skip(why) => {
                let _ = writeln!(out, "ok {n} {name} # SKIP {why}");
            }
        }
        self.results.push((name.to_string(), outcome));
        out
    }

    /// The closing totals line, as kselftest prints it.
    pub fn totals(&self) -> String {
        let count = |f: fn(&Outcome) -> bool| self.results.iter().filter(|(_, o)| f(o)).count();
        format!(
            "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:{} error:0\n",
            count(|o| *o == Outcome::Pass),
            count(|o| matches!(o, Outcome::Fail(_))),
            count(|o| matches!(o, Outcome::Skip(_))),
        )
    }

    /// The exit code kselftest expects: 0 all passed, 1 a failure, 4 all skipped.
    pub fn exit_code(&self) -> i32 {
        if self
            .results
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Fail(_)))
        {
            1
        } else if !self.results.is_empty()
            && self
                .results
                .iter()
                .all(|(_, o)| matches!(o, Outcome::Skip(_)))
        {
            4
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_totals() {
        let mut k = Ktap::default();
        assert_eq!(Ktap::header(3), "TAP version 13\n1..3\n");
        assert_eq!(k.record("a", Outcome::Pass), "ok 1 a\n");
        assert_eq!(
            k.record("b", Outcome::Fail("expected 1\ngot 2".into())),
            "# expected 1\n# got 2\nnot ok 2 b\n"
        );
        assert_eq!(
            k.record("c", Outcome::Skip("no KVM".into())),
            "ok 3 c # SKIP no KVM\n"
        );
        assert_eq!(
            k.totals(),
            "# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:0\n"
        );
        assert_eq!(k.exit_code(), 1);
    }

    #[test]
    fn exit_codes() {
        let mut k = Ktap::default();
        assert_eq!(k.exit_code(), 0);
        k.record("s", Outcome::Skip(String::new()));
        assert_eq!(k.exit_code(), 4);
        k.record("p", Outcome::Pass);
        assert_eq!(k.exit_code(), 0);
    }
}
