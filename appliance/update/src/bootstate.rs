//! The boot slots as GRUB's environment describes them: the contract
//! between GRUB's configuration, the supervisor and the installer.
//!
//! - `ORDER` lists the slots GRUB tries, first first (`A B`).
//! - `X_OK=1`: slot X may be booted; GRUB sets 0 when it abandons it.
//! - `X_TRY`: boots of X since it was last marked good (0..=3). GRUB boots
//!   the first usable slot in `ORDER`; if its TRY is already [`MAX_TRIES`]
//!   it abandons it and tries the next, else it adds one and boots it.
//! - Marking good (the supervisor, once every role is healthy): `X_TRY=0`,
//!   `X_OK=1`. Installing into X: `ORDER="X Y"`, `X_OK=1`, `X_TRY=0`.
//!
//! A missing or unreadable value takes its default: `ORDER="A B"`, both OK,
//! both TRY 0. Variables this module does not know are kept.

use std::fmt;

use crate::grubenv::GrubEnv;
use crate::EnvError;

/// Tries GRUB gives a slot before abandoning it.
pub const MAX_TRIES: u8 = 3;

/// A root slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// The first slot (GPT partition `rootA`).
    A,
    /// The second slot (GPT partition `rootB`).
    B,
}

impl Slot {
    /// Both slots, in order.
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    /// `A` or `B`.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }

    /// Reads `A` or `B`.
    pub fn parse(s: &str) -> Option<Slot> {
        match s {
            "A" => Some(Slot::A),
            "B" => Some(Slot::B),
            _ => None,
        }
    }

    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// Its GPT partition name.
    pub fn partname(self) -> &'static str {
        match self {
            Slot::A => "rootA",
            Slot::B => "rootB",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The boot variables of the environment, with defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootState {
    /// Slots in the order GRUB tries them; always both, each once.
    pub order: [Slot; 2],
    /// `X_OK`, by slot.
    pub ok: [bool; 2],
    /// `X_TRY`, by slot.
    pub tries: [u8; 2],
}

impl Default for BootState {
    fn default() -> Self {
        BootState {
            order: [Slot::A, Slot::B],
            ok: [true, true],
            tries: [0, 0],
        }
    }
}

impl BootState {
    /// Reads the boot variables of `env`; missing or garbled ones take
    /// their default.
    pub fn from_env(env: &GrubEnv) -> BootState {
        let mut state = BootState::default();
        if let Some(order) = env.get("ORDER") {
            let first = order.split_whitespace().find_map(Slot::parse);
            if let Some(first) = first {
                state.order = [first, first.other()];
            }
        }
        for slot in Slot::ALL {
            let i = slot.index();
            match env.get(&format!("{slot}_OK")) {
                Some("0") => state.ok[i] = false,
                Some(_) | None => state.ok[i] = true,
            }
            if let Some(t) = env
                .get(&format!("{slot}_TRY"))
                .and_then(|t| t.parse::<u8>().ok())
            {
                state.tries[i] = t.min(MAX_TRIES);
            }
        }
        state
    }

    /// Writes these variables into `env`, keeping the others.
    pub fn apply(&self, env: &mut GrubEnv) -> Result<(), EnvError> {
        env.set("ORDER", &format!("{} {}", self.order[0], self.order[1]))?;
        for slot in Slot::ALL {
            let flag = if self.ok(slot) { "1" } else { "0" };
            env.set(&format!("{slot}_OK"), flag)?;
            env.set(&format!("{slot}_TRY"), &self.tries(slot).to_string())?;
        }
        Ok(())
    }

    /// `X_OK` of `slot`.
    pub fn ok(&self, slot: Slot) -> bool {
        self.ok[slot.index()]
    }

    /// `X_TRY` of `slot`.
    pub fn tries(&self, slot: Slot) -> u8 {
        self.tries[slot.index()]
    }

    /// Records that `slot` booted and works: it keeps being booted.
    pub fn mark_good(&mut self, slot: Slot) {
        self.ok[slot.index()] = true;
        self.tries[slot.index()] = 0;
    }

    /// Makes `slot` the next boot with a full set of tries (after an install).
    pub fn switch_to(&mut self, slot: Slot) {
        self.order = [slot, slot.other()];
        self.mark_good(slot);
    }

    /// The slot GRUB boots next, as its configuration decides: the first
    /// usable slot in the order, skipping one whose tries are used up.
    pub fn next_boot(&self) -> Option<Slot> {
        self.order
            .into_iter()
            .find(|&s| self.ok(s) && self.tries(s) < MAX_TRIES)
    }

    /// True when `booted` runs because GRUB abandoned the slot first in
    /// the order (an update that never became healthy).
    pub fn fell_back(&self, booted: Slot) -> bool {
        let first = self.order[0];
        first != booted && !self.ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> GrubEnv {
        let mut e = GrubEnv::default();
        for (k, v) in pairs {
            e.set(k, v).unwrap();
        }
        e
    }

    #[test]
    fn defaults_fill_what_is_missing_or_garbled() {
        assert_eq!(
            BootState::from_env(&GrubEnv::default()),
            BootState::default()
        );
        let s = BootState::from_env(&env(&[
            ("ORDER", "x B"),
            ("A_OK", "0"),
            ("B_OK", "yes"),
            ("A_TRY", "7"),
            ("B_TRY", "-1"),
        ]));
        assert_eq!(s.order, [Slot::B, Slot::A]);
        assert_eq!(s.ok, [false, true]);
        assert_eq!(s.tries, [MAX_TRIES, 0]);
    }

    #[test]
    fn install_then_boots_then_mark_good() {
        let mut e = env(&[("saved_entry", "0")]);
        let mut s = BootState::from_env(&e);
        s.switch_to(Slot::B);
        s.apply(&mut e).unwrap();
        assert_eq!(e.get("ORDER"), Some("B A"));
        assert_eq!((e.get("B_OK"), e.get("B_TRY")), (Some("1"), Some("0")));
        assert_eq!(e.get("saved_entry"), Some("0"), "other variables are kept");
        // GRUB boots B three times without it becoming healthy...
        let mut s = BootState::from_env(&e);
        s.tries[1] = MAX_TRIES;
        assert_eq!(s.next_boot(), Some(Slot::A));
        // ...then abandons it and boots A.
        s.ok[1] = false;
        assert!(s.fell_back(Slot::A));
        assert!(!s.fell_back(Slot::B));
        s.mark_good(Slot::A);
        assert_eq!(s.next_boot(), Some(Slot::A));
        assert!(s.fell_back(Slot::A), "still said until the next install");
        s.switch_to(Slot::B);
        assert!(!s.fell_back(Slot::A));
    }
}
