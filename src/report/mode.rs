//! Which display a run gets: a pure function of the environment, so it is
//! unit-tested instead of guessed at in CI logs.

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressFlag {
    /// A bar on a terminal; plain lines in CI, pipes, `TERM=dumb` or with `NO_COLOR`.
    #[default]
    Auto,
    /// Always the bar.
    Bar,
    /// Plain lines, never a `\r` redraw.
    Plain,
    /// No progress: only failures and the summary.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    Bar,
    Plain,
    None,
}

/// What the environment says about stderr.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub stderr_is_tty: bool,
    /// `CI` set (GitHub Actions, GitLab, Buildkite, CircleCI all set it).
    pub ci: bool,
    pub no_color: bool,
    pub term: Option<String>,
}

impl Env {
    pub fn detect() -> Env {
        use std::io::IsTerminal;
        let term = std::env::var("TERM").ok();
        Env {
            stderr_is_tty: std::io::stderr().is_terminal(),
            ci: std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false"),
            no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
            term,
        }
    }
}

pub fn choose(flag: ProgressFlag, env: &Env) -> Display {
    match flag {
        ProgressFlag::Bar => Display::Bar,
        ProgressFlag::Plain => Display::Plain,
        ProgressFlag::None => Display::None,
        ProgressFlag::Auto => {
            // indicatif hides itself for dumb terminals and NO_COLOR: those get plain lines.
            let dumb = matches!(env.term.as_deref(), None | Some("") | Some("dumb"));
            if env.stderr_is_tty && !env.ci && !env.no_color && !dumb {
                Display::Bar
            } else {
                Display::Plain
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let tty = Env {
            stderr_is_tty: true,
            ci: false,
            no_color: false,
            term: Some("xterm-256color".into()),
        };
        let cases = [
            (ProgressFlag::Auto, tty.clone(), Display::Bar),
            (
                ProgressFlag::Auto,
                Env {
                    stderr_is_tty: false,
                    ..tty.clone()
                },
                Display::Plain,
            ),
            (
                ProgressFlag::Auto,
                Env {
                    ci: true,
                    ..tty.clone()
                },
                Display::Plain,
            ),
            (
                ProgressFlag::Auto,
                Env {
                    no_color: true,
                    ..tty.clone()
                },
                Display::Plain,
            ),
            (
                ProgressFlag::Auto,
                Env {
                    term: Some("dumb".into()),
                    ..tty.clone()
                },
                Display::Plain,
            ),
            (
                ProgressFlag::Auto,
                Env {
                    term: None,
                    ..tty.clone()
                },
                Display::Plain,
            ),
            (
                ProgressFlag::Bar,
                Env {
                    stderr_is_tty: false,
                    ..tty.clone()
                },
                Display::Bar,
            ),
            (ProgressFlag::Plain, tty.clone(), Display::Plain),
            (ProgressFlag::None, tty, Display::None),
        ];
        for (flag, env, want) in cases {
            assert_eq!(choose(flag, &env), want, "{flag:?} {env:?}");
        }
    }
}
