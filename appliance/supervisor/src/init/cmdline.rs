//! The kernel command line: where the bootloader tells init which data
//! partition to use, which firmware slot it booted, and whether to start the
//! console in recovery mode.

use std::path::PathBuf;

/// `filterbox.data=DEVICE` or `filterbox.data=PARTNAME=NAME`: the data
/// partition (else the GPT partition named `data`).
pub const DATA_KEY: &str = "filterbox.data";
/// The prefix of a data partition named by its GPT partition name.
const PARTNAME_PREFIX: &str = "PARTNAME=";
/// `filterbox.slot=A|B`: the root slot GRUB booted.
pub const SLOT_KEY: &str = "filterbox.slot";
/// `filterbox.recovery=1`: start the console in recovery mode (lost password).
pub const RECOVERY_KEY: &str = "filterbox.recovery";

/// The parameters of a kernel command line, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    params: Vec<(String, Option<String>)>,
}

impl KernelCmdline {
    /// Reads `/proc/cmdline`; empty when it cannot be read.
    pub fn read() -> KernelCmdline {
        KernelCmdline::parse(&std::fs::read_to_string("/proc/cmdline").unwrap_or_default())
    }

    /// Parses `text` as the kernel does: words split at blanks, double
    /// quotes keep blanks in a value, and everything after `--` belongs to
    /// init's arguments, not to the parameters.
    pub fn parse(text: &str) -> KernelCmdline {
        let mut params = Vec::new();
        for word in split_words(text) {
            if word == "--" {
                break;
            }
            let param = match word.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (word, None),
            };
            params.push(param);
        }
        KernelCmdline { params }
    }

    /// The value of the last `key=value`; `Some("")` for a bare `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// The data device named on the command line (`vda4` means `/dev/vda4`);
    /// `None` when it names a partition by its GPT name instead.
    pub fn data_device(&self) -> Option<PathBuf> {
        let value = self.get(DATA_KEY).filter(|v| !v.is_empty())?;
        if value.starts_with(PARTNAME_PREFIX) {
            return None;
        }
        Some(if value.starts_with('/') {
            PathBuf::from(value)
        } else {
            PathBuf::from("/dev").join(value)
        })
    }

    /// The GPT name of the data partition, from `filterbox.data=PARTNAME=NAME`.
    pub fn data_partname(&self) -> Option<&str> {
        self.get(DATA_KEY)?
            .strip_prefix(PARTNAME_PREFIX)
            .filter(|name| !name.is_empty())
    }

    /// The booted firmware slot, if the bootloader named one.
    pub fn boot_slot(&self) -> Option<String> {
        self.get(SLOT_KEY)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Whether the console starts in recovery mode.
    pub fn recovery(&self) -> bool {
        self.get(RECOVERY_KEY) == Some("1")
    }
}

fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut in_word = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_filterbox_parameters() {
        let c = KernelCmdline::parse(
            "BOOT_IMAGE=/vmlinuz root=/dev/vda2 ro console=ttyS0,9600 \
             filterbox.slot=B filterbox.data=vda4 quiet\n",
        );
        assert_eq!(c.boot_slot().as_deref(), Some("B"));
        assert_eq!(c.data_device(), Some(PathBuf::from("/dev/vda4")));
        assert!(!c.recovery());
        assert_eq!(c.get("quiet"), Some(""));
        assert_eq!(c.get("console"), Some("ttyS0,9600"));
    }

    #[test]
    fn absolute_devices_quotes_repeats_and_init_arguments() {
        let c = KernelCmdline::parse(
            r#"filterbox.data=/dev/disk/by-partlabel/data note="a b" filterbox.recovery=0 filterbox.recovery=1 -- filterbox.slot=A"#,
        );
        assert_eq!(
            c.data_device(),
            Some(PathBuf::from("/dev/disk/by-partlabel/data"))
        );
        assert_eq!(c.get("note"), Some("a b"));
        assert!(c.recovery(), "the last value wins");
        assert_eq!(c.boot_slot(), None, "after -- are init's arguments");
    }

    #[test]
    fn a_workstation_command_line_names_nothing() {
        let c = KernelCmdline::parse("console=ttyS0 quiet reboot=k");
        assert_eq!(c.boot_slot(), None);
        assert_eq!(c.data_device(), None);
        assert!(!c.recovery());
        assert_eq!(KernelCmdline::parse(""), KernelCmdline::default());
        assert_eq!(KernelCmdline::parse("filterbox.data=").data_device(), None);
    }

    #[test]
    fn the_data_partition_can_be_named_by_its_gpt_name() {
        let c = KernelCmdline::parse("filterbox.slot=A filterbox.data=PARTNAME=data console=ttyS0");
        assert_eq!(c.data_device(), None);
        assert_eq!(c.data_partname(), Some("data"));
        assert_eq!(
            KernelCmdline::parse("filterbox.data=vda4").data_partname(),
            None
        );
        assert_eq!(
            KernelCmdline::parse("filterbox.data=PARTNAME=").data_partname(),
            None
        );
    }
}
