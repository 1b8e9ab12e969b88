//! Command-line options shared by `filterbox up` and every role.
//!
//! `up` forwards its overrides to each role it starts, so a flag given to
//! `up` changes the setting for every role that uses it (the mta's milter
//! address follows `--milter-listen`, every role's manager address follows
//! `--api-socket`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use model::config::SystemConfig;
use model::Endpoint;

use crate::SupervisorError;

/// Options every `filterbox` role and `up` accept.
#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    /// Directory holding system.json, the databases, sockets and keys.
    #[arg(long, env = "FILTERBOX_DATA_DIR", default_value = "filterbox-data")]
    pub data_dir: PathBuf,
    /// Settings that override system.json for this run.
    #[command(flatten)]
    pub overrides: Overrides,
}

/// Settings that override `system.json` without editing it.
#[derive(clap::Args, Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Host name for the SMTP banner, EHLO and Received headers.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Inbound SMTP listener (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub smtp_listen: Option<String>,
    /// Submission listener (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub submission_listen: Option<String>,
    /// Implicit-TLS SMTP listener (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub smtps_listen: Option<String>,
    /// The manager's API/web listener on TCP (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    pub api_listen: Option<String>,
    /// The manager's API unix socket; the other roles reach the manager there.
    #[arg(long, value_name = "PATH")]
    pub api_socket: Option<PathBuf>,
    /// The filter's milter listener (unix:PATH or HOST:PORT); the mta uses it too.
    #[arg(long, value_name = "ENDPOINT")]
    pub milter_listen: Option<Endpoint>,
}

impl Overrides {
    /// Applies the given overrides to `config`.
    pub fn apply(&self, config: &mut SystemConfig) {
        if let Some(h) = &self.hostname {
            config.hostname = h.clone();
        }
        if let Some(l) = &self.smtp_listen {
            config.mta.smtp_listen = l.clone();
        }
        if let Some(l) = &self.submission_listen {
            config.mta.submission_listen = Some(l.clone());
        }
        if let Some(l) = &self.smtps_listen {
            config.mta.smtps_listen = Some(l.clone());
        }
        if let Some(l) = &self.api_listen {
            config.manager.http_listen = Some(l.clone());
        }
        if let Some(s) = &self.api_socket {
            config.manager.api_socket = s.clone();
            config.filter.manager = Endpoint::Unix(s.clone());
            config.mta.manager = Endpoint::Unix(s.clone());
        }
        if let Some(m) = &self.milter_listen {
            config.filter.listen = vec![m.clone()];
            config.mta.milter = Some(m.clone());
        }
    }

    /// The same overrides as command-line arguments, to pass to a child role.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        let mut push = |flag: &str, v: OsString| {
            out.push(flag.into());
            out.push(v);
        };
        if let Some(h) = &self.hostname {
            push("--hostname", h.into());
        }
        if let Some(l) = &self.smtp_listen {
            push("--smtp-listen", l.into());
        }
        if let Some(l) = &self.submission_listen {
            push("--submission-listen", l.into());
        }
        if let Some(l) = &self.smtps_listen {
            push("--smtps-listen", l.into());
        }
        if let Some(l) = &self.api_listen {
            push("--api-listen", l.into());
        }
        if let Some(s) = &self.api_socket {
            push("--api-socket", s.into());
        }
        if let Some(m) = &self.milter_listen {
            push("--milter-listen", m.to_string().into());
        }
        out
    }
}

impl CommonArgs {
    /// Loads `system.json` from the data directory, applies the overrides,
    /// checks the result and anchors relative paths at the data directory.
    pub fn load_config(&self) -> Result<SystemConfig, SupervisorError> {
        let dir = absolute(&self.data_dir)?;
        let mut config = SystemConfig::load(&dir)?;
        self.overrides.apply(&mut config);
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(SupervisorError::Override(problems.join("; ")));
        }
        Ok(config.resolve(&dir))
    }

    /// The data directory as an absolute path (roles may run in another cwd).
    pub fn data_dir(&self) -> Result<PathBuf, SupervisorError> {
        absolute(&self.data_dir)
    }
}

fn absolute(p: &Path) -> Result<PathBuf, SupervisorError> {
    std::path::absolute(p).map_err(|source| SupervisorError::DataDir {
        path: p.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn overrides_round_trip_through_arguments() {
        let o = Overrides {
            hostname: Some("mx.test".into()),
            smtp_listen: Some("127.0.0.1:25".into()),
            submission_listen: Some("127.0.0.1:587".into()),
            smtps_listen: Some("127.0.0.1:465".into()),
            api_listen: Some("127.0.0.1:9".into()),
            api_socket: Some("/run/m.sock".into()),
            milter_listen: Some("unix:/run/f.sock".parse().unwrap()),
        };
        let mut argv: Vec<OsString> = vec!["x".into(), "--data-dir".into(), "/d".into()];
        argv.extend(o.to_args());
        let cli = Cli::try_parse_from(argv).unwrap();
        assert_eq!(cli.common.overrides, o);
    }

    #[test]
    fn dependent_addresses_follow_their_listener() {
        let mut c = SystemConfig::default();
        Overrides {
            milter_listen: Some("127.0.0.1:8891".parse().unwrap()),
            api_socket: Some("/run/m.sock".into()),
            ..Overrides::default()
        }
        .apply(&mut c);
        assert_eq!(c.mta.milter, Some(Endpoint::Tcp("127.0.0.1:8891".into())));
        assert_eq!(
            c.filter.listen,
            vec![Endpoint::Tcp("127.0.0.1:8891".into())]
        );
        assert_eq!(c.mta.manager, Endpoint::Unix("/run/m.sock".into()));
        assert_eq!(c.filter.manager, Endpoint::Unix("/run/m.sock".into()));
    }

    #[test]
    fn bad_override_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        SystemConfig::default().write(dir.path()).unwrap();
        let args = CommonArgs {
            data_dir: dir.path().into(),
            overrides: Overrides {
                smtp_listen: Some("nowhere".into()),
                ..Overrides::default()
            },
        };
        let e = args.load_config().unwrap_err().to_string();
        assert!(e.contains("mta.smtp_listen"), "{e}");
    }
}
