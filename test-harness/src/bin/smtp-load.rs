//! smtp-load: a bounded SMTP load generator that measures each transaction.
//!
//! Like Postfix's smtp-source (one message per session, S sessions in
//! parallel), but it records the time from connect to the final reply after
//! DATA for every message and prints percentiles.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use smtp_client::{ClientConfig, Envelope};
use test_harness::percentile;

/// Sends N messages with S concurrent sessions and reports latency.
#[derive(Parser)]
struct Args {
    /// The SMTP server (loopback only).
    #[arg(long, default_value = "127.0.0.1:2525")]
    server: String,
    /// Messages to send.
    #[arg(short = 'm', long, default_value_t = 2000)]
    messages: usize,
    /// Concurrent sessions.
    #[arg(short = 's', long, default_value_t = 10)]
    sessions: usize,
    /// Approximate message size in bytes.
    #[arg(short = 'l', long, default_value_t = 5120)]
    size: usize,
    /// Envelope sender.
    #[arg(short = 'f', long, default_value = "load@sender.test")]
    from: String,
    /// Envelope recipient.
    #[arg(short = 't', long, default_value = "user@example.test")]
    to: String,
}

fn message(size: usize, n: usize) -> Vec<u8> {
    let mut m = format!(
        "From: <load@sender.test>\r\nTo: <user@example.test>\r\nSubject: load {n}\r\nMessage-ID: <load{n}@sender.test>\r\n\r\n"
    )
    .into_bytes();
    let line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let addr: std::net::SocketAddr = args.server.parse().context("--server must be IP:PORT")?;
    if !addr.ip().is_loopback() {
        bail!("smtp-load only measures on loopback; {addr} is not a loopback address");
    }
    let next = Arc::new(AtomicUsize::new(0));
    let config = Arc::new(ClientConfig {
        helo_name: "load.test".into(),
        command_timeout: Duration::from_secs(60),
        data_timeout: Duration::from_secs(60),
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.sessions.max(1) {
        let (next, config) = (next.clone(), config.clone());
        let (from, to, size, total) =
            (args.from.clone(), args.to.clone(), args.size, args.messages);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            let rcpts = vec![to];
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                let body = message(size, n);
                let t0 = Instant::now();
                let ok = match smtp_client::connect_tcp(
                    &addr.ip().to_string(),
                    addr.port(),
                    Duration::from_secs(10),
                )
                .await
                {
                    Ok(stream) => {
                        let env = Envelope {
                            sender: &from,
                            recipients: &rcpts,
                            ..Default::default()
                        };
                        matches!(smtp_client::send(stream, &config, &env, &body).await,
                            Ok(r) if r.data_reply.as_ref().is_some_and(|d| d.is_positive()))
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        }));
    }
    let mut all = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        all.extend(l);
        failures += f;
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    println!(
        "smtp-load server={} messages={} sessions={} size={} ok={} failed={} seconds={:.2} msg_per_s={:.0} latency_ms p50={:.2} p90={:.2} p99={:.2} max={:.2}",
        args.server, args.messages, args.sessions, args.size, all.len(), failures, secs,
        all.len() as f64 / secs,
        percentile(&all, 50.0), percentile(&all, 90.0), percentile(&all, 99.0),
        all.last().copied().unwrap_or(f64::NAN)
    );
    if failures > 0 {
        bail!("{failures} messages were not accepted");
    }
    Ok(())
}
