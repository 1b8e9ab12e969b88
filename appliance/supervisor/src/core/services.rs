//! Changing the services while the box runs (a new network brings other
//! DHCP and NTP clients).

use super::slot::{Kind, Slot};
use super::{Action, Status, Supervisor};

impl Supervisor {
    /// Changes the services to `wanted`: services no longer wanted are
    /// stopped and forgotten, new ones started, and those named in `changed`
    /// (their command differs) restarted. Ignored during a shutdown.
    pub fn set_services(&mut self, wanted: &[String], changed: &[String]) -> Vec<Action> {
        if self.shutting_down {
            return Vec::new();
        }
        let mut actions = Vec::new();
        for name in self.names(Kind::Service) {
            if !wanted.contains(&name) {
                actions.extend(self.replace(&name, true));
            } else if changed.contains(&name) {
                actions.extend(self.replace(&name, false));
            }
        }
        for name in wanted {
            if self.slot_mut(name).is_none() {
                self.slots.push(Slot::new(name, Kind::Service));
                actions.push(self.spawn(name));
            }
        }
        actions
    }

    /// Stops a service to drop it (`retire`) or to start it again at once.
    fn replace(&mut self, name: &str, retire: bool) -> Vec<Action> {
        let slot = self.slot_mut(name).expect("called with existing names");
        match slot.status {
            Status::Starting | Status::Healthy => {
                slot.status = Status::Stopping;
                slot.retire = retire;
                vec![Action::Stop(name.to_string(), slot.instance)]
            }
            Status::Stopping => {
                slot.retire = retire;
                Vec::new()
            }
            _ if retire => {
                self.slots.retain(|s| s.name != name);
                Vec::new()
            }
            _ => {
                slot.quick_deaths = 0;
                vec![self.spawn(name)]
            }
        }
    }
}
