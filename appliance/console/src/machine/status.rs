//! Menu entry 1: the box at a glance (from the supervisor) and the mail
//! counters (from the manager).

use model::api::{Counters, MailStats};
use model::control::{ControlRequest, ControlResponse, InterfaceStatus, SystemStatus};

use super::{unexpected, Action, ApiCall, Flow, Out, Outcome, Screen};

/// The status screen: asks the supervisor, then the manager.
#[derive(Debug, Default)]
pub(super) struct Status {
    asked_stats: bool,
}

impl Screen for Status {
    fn start(&mut self, out: &mut Out) -> Flow {
        out.perform(Action::Control(ControlRequest::Status));
        Flow::Stay
    }

    fn line(&mut self, _line: &str, _out: &mut Out) -> Flow {
        Flow::Stay
    }

    fn done(&mut self, outcome: Outcome, out: &mut Out) -> Flow {
        if self.asked_stats {
            return match outcome {
                Outcome::Stats(stats) => {
                    out.text.push_str(&render_stats(&stats));
                    Flow::Menu
                }
                other => unexpected("Mail counters unavailable", &other, out),
            };
        }
        match outcome {
            Outcome::Control(ControlResponse::Status(s)) => out.text.push_str(&render_status(&s)),
            other => {
                unexpected("Cannot get the status from the supervisor", &other, out);
            }
        }
        // The counters are worth showing even when the supervisor is silent.
        self.asked_stats = true;
        out.perform(Action::Api(ApiCall::Stats));
        Flow::Stay
    }
}

/// Supervisor's view: version, slot, host, uptime, interfaces, processes.
pub(super) fn render_status(s: &SystemStatus) -> String {
    let slot = s
        .boot_slot
        .as_deref()
        .unwrap_or("none (not booted from a firmware slot)");
    let mut t = format!(
        "Version    {}\nBoot slot  {slot}\nHost name  {}\nUptime     {}\n",
        s.version,
        s.hostname,
        uptime(s.uptime_secs)
    );
    t.push_str("Interfaces\n");
    t.push_str(&render_interfaces(&s.interfaces));
    t.push_str("Processes\n");
    if s.processes.is_empty() {
        t.push_str("  (none)\n");
    }
    for p in &s.processes {
        let pid = p.pid.map_or_else(|| "-".to_string(), |p| p.to_string());
        let mark = if p.state == "crash-loop" { "!!" } else { "  " };
        t.push_str(&format!(
            "{mark}{:<12} {:<11} pid {pid:<8} restarts {}\n",
            p.name, p.state, p.restarts
        ));
    }
    for p in s.processes.iter().filter(|p| p.state == "crash-loop") {
        t.push_str(&format!(
            "!! CRASH LOOP: {} keeps dying right after it starts; see its log.\n",
            p.name
        ));
    }
    if !s.processes.is_empty() && s.processes.iter().all(|p| p.state == "healthy") {
        t.push_str("All processes healthy.\n");
    }
    t
}

/// One line per interface: name, link, method, addresses.
pub(super) fn render_interfaces(interfaces: &[InterfaceStatus]) -> String {
    if interfaces.is_empty() {
        return "  (none)\n".into();
    }
    let mut t = String::new();
    for i in interfaces {
        let link = if i.up { "up" } else { "down" };
        let addresses = if i.addresses.is_empty() {
            "no address".to_string()
        } else {
            i.addresses.join(" ")
        };
        t.push_str(&format!(
            "  {:<10} {link:<4} {:<9} {addresses}\n",
            i.name, i.method
        ));
    }
    t
}

fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h) {
        (0, 0) => format!("{m} min {s} s"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h {m} min"),
    }
}

/// The mail counters: since the start and over the last 24 hours.
fn render_stats(stats: &MailStats) -> String {
    let mut day = Counters::default();
    for h in &stats.hours {
        let c = &h.counters;
        day.received += c.received;
        day.delivered += c.delivered;
        day.quarantined += c.quarantined;
        day.rejected += c.rejected;
        day.deferred += c.deferred;
        day.bounced += c.bounced;
    }
    let total = &stats.total;
    let mut t = format!("Mail         {:>10} {:>10}\n", "total", "last 24 h");
    for (name, all, last) in [
        ("received", total.received, day.received),
        ("delivered", total.delivered, day.delivered),
        ("quarantined", total.quarantined, day.quarantined),
        ("rejected", total.rejected, day.rejected),
        ("deferred", total.deferred, day.deferred),
        ("bounced", total.bounced, day.bounced),
    ] {
        t.push_str(&format!("  {name:<11}{all:>10} {last:>10}\n"));
    }
    t
}
