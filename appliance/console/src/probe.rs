//! The network tests of the menu: `ping` (the program, never through a
//! shell) and an SMTP conversation (banner, EHLO, QUIT) shown line by line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::machine::{Failure, Outcome};

/// `ping` from PATH (iputils or busybox's applet link), else busybox's.
const PING_PROGRAMS: &[&[&str]] = &[&["ping"], &["busybox", "ping"]];
/// ping is killed if it runs longer (a slow name lookup, say).
const PING_DEADLINE: Duration = Duration::from_secs(30);
/// Most output of ping shown.
const MAX_PING_OUTPUT: u64 = 8 * 1024;
/// Time allowed for the SMTP connect and for each reply.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest SMTP reply line shown (RFC 5321 allows 512 bytes).
const MAX_SMTP_LINE: u64 = 1024;
/// Most lines of one SMTP reply shown.
const MAX_REPLY_LINES: usize = 40;

/// Runs `ping -c 3 -W 2 HOST`; `host` must be validated already.
pub(crate) fn ping(host: &str) -> Outcome {
    let mut child = match spawn_ping(host) {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(Failure::new(format!("cannot run ping: {e}"))),
    };
    let Some(stdout) = child.stdout.take() else {
        return Outcome::Failed(Failure::new("ping has no output pipe"));
    };
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut pipe = stdout;
        let _ = (&mut pipe).take(MAX_PING_OUTPUT).read_to_end(&mut out);
        // Keep draining so ping never blocks on a full pipe.
        let _ = std::io::copy(&mut pipe, &mut std::io::sink());
        out
    });
    let answered = wait_with_deadline(&mut child, PING_DEADLINE);
    let output = reader.join().unwrap_or_default();
    Outcome::Ping {
        output: String::from_utf8_lossy(&output).into_owned(),
        answered,
    }
}

fn spawn_ping(host: &str) -> std::io::Result<Child> {
    let mut last = None;
    for program in PING_PROGRAMS {
        let spawned = Command::new(program[0])
            .args(&program[1..])
            .args(["-c", "3", "-W", "2", host])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last = Some(e),
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no ping program")))
}

/// True when the child exited 0 before `deadline`; kills it otherwise.
fn wait_with_deadline(child: &mut Child, deadline: Duration) -> bool {
    let end = Instant::now() + deadline;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Talks to `host:port`: banner, `EHLO ehlo`, `QUIT`; returns the transcript
/// (`S:` server, `C:` console, `--` notes), up to where it ended.
pub(crate) fn smtp_test(host: &str, port: u16, ehlo: &str) -> String {
    let mut t = String::new();
    let note = |t: &mut String, s: &str| t.push_str(&format!("-- {s}\n"));
    note(&mut t, &format!("connecting to {host} port {port}"));
    let stream = match connect(host, port) {
        Ok(s) => s,
        Err(e) => {
            note(&mut t, &format!("cannot connect: {e}"));
            return t;
        }
    };
    if let Ok(peer) = stream.peer_addr() {
        note(&mut t, &format!("connected to {peer}"));
    }
    match converse(&stream, ehlo, &mut t) {
        Ok(()) => note(&mut t, "done: the server speaks SMTP"),
        Err(e) => note(&mut t, &e),
    }
    t
}

fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, SMTP_TIMEOUT) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

fn converse(stream: &TcpStream, ehlo: &str, t: &mut String) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    stream.set_read_timeout(Some(SMTP_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(SMTP_TIMEOUT)).map_err(io)?;
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let banner = reply(&mut reader, t)?;
    if banner != 220 {
        return Err(format!("the greeting is {banner}, not 220"));
    }
    for command in [format!("EHLO {ehlo}"), "QUIT".to_string()] {
        t.push_str(&format!("C: {command}\n"));
        writer
            .write_all(format!("{command}\r\n").as_bytes())
            .map_err(io)?;
        reply(&mut reader, t)?;
    }
    Ok(())
}

/// Reads one reply (all its lines) into the transcript; returns its code.
fn reply(reader: &mut BufReader<&TcpStream>, t: &mut String) -> Result<u16, String> {
    for _ in 0..MAX_REPLY_LINES {
        let mut line = Vec::new();
        let n = reader
            .by_ref()
            .take(MAX_SMTP_LINE)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("reading the reply: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        t.push_str(&format!("S: {text}\n"));
        let code = text.get(..3).and_then(|c| c.parse::<u16>().ok());
        let last = text.len() == 3 || text.as_bytes().get(3) == Some(&b' ');
        match code {
            None => return Err("that is not an SMTP reply".into()),
            Some(code) if last => return Ok(code),
            Some(_) => {}
        }
    }
    Err(format!("the reply is longer than {MAX_REPLY_LINES} lines"))
}
