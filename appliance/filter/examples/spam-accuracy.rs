//! The filter's accuracy on the held-out half of the SpamAssassin corpus,
//! each message through the real milter path: a real manager (the
//! quarantine) and the filter role on unix sockets in a temporary
//! directory, fed by a milter client one transaction after another, as an
//! MTA would. No network checks: nothing here looks anything up.
//!
//! Usage: `spam-accuracy CORPUS_DIR [odd|even]` (default `odd`, the half
//! never trained on; see `classifier::corpus`). Prints spam caught and ham
//! flagged, the ham that was flagged by name, and how long it took.
//! `test-harness/bench/spam-accuracy.sh` fetches the corpus and runs it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use classifier::corpus::{self, Sample};
use miltr_client::Client;
use miltr_common::commands::{Connect, Family, Header, Mail, Recipient};
use miltr_common::modifications::ModificationAction;
use miltr_common::optneg::{OptNeg, Protocol};
use model::config::SystemConfig;
use model::Endpoint;
use tokio::net::UnixStream;
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

/// Largest body chunk a milter command may carry.
const CHUNK: usize = 65_535;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: spam-accuracy CORPUS_DIR [odd|even]")?,
    );
    let half = args.next().unwrap_or_else(|| "odd".into());
    let training = match half.as_str() {
        "odd" => false,
        "even" => true,
        other => return Err(format!("half must be odd or even, not {other}").into()),
    };
    let samples: Vec<Sample> = corpus::open(&dir)?
        .into_iter()
        .filter(|s| s.for_training() == training)
        .collect();

    let work = tempfile::tempdir()?;
    let manager_sock = work.path().join("manager.sock");
    let filter_sock = work.path().join("filter.sock");
    let mut config = SystemConfig::default();
    config.manager.api_socket = manager_sock.clone();
    config.manager.http_listen = None;
    config.filter.listen = vec![Endpoint::Unix(filter_sock.clone())];
    config.filter.manager = Endpoint::Unix(manager_sock.clone());
    // No network checks: the filter's DNS is an empty zone on loopback.
    let dns = test_harness::dns::DnsServer::start(&[])?;
    config.filter.nameservers = vec![dns.addr().to_string()];
    let config = Arc::new(config);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let manager_dir = work.path().join("manager");
    let filter_dir = work.path().join("filter");
    std::fs::create_dir_all(&manager_dir)?;
    std::fs::create_dir_all(&filter_dir)?;
    let manager = tokio::spawn(manager::run(
        Arc::clone(&config),
        manager_dir,
        stopped(stop_rx.clone()),
    ));
    let filter = tokio::spawn(filter::run(
        Arc::clone(&config),
        filter_dir,
        stopped(stop_rx),
    ));
    wait_for(&manager_sock).await?;
    let stream = wait_for(&filter_sock).await?;

    let mut c = Client::new(OptNeg {
        protocol: Protocol::empty(),
        ..OptNeg::default()
    })
    .connect_via(stream.compat())
    .await?;
    c.connect(Connect::new(
        b"sender.test",
        Family::Inet,
        Some(4321),
        b"192.0.2.9",
    ))
    .await?;

    let started = Instant::now();
    let (mut ham, mut spam, mut flagged, mut caught) = (0, 0, Vec::new(), 0);
    for s in &samples {
        let message = s.message()?;
        let marked = verdict(&mut c, &message)
            .await
            .map_err(|e| format!("{}: {e}", s.path.display()))?;
        if s.spam {
            spam += 1;
            caught += usize::from(marked);
        } else {
            ham += 1;
            if marked {
                flagged.push(s.path.clone());
            }
        }
    }
    let took = started.elapsed();
    let _ = c.quit().await;
    let _ = stop_tx.send(true);
    let _ = filter.await;
    let _ = manager.await;

    let pct = |a: usize, b: usize| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "half: {half} ({} messages, MD5 ending in an {half} digit)",
        samples.len()
    );
    println!(
        "spam caught: {caught} of {spam} ({:.2}%)",
        pct(caught, spam)
    );
    println!(
        "ham flagged: {} of {ham} ({:.3}%)",
        flagged.len(),
        pct(flagged.len(), ham)
    );
    for f in &flagged {
        println!("  flagged ham: {}", short(f));
    }
    println!(
        "through the milter: {:.1} s, {:.0} messages/s on one connection",
        took.as_secs_f64(),
        samples.len() as f64 / took.as_secs_f64()
    );
    Ok(())
}

/// One transaction; true when the filter marked the message as spam (held
/// in the quarantine, refused, or let through with `X-Spam-Flag: YES`).
async fn verdict(
    c: &mut miltr_client::Connection<Compat<UnixStream>>,
    message: &[u8],
) -> Result<bool, String> {
    let (head, body) = split(message);
    c.mail(Mail::from(b"<sender@sender.test>".as_slice()))
        .await
        .map_err(|e| format!("MAIL: {e:?}"))?;
    c.recipient(Recipient::from(b"<user@example.test>".as_slice()))
        .await
        .map_err(|e| format!("RCPT: {e:?}"))?;
    for (name, value) in headers(head) {
        c.header(Header::new(name.as_slice(), value.as_slice()))
            .await
            .map_err(|e| format!("header: {e:?}"))?;
    }
    c.end_of_header().await.map_err(|e| format!("EOH: {e:?}"))?;
    for chunk in body.chunks(CHUNK) {
        c.body(chunk).await.map_err(|e| format!("body: {e:?}"))?;
    }
    let r = c
        .end_of_body()
        .await
        .map_err(|e| format!("end of body: {e:?}"))?;
    let action = format!("{:?}", r.final_action());
    if action.starts_with("Continue") || action.starts_with("Accept") {
        let tagged = r.modifications().iter().any(|m| match m {
            ModificationAction::AddHeader(h) => {
                h.name().eq_ignore_ascii_case("X-Spam-Flag") && h.value().trim() == "YES"
            }
            _ => false,
        });
        Ok(tagged)
    } else if action.starts_with("Discard") || action.starts_with("Reject") {
        Ok(true)
    } else {
        Err(format!("the filter answered {action}"))
    }
}

/// Header block and body, split at the first empty line.
fn split(message: &[u8]) -> (&[u8], &[u8]) {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (&message[..i + 2], &message[i + 4..]),
        None => (message, b""),
    }
}

/// Header fields as a milter client passes them: name, and the value
/// without the space after the colon, folded lines kept.
fn headers(head: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = out.last_mut() {
                last.1.extend_from_slice(b"\r\n");
                last.1.extend_from_slice(line);
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            out.push((line[..colon].to_vec(), value.to_vec()));
        }
    }
    out
}

async fn wait_for(sock: &Path) -> Result<UnixStream, String> {
    for _ in 0..400 {
        if let Ok(s) = UnixStream::connect(sock).await {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("nothing listens on {}", sock.display()))
}

fn short(p: &Path) -> String {
    let parts: Vec<_> = p.iter().rev().take(2).collect();
    format!(
        "{}/{}",
        parts[1].to_string_lossy(),
        parts[0].to_string_lossy()
    )
}
