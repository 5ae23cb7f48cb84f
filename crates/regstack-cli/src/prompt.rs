//! Line-by-line prompts for the interactive commands, in the manner of Python's `click`:
//! `Question [default]: ` on stderr, an empty answer takes the default, a refused answer is
//! explained (`Error: …`) and asked again.
//!
//! Answers are read as lines from any [`BufRead`], so piped input works as well as a terminal.
//! End of input takes the default of a question that has one and aborts one that has none.
//! Hidden answers switch the terminal's echo off (through `stty`, so no `unsafe` code) only when
//! the input is a terminal.

use std::io::{self, BufRead, Write as _};

/// The input ended on a question without a default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Aborted;

/// Asks questions on stderr and reads the answers from `input`.
#[derive(Debug)]
pub(crate) struct Prompter<R> {
    input: R,
    /// Whether `input` is the process's stdin attached to a terminal (echo can be turned off).
    terminal: bool,
}

impl Prompter<io::StdinLock<'static>> {
    /// Prompts answered on the process's stdin.
    pub(crate) fn stdin() -> Self {
        use std::io::IsTerminal as _;
        let stdin = io::stdin();
        let terminal = stdin.is_terminal();
        Self {
            input: stdin.lock(),
            terminal,
        }
    }
}

impl<R: BufRead> Prompter<R> {
    /// Prompts answered from `input` (never a terminal).
    #[cfg(test)]
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            terminal: false,
        }
    }

    /// One line without its line ending; `None` at end of input. Ends the prompt's line on
    /// stderr when the terminal did not (piped input, or a hidden answer).
    fn read_line(&mut self, hidden: bool) -> Option<String> {
        let mut line = String::new();
        let read = self.input.read_line(&mut line);
        if hidden || !self.terminal {
            Self::show("\n");
        }
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let trimmed = line.trim_end_matches(['\n', '\r']).len();
                line.truncate(trimmed);
                Some(line)
            }
        }
    }

    fn show(text: &str) {
        let mut err = io::stderr().lock();
        let _ = write!(err, "{text}");
        let _ = err.flush();
    }

    /// Print a refusal, click style.
    fn refuse(reason: &str) {
        eprintln!("Error: {reason}");
    }

    /// A free-text answer; `default` is shown in brackets and taken for an empty line.
    /// `check` turns the answer into the value or explains why it was refused.
    pub(crate) fn ask_with<T>(
        &mut self,
        question: &str,
        default: Option<&str>,
        mut check: impl FnMut(&str) -> Result<T, String>,
    ) -> Result<T, Aborted> {
        loop {
            match default {
                Some(d) if !d.is_empty() => Self::show(&format!("{question} [{d}]: ")),
                _ => Self::show(&format!("{question}: ")),
            }
            let answer = match self.read_line(false) {
                Some(line) => line.trim().to_owned(),
                None => match default {
                    Some(d) => return check(d).map_err(|_| Aborted),
                    None => return Err(Aborted),
                },
            };
            let answer = match (answer.is_empty(), default) {
                (true, Some(d)) => d.to_owned(),
                (true, None) => continue,
                (false, _) => answer,
            };
            match check(&answer) {
                Ok(v) => return Ok(v),
                Err(reason) => Self::refuse(&reason),
            }
        }
    }

    /// A free-text answer.
    pub(crate) fn ask(&mut self, question: &str, default: Option<&str>) -> Result<String, Aborted> {
        self.ask_with(question, default, |s| Ok(s.to_owned()))
    }

    /// A yes/no answer (`y`, `yes`, `n`, `no`, `true`, `false`, `1`, `0`, any case).
    pub(crate) fn confirm(&mut self, question: &str, default: bool) -> Result<bool, Aborted> {
        let hint = if default { "Y/n" } else { "y/N" };
        loop {
            Self::show(&format!("{question} [{hint}]: "));
            let Some(answer) = self.read_line(false) else {
                return Ok(default);
            };
            match answer.trim().to_ascii_lowercase().as_str() {
                "" => return Ok(default),
                "y" | "yes" | "true" | "1" => return Ok(true),
                "n" | "no" | "false" | "0" => return Ok(false),
                _ => Self::refuse("invalid input"),
            }
        }
    }

    /// One of `choices` (case-insensitive).
    pub(crate) fn choice(
        &mut self,
        question: &str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, Aborted> {
        let question = format!("{question} ({})", choices.join(", "));
        self.ask_with(&question, Some(default), |answer| {
            choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(answer))
                .copied()
                .ok_or_else(|| {
                    let quoted: Vec<String> = choices.iter().map(|c| format!("'{c}'")).collect();
                    format!("'{answer}' is not one of {}.", quoted.join(", "))
                })
        })
    }

    /// An integer in `min..=max`.
    pub(crate) fn integer(
        &mut self,
        question: &str,
        default: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, Aborted> {
        self.ask_with(question, Some(&default.to_string()), |answer| {
            let n: i64 = answer
                .parse()
                .map_err(|_| format!("'{answer}' is not a valid integer."))?;
            if (min..=max).contains(&n) {
                Ok(n)
            } else {
                Err(format!("{n} is not in the range {min}<=x<={max}."))
            }
        })
    }

    /// A hidden answer (no echo on a terminal). An empty line takes `default` when there is
    /// one, else asks again. With `repeat`, the answer is asked a second time and both must
    /// match.
    pub(crate) fn hidden(
        &mut self,
        question: &str,
        repeat: Option<&str>,
        default: Option<&str>,
    ) -> Result<String, Aborted> {
        loop {
            let first = self.hidden_once(question, default)?;
            if first.is_empty() {
                if let Some(d) = default {
                    return Ok(d.to_owned());
                }
                continue;
            }
            let Some(again) = repeat else {
                return Ok(first);
            };
            let second = self.hidden_once(again, None)?;
            if first == second {
                return Ok(first);
            }
            Self::refuse("The two entered values do not match.");
        }
    }

    fn hidden_once(&mut self, question: &str, default: Option<&str>) -> Result<String, Aborted> {
        Self::show(&format!("{question}: "));
        let echo_off = self.terminal.then(EchoOff::new);
        let line = self.read_line(true);
        drop(echo_off);
        match line {
            Some(l) => Ok(l),
            None => default.map(str::to_owned).ok_or(Aborted),
        }
    }
}

/// Terminal echo switched off while it lives (best effort: without `stty` the answer echoes).
#[derive(Debug)]
struct EchoOff {
    active: bool,
}

impl EchoOff {
    fn new() -> Self {
        Self {
            active: stty("-echo"),
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if self.active {
            stty("echo");
        }
    }
}

/// Run `stty <arg>` on the terminal that is our stdin.
fn stty(arg: &str) -> bool {
    if !cfg!(unix) {
        return false;
    }
    std::process::Command::new("stty")
        .arg(arg)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompter(input: &str) -> Prompter<&[u8]> {
        Prompter::new(input.as_bytes())
    }

    #[test]
    fn empty_lines_and_end_of_input_take_defaults() {
        let mut p = prompter("\nanswer\n");
        assert_eq!(p.ask("A", Some("d")).unwrap(), "d");
        assert_eq!(p.ask("B", Some("d")).unwrap(), "answer");
        assert_eq!(p.ask("C", Some("d")).unwrap(), "d");
        assert_eq!(p.ask("D", None), Err(Aborted));
    }

    #[test]
    fn refused_answers_are_asked_again() {
        let mut p = prompter("maybe\nYES\nmysql\nMongo\nabc\n5\n60\n");
        assert!(p.confirm("Q", false).unwrap());
        assert_eq!(
            p.choice("Db", &["sqlite", "postgres", "mongo"], "sqlite")
                .unwrap(),
            "mongo"
        );
        assert_eq!(p.integer("N", 7200, 60, 100).unwrap(), 60);
        assert!(!p.confirm("Q", false).unwrap());
    }

    #[test]
    fn hidden_answers_must_match_when_repeated() {
        let mut p = prompter("one\ntwo\nsecret\nsecret\n");
        assert_eq!(
            p.hidden("Password", Some("Repeat password"), None).unwrap(),
            "secret"
        );
        let mut p = prompter("only\n");
        assert_eq!(
            p.hidden("Password", Some("Repeat password"), None),
            Err(Aborted)
        );
        let mut p = prompter("\n");
        assert_eq!(p.hidden("Pw", None, Some("")).unwrap(), "");
    }
}
