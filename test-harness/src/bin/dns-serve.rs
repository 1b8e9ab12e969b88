//! Serves an empty DNS zone on a free loopback port (UDP and TCP) until
//! killed, printing `IP:PORT` first: what the benchmarks give the filter
//! as `filter.nameservers`, so that its SPF, DKIM and DMARC lookups are
//! answered at once on loopback, like a local caching resolver's would,
//! and never leave the machine.

fn main() -> anyhow::Result<()> {
    let server = test_harness::dns::DnsServer::start(&[])?;
    println!("{}", server.addr());
    loop {
        std::thread::park();
    }
}
