//! Remote syslog against real sockets on loopback: RFC 5424 over UDP
//! (RFC 5426) and TCP (RFC 6587 octet counting), reconnecting, dropping with
//! a count while the server is away, and turning forwarding on and off.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{config, parse_syslog, texts, with_syslog, Syslog};
use logbook::{Logbook, LogbookError, FACILITY_DAEMON, MAX_DATAGRAM, SYSLOG_QUEUE_LINES};
use model::config::SyslogProtocol;

/// Longest wait for anything expected from the logbook.
const PATIENCE: Duration = Duration::from_secs(5);

/// Silence after which everything sent is taken to have arrived.
const QUIET: Duration = Duration::from_secs(1);

fn udp_server() -> (UdpSocket, String) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let address = socket.local_addr().unwrap().to_string();
    (socket, address)
}

fn receive_datagram(socket: &UdpSocket) -> Option<Vec<u8>> {
    let mut buf = [0u8; 65536];
    let n = socket.recv(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

fn receive(socket: &UdpSocket) -> Syslog {
    let datagram = receive_datagram(socket).expect("a syslog datagram");
    parse_syslog(std::str::from_utf8(&datagram).unwrap())
}

#[test]
fn udp_messages_are_rfc5424() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, address) = udp_server();
    let config = with_syslog(tmp.path(), address, SyslogProtocol::Udp);
    let logbook = Logbook::open(&config, "box.example.test").unwrap();
    logbook.record("mta", "WARN  mta::server: slow client");
    logbook.record("filter", "ERROR filter::milter: broken");
    logbook.record("udhcpc", "lease of 10.0.0.5 obtained");
    logbook.record("mta", "INFO  mta::queue: grüße");
    logbook.record("mta", &"x".repeat(10_000));
    logbook.flush();

    let expected = [
        ("mta", 4, "WARN  mta::server: slow client"),
        ("filter", 3, "ERROR filter::milter: broken"),
        ("udhcpc", 5, "lease of 10.0.0.5 obtained"),
        ("mta", 6, "INFO  mta::queue: grüße"),
    ];
    for (app, severity, msg) in expected {
        let message = receive(&server);
        assert_eq!(message.facility, FACILITY_DAEMON);
        assert_eq!(message.facility, 3, "daemon");
        assert_eq!(message.severity, severity, "{message:?}");
        assert_eq!(message.hostname, "box.example.test");
        assert_eq!(message.app_name, app);
        assert_eq!(message.msg, msg);
    }
    let long = receive_datagram(&server).unwrap();
    assert_eq!(
        long.len(),
        MAX_DATAGRAM,
        "truncated to a safe datagram size"
    );
    assert!(parse_syslog(std::str::from_utf8(&long).unwrap())
        .msg
        .starts_with("xxxx"));
    // Forwarding is in addition to the files.
    assert_eq!(
        texts(&tmp.path().join("filter.log")),
        ["ERROR filter::milter: broken"]
    );
}

/// Reads one octet-counted frame (`LEN SP MSG`).
fn read_frame(stream: &mut TcpStream) -> String {
    try_read_frame(stream).expect("a frame")
}

/// Reads one frame; `None` when none starts within the read timeout.
fn try_read_frame(stream: &mut TcpStream) -> Option<String> {
    let mut len = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if let Err(e) = stream.read_exact(&mut byte) {
            assert!(len.is_empty(), "frame cut after its length: {e}");
            return None;
        }
        if byte[0] == b' ' {
            break;
        }
        assert!(byte[0].is_ascii_digit() && len.len() < 6, "bad length");
        len.push(byte[0]);
    }
    let len: usize = std::str::from_utf8(&len).unwrap().parse().unwrap();
    let mut msg = vec![0u8; len];
    stream.read_exact(&mut msg).unwrap();
    Some(String::from_utf8(msg).unwrap())
}

/// Accepts the logbook's connection within [`PATIENCE`].
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(PATIENCE)).unwrap();
                return stream;
            }
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("the logbook did not connect: {e}"),
        }
    }
}

fn msg(stream: &mut TcpStream) -> String {
    parse_syslog(&read_frame(stream)).msg
}

#[test]
fn tcp_frames_survive_a_server_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let config = with_syslog(tmp.path(), address.to_string(), SyslogProtocol::Tcp);
    let logbook = Logbook::open(&config, "box").unwrap();
    logbook.record("mta", "INFO  mta: one");
    let mut stream = accept(&listener);
    let first = parse_syslog(&read_frame(&mut stream));
    assert_eq!((first.app_name.as_str(), first.severity), ("mta", 6));
    assert_eq!(first.msg, "INFO  mta: one");

    // The server restarts: the next line goes over a new connection.
    drop((stream, listener));
    let listener = TcpListener::bind(address).unwrap();
    logbook.record("mta", "two");
    let mut stream = accept(&listener);
    assert_eq!(msg(&mut stream), "two");

    // The server is away for a while: lines wait, then arrive in order.
    drop((stream, listener));
    logbook.record("mta", "three");
    logbook.record("mta", "four");
    std::thread::sleep(Duration::from_millis(300));
    let listener = TcpListener::bind(address).unwrap();
    let mut stream = accept(&listener);
    assert_eq!(msg(&mut stream), "three");
    assert_eq!(msg(&mut stream), "four");
}

#[test]
fn tcp_lines_are_dropped_with_a_count_while_the_server_is_down() {
    let tmp = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let config = with_syslog(tmp.path(), address.to_string(), SyslogProtocol::Tcp);
    let logbook = Logbook::open(&config, "box").unwrap();
    let total = SYSLOG_QUEUE_LINES + 300;
    for i in 0..total {
        logbook.record("mta", &format!("line {i}"));
        if i % 100 == 0 {
            // Pace the lines so that the file writer (not the point here) keeps up.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let listener = TcpListener::bind(address).unwrap();
    let mut stream = accept(&listener);

    // Once connected the queue drains at once: read until the server is idle.
    stream.set_read_timeout(Some(QUIET)).unwrap();
    let (mut received, mut dropped, mut file_markers_received) = (0, 0, 0);
    while let Some(frame) = try_read_frame(&mut stream) {
        let message = parse_syslog(&frame);
        if message.app_name == "logbook" {
            assert_eq!(message.severity, 4, "a warning");
            let count = message.msg.split_once('[').unwrap().1;
            dropped += count.split_once(' ').unwrap().0.parse::<usize>().unwrap();
        } else if message.msg.starts_with("line ") {
            received += 1;
        } else {
            file_markers_received += 1;
        }
    }
    assert!(dropped > 0, "the drop count was sent");
    // Lines the file writer dropped never reached the forwarder; its own
    // `[N lines dropped]` lines did (or were dropped and counted).
    logbook.flush();
    let file = texts(&tmp.path().join("mta.log"));
    let file_markers: Vec<usize> = file
        .iter()
        .filter_map(|t| {
            t.strip_prefix('[')?
                .strip_suffix(" lines dropped]")?
                .parse()
                .ok()
        })
        .collect();
    let file_dropped: usize = file_markers.iter().sum();
    assert_eq!(
        received + file_markers_received + dropped,
        total - file_dropped + file_markers.len()
    );
}

#[test]
fn reconfigure_turns_syslog_on_and_off() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, address) = udp_server();
    let logbook = Logbook::open(&config(tmp.path(), 64 * 1024, 1), "box").unwrap();
    logbook.record("mta", "before");
    logbook.flush();

    let on = with_syslog(tmp.path(), address.clone(), SyslogProtocol::Udp);
    logbook.reconfigure(&on, "box-on").unwrap();
    logbook.record("mta", "during");
    logbook.flush();
    let message = receive(&server);
    assert_eq!(
        (message.hostname.as_str(), message.msg.as_str()),
        ("box-on", "during")
    );

    // A bad address is refused and changes nothing.
    let bad = with_syslog(tmp.path(), "nowhere".into(), SyslogProtocol::Udp);
    let err = logbook.reconfigure(&bad, "box-on").unwrap_err();
    assert!(matches!(err, LogbookError::SyslogAddress(_)), "{err}");
    logbook.record("mta", "still on");
    logbook.flush();
    assert_eq!(receive(&server).msg, "still on");

    logbook
        .reconfigure(&config(tmp.path(), 64 * 1024, 1), "box")
        .unwrap();
    logbook.record("mta", "after");
    logbook.flush();
    server
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert_eq!(
        receive_datagram(&server),
        None,
        "nothing sent once turned off"
    );
    assert_eq!(
        texts(&tmp.path().join("mta.log")),
        ["before", "during", "still on", "after"]
    );
}
