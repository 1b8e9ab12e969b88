//! Which API endpoint and token to use, from the options and the data directory.

use std::path::Path;

use anyhow::Context;
use model::client::ApiClient;
use model::config::{SystemConfig, API_TOKEN_FILE, SYSTEM_JSON};
use model::Endpoint;

use crate::CtlArgs;

/// A client for the endpoint the options (or the data directory) name.
pub fn client(args: &CtlArgs) -> anyhow::Result<ApiClient> {
    let endpoint = match &args.api {
        Some(e) => e.clone(),
        None => default_endpoint(&args.data_dir)?,
    };
    let token = match (&args.token, &endpoint) {
        (Some(t), _) => Some(t.clone()),
        (None, Endpoint::Tcp(_)) => Some(read_token(&args.data_dir, &endpoint)?),
        (None, Endpoint::Unix(_)) => None,
    };
    Ok(ApiClient::new(endpoint).with_token(token))
}

/// The manager's socket as `DIR/system.json` names it, else `DIR/manager.sock`.
fn default_endpoint(dir: &Path) -> anyhow::Result<Endpoint> {
    if !dir.join(SYSTEM_JSON).exists() {
        return Ok(Endpoint::Unix(dir.join("manager.sock")));
    }
    let config = SystemConfig::load(dir)
        .context("finding the API socket (or pass --api)")?
        .resolve(dir);
    Ok(Endpoint::Unix(config.manager.api_socket))
}

fn read_token(dir: &Path, endpoint: &Endpoint) -> anyhow::Result<String> {
    let path = dir.join(API_TOKEN_FILE);
    let token = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "the API at {endpoint} needs a token: pass --token, or --data-dir with a readable {}",
            path.display()
        )
    })?;
    Ok(token.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Command, DomainCommand};
    use std::path::PathBuf;

    fn args(dir: &Path, api: Option<&str>, token: Option<&str>) -> CtlArgs {
        CtlArgs {
            data_dir: dir.to_path_buf(),
            api: api.map(|a| a.parse().unwrap()),
            token: token.map(Into::into),
            json: false,
            command: Command::Domain(DomainCommand::List),
        }
    }

    #[test]
    fn endpoint_from_options_config_or_default() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let unix = |p: PathBuf| Endpoint::Unix(p);
        assert_eq!(
            client(&args(d, None, None)).unwrap().endpoint(),
            &unix(d.join("manager.sock"))
        );
        let mut config = SystemConfig::default();
        config.manager.api_socket = "run/api.sock".into();
        config.write(d).unwrap();
        assert_eq!(
            client(&args(d, None, None)).unwrap().endpoint(),
            &unix(d.join("run/api.sock"))
        );
        let c = client(&args(d, Some("unix:/x.sock"), None)).unwrap();
        assert_eq!(c.endpoint(), &unix("/x.sock".into()));
        std::fs::write(d.join(SYSTEM_JSON), "{\"bogus\": 1}").unwrap();
        let e = format!("{:#}", client(&args(d, None, None)).unwrap_err());
        assert!(e.contains("bogus") && e.contains("--api"), "{e}");
    }

    #[test]
    fn tcp_needs_a_token_from_the_option_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let e = format!(
            "{:#}",
            client(&args(d, Some("127.0.0.1:1"), None)).unwrap_err()
        );
        assert!(
            e.contains("needs a token") && e.contains("api-token"),
            "{e}"
        );
        assert!(client(&args(d, Some("127.0.0.1:1"), Some("t"))).is_ok());
        std::fs::write(d.join(API_TOKEN_FILE), "abc\n").unwrap();
        assert!(client(&args(d, Some("127.0.0.1:1"), None)).is_ok());
    }
}
