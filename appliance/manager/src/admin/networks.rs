//! The networks allowed to reach the web administration: checked and
//! brought to one normal form before they are stored.

use std::net::IpAddr;

use model::network::Cidr;

/// Most networks in the list: enough for any site, small enough that
/// checking a client against it stays trivial.
pub const MAX_NETWORKS: usize = 64;

/// Each entry parsed as a CIDR, its host bits cleared (`192.168.1.7/24`
/// becomes `192.168.1.0/24`, IPv6 in its canonical lowercase form) and
/// duplicates dropped, in the order given. `Err` names the first bad entry.
pub fn normalize(networks: &[String]) -> Result<Vec<String>, String> {
    if networks.len() > MAX_NETWORKS {
        return Err(format!(
            "networks: {} entries; at most {MAX_NETWORKS} are allowed",
            networks.len()
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(networks.len());
    for (i, entry) in networks.iter().enumerate() {
        let cidr: Cidr = entry
            .parse()
            .map_err(|e| format!("networks[{i}] {entry:?} is not a network: {e}"))?;
        let normal = network_of(cidr).to_string();
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(out)
}

/// The network itself: the address with its host bits cleared.
fn network_of(c: Cidr) -> Cidr {
    let address = match c.address {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(c.prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(a) & mask).into())
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(c.prefix))
                .unwrap_or(0);
            IpAddr::V6((u128::from(a) & mask).into())
        }
    };
    Cidr {
        address,
        prefix: c.prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn normal_form_clears_host_bits_and_duplicates() {
        assert_eq!(
            normalize(&strings(&[
                "192.168.1.0/24",
                " 192.168.1.77/24",
                "10.1.2.3/8",
                "2001:DB8:0:0::1/32",
                "0.0.0.0/0",
                "::1/128",
                "10.9.9.9/32",
            ])),
            Ok(strings(&[
                "192.168.1.0/24",
                "10.0.0.0/8",
                "2001:db8::/32",
                "0.0.0.0/0",
                "::1/128",
                "10.9.9.9/32",
            ]))
        );
        assert_eq!(normalize(&[]), Ok(vec![]));
    }

    #[test]
    fn bad_entries_are_named() {
        for (list, want) in [
            (
                strings(&["10.0.0.0/8", "10.0.0.0/33"]),
                "networks[1] \"10.0.0.0/33\"",
            ),
            (strings(&["192.168.1.1"]), "networks[0] \"192.168.1.1\""),
            (strings(&["lan/24"]), "networks[0] \"lan/24\""),
        ] {
            let e = normalize(&list).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        let many: Vec<String> = (0..=MAX_NETWORKS)
            .map(|i| format!("10.0.{i}.0/24"))
            .collect();
        assert!(normalize(&many).unwrap_err().contains("at most 64"));
    }
}
