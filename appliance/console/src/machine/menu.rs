//! The numbered menu and what each number opens.

use super::{admin_networks, firmware, mx, network, password, power, status, tools, Screen};

/// The menu, as printed after the login and on `?` or an empty line.
pub(super) const MENU: &str = concat!(
    " 1) Status\n",
    " 2) Network\n",
    " 3) Ping a host\n",
    " 4) SMTP test to a host\n",
    " 5) Reset the web admin password\n",
    " 6) Restrict web administration to networks\n",
    " 7) MX records to publish\n",
    " 8) Firmware\n",
    " 9) Reboot\n",
    "10) Shut down\n",
    "11) Factory reset\n",
    " 0) Log out\n",
);

/// The menu's prompt.
pub(super) const PROMPT: &str = "Enter an option (? for the menu): ";

/// What a line typed at the menu prompt means.
pub(super) enum Choice {
    /// `?` or an empty line.
    ShowMenu,
    /// A numbered entry.
    Open(Box<dyn Screen + Send>),
    /// `0`.
    LogOut,
    /// Anything else; the message says what to type.
    Unknown(String),
}

/// Reads a menu choice.
pub(super) fn choose(line: &str) -> Choice {
    let screen: Box<dyn Screen + Send> = match line.trim() {
        "" | "?" => return Choice::ShowMenu,
        "0" => return Choice::LogOut,
        "1" => Box::new(status::Status::default()),
        "2" => Box::new(network::Network::default()),
        "3" => Box::new(tools::Ping),
        "4" => Box::new(tools::SmtpTest),
        "5" => Box::new(password::ResetPassword::default()),
        "6" => Box::new(admin_networks::AdminNetworks::default()),
        "7" => Box::new(mx::MxRecords::default()),
        "8" => Box::new(firmware::Firmware::default()),
        "9" => Box::new(power::Confirm::reboot()),
        "10" => Box::new(power::Confirm::shutdown()),
        "11" => Box::new(power::FactoryReset),
        other => {
            let shown: String = other.chars().take(20).collect();
            return Choice::Unknown(format!(
                "No option {shown:?}: enter a number from 0 to 11, or ? for the menu."
            ));
        }
    };
    Choice::Open(screen)
}
