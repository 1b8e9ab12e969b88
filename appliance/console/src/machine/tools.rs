//! Menu entries 3 and 4: ping a host, and talk SMTP to a mail server.

use std::net::IpAddr;

use super::{unexpected, Action, Flow, Out, Outcome, Screen};

/// The default SMTP port.
const SMTP_PORT: u16 = 25;

/// Ping: asks a host, then runs `ping`.
#[derive(Debug)]
pub(super) struct Ping;

impl Screen for Ping {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.ask(
            "Host to ping, name or IP address (empty: back to the menu): ",
            true,
        );
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match line.trim() {
            "" => Flow::Menu,
            host => match valid_host(host) {
                Ok(host) => {
                    out.say(&format!("Pinging {host}..."));
                    out.perform(Action::Ping(host));
                    Flow::Stay
                }
                Err(problem) => {
                    out.say(&problem);
                    self.start(out)
                }
            },
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match outcome {
            Outcome::Ping { output, answered } => {
                out.text.push_str(&output);
                if !output.is_empty() && !output.ends_with('\n') {
                    out.say("");
                }
                out.say(if answered {
                    "The host answered."
                } else {
                    "No answer."
                });
                Flow::Menu
            }
            other => unexpected("Cannot ping", &other, out),
        }
    }
}

/// SMTP test: asks HOST[:PORT], then connects, EHLO, QUIT.
#[derive(Debug)]
pub(super) struct SmtpTest;

impl Screen for SmtpTest {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.ask(
            "Mail server, HOST or HOST:PORT (port 25 if omitted; empty: back to the menu): ",
            true,
        );
        Flow::Stay
    }

    fn line(&mut self, line: &str, out: &mut Out) -> Flow {
        match line.trim() {
            "" => Flow::Menu,
            target => match host_port(target) {
                Ok((host, port)) => {
                    out.perform(Action::SmtpTest { host, port });
                    Flow::Stay
                }
                Err(problem) => {
                    out.say(&problem);
                    self.start(out)
                }
            },
        }
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        match outcome {
            Outcome::Transcript(t) => {
                out.text.push_str(&t);
                Flow::Menu
            }
            other => unexpected("SMTP test failed", &other, out),
        }
    }
}

/// An IP address or a host name (so nothing that looks like an option
/// reaches `ping`); the normal form, or what is wrong.
pub(crate) fn valid_host(host: &str) -> Result<String, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let bad = || format!("{host:?} is neither an IP address nor a host name.");
    let name = model::address::normalize_domain(host).map_err(|_| bad())?;
    // A numeric last label is a mistyped address, not a name (RFC 3696).
    match name.rsplit('.').next() {
        Some(tld) if tld.bytes().all(|b| b.is_ascii_digit()) => Err(bad()),
        _ => Ok(name),
    }
}

/// Splits `HOST`, `HOST:PORT`, `[IPv6]:PORT` or a bare IPv6 address.
fn host_port(target: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{target:?}: missing ']'."))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("{target:?}: expected :PORT after ']'."))?,
                ),
            ),
        }
    } else if target.matches(':').count() == 1 {
        let (h, p) = target.split_once(':').unwrap_or((target, ""));
        (h, Some(p))
    } else {
        (target, None)
    };
    let port = match port {
        None => SMTP_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("Port {p:?} must be a number from 1 to 65535."))?,
    };
    Ok((valid_host(host)?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(
            host_port("mx.example.test").unwrap(),
            ("mx.example.test".into(), 25)
        );
        assert_eq!(
            host_port("192.0.2.1:2525").unwrap(),
            ("192.0.2.1".into(), 2525)
        );
        assert_eq!(
            host_port("[2001:db8::1]:587").unwrap(),
            ("2001:db8::1".into(), 587)
        );
        assert_eq!(
            host_port("2001:db8::1").unwrap(),
            ("2001:db8::1".into(), 25)
        );
        assert!(host_port("mx:0").unwrap_err().contains("1 to 65535"));
        assert!(host_port("mx:smtp").is_err());
        assert!(host_port("[2001:db8::1").is_err());
        assert!(host_port("-oProxyCommand=x")
            .unwrap_err()
            .contains("neither"));
        assert!(valid_host("-c").is_err());
        assert!(valid_host("a b").is_err());
        assert_eq!(valid_host("MX.Example.Test.").unwrap(), "mx.example.test");
    }
}
