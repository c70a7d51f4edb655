//! The `hubauth` CLI run as a child process in an isolated home: its own
//! HOME, depot and XDG config and cache directories, and no inherited
//! environment but PATH, so nothing touches the real ~/.julia, ~/.config or
//! ~/.cache. Every run must end within 30 s: a hung command fails its test
//! instead of waiting for CI's timeout.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hubauth_testkit::{JuliaHubServer, JuliaHubToken};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_hubauth");

/// An isolated home for one test.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home", "depot", "config", "cache"] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        Home { dir }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn depot(&self) -> PathBuf {
        self.dir.path().join("depot")
    }

    /// Where Pkg keeps the token for `s`.
    pub fn auth_toml(&self, s: &JuliaHubServer) -> PathBuf {
        self.depot()
            .join("servers")
            .join(s.server_dir_name())
            .join("auth.toml")
    }

    /// The CLI with `args`, in this home, nothing inherited but PATH.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home())
            .env("JULIA_DEPOT_PATH", self.depot())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"));
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[])
    }

    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        Run::of(cmd, args, stdin)
    }
}

impl Run {
    /// Runs `cmd` (the CLI with `args`, as made by [`Home::command`] and
    /// then adjusted) with `stdin` as its input.
    pub fn of(mut cmd: Command, args: &[&str], stdin: Option<&str>) -> Run {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("starting hubauth");
        {
            let mut input = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).unwrap();
            }
        }
        let output = child.wait_with_output().unwrap();
        Run::new(args, output, started.elapsed())
    }
}

/// One finished run of the CLI.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn new(args: &[&str], output: Output, took: Duration) -> Run {
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        assert!(
            took < Duration::from_secs(30),
            "hubauth {args:?} took {took:?}"
        );
        run
    }

    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Neither output holds any secret of `token`.
    #[track_caller]
    pub fn hides(&self, token: &JuliaHubToken) -> &Run {
        for secret in [&token.id_token, &token.access_token, &token.refresh_token] {
            assert!(
                !self.stderr.contains(secret.as_str()),
                "stderr: {}",
                self.stderr
            );
            assert!(
                !self.stdout.contains(secret.as_str()),
                "stdout: {}",
                self.stdout
            );
        }
        self
    }

    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// The problem lines (`! …`) of a text report.
    pub fn problems(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("! "))
            .collect()
    }
}
