//! The generic stream in use: unix-domain sockets, as the manager uses to
//! re-inject released messages into the mta.

use crate::scripted::{serve, Script};
use crate::sink::{self, as_dumped, SmtpSink};
use crate::{recipients, stuffed, test_config, TRICKY};
use smtp_client::{send, Envelope};
use tokio::net::UnixStream;

#[tokio::test]
async fn delivers_over_a_unix_stream_pair() {
    let (client, server) = UnixStream::pair().unwrap();
    let server = tokio::spawn(serve(server, Script::default()));
    let rcpts = recipients(&["ok@mx.test", "gone@mx.test"]);
    let envelope = Envelope {
        sender: "",
        recipients: &rcpts,
        ..Default::default()
    };
    let report = send(client, &test_config(), &envelope, TRICKY)
        .await
        .unwrap();
    let transcript = server.await.unwrap();
    assert_eq!(report.accepted().count(), 1);
    assert_eq!(report.permanent().count(), 1);
    assert!(transcript.commands[1].starts_with("MAIL FROM:<> SIZE="));
    assert_eq!(transcript.data.unwrap(), stuffed(TRICKY));
}

#[tokio::test]
async fn delivers_to_smtp_sink_on_a_unix_socket() {
    if !sink::available() {
        return;
    }
    let sink = SmtpSink::start_unix(&[]);
    let stream = UnixStream::connect(&sink.address).await.unwrap();
    let rcpts = recipients(&["one@mx.test"]);
    let envelope = Envelope {
        sender: "from@src.test",
        recipients: &rcpts,
        ..Default::default()
    };
    let report = send(stream, &test_config(), &envelope, TRICKY)
        .await
        .unwrap();
    assert_eq!(report.accepted().count(), 1);
    assert_eq!(sink.dumps(1)[0].message, as_dumped(TRICKY));
}
