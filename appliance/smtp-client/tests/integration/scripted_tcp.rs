//! The client against the scripted server over loopback TCP: per-recipient
//! codes, exact wire bytes, pipelining, local refusals and time limits.

use crate::scripted::{serve, Script, Transcript};
use crate::{normalise, recipients, stuffed, test_config, TRICKY};
use smtp_client::{connect_tcp, send, ClientConfig, ClientError, DeliveryReport, Envelope, Stage};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Runs one session against a scripted server on a fresh loopback port.
async fn session(
    script: Script,
    config: &ClientConfig,
    rcpts: &[&str],
    message: &[u8],
) -> (Result<DeliveryReport, ClientError>, Transcript) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        serve(stream, script).await
    });
    let rcpts = recipients(rcpts);
    let envelope = Envelope {
        sender: "from@src.test",
        recipients: &rcpts,
        ..Default::default()
    };
    let stream = connect_tcp("localhost", port, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(stream.nodelay().unwrap());
    let result = send(stream, config, &envelope, message).await;
    (result, server.await.unwrap())
}

#[tokio::test]
async fn mixed_recipients_with_pipelining() {
    let rcpts = ["ok1@mx.test", "gone@mx.test", "temp@mx.test", "ok2@mx.test"];
    let (result, transcript) = session(Script::default(), &test_config(), &rcpts, TRICKY).await;
    let report = result.unwrap();
    let codes: Vec<u16> = report.recipients.iter().map(|r| r.reply.code).collect();
    assert_eq!(codes, [250, 550, 450, 250]);
    assert_eq!(
        report.recipients[0].reply.to_string(),
        "250 2.0.0 Ok: queued as SCRIPTED"
    );
    assert_eq!(
        report.recipients[1].reply.to_string(),
        "550 5.1.1 unknown user"
    );
    assert_eq!(
        report.recipients[2].reply.to_string(),
        "450 4.2.1 try again later"
    );
    let size = normalise(TRICKY).len();
    assert_eq!(
        transcript.batches[1],
        [
            format!("MAIL FROM:<from@src.test> SIZE={size} BODY=8BITMIME"),
            "RCPT TO:<ok1@mx.test>".to_string(),
            "RCPT TO:<gone@mx.test>".to_string(),
            "RCPT TO:<temp@mx.test>".to_string(),
            "RCPT TO:<ok2@mx.test>".to_string(),
            "DATA".to_string(),
        ],
        "MAIL, RCPT and DATA go out as one pipelined group"
    );
    assert_eq!(transcript.commands.last().unwrap(), "QUIT");
}

#[tokio::test]
async fn wire_bytes_never_carry_a_smuggled_terminator() {
    let (result, transcript) =
        session(Script::default(), &test_config(), &["ok@mx.test"], TRICKY).await;
    let report = result.unwrap();
    let data = transcript.data.expect("DATA payload");
    assert_eq!(
        data.escape_ascii().to_string(),
        stuffed(TRICKY).escape_ascii().to_string()
    );
    assert_eq!(report.bytes_sent, data.len() as u64);
    for smuggling in [&b"\n.\n"[..], b"\r.\r", b"\n.\r\n"] {
        let bare = data.windows(smuggling.len()).enumerate().any(|(i, w)| {
            w == smuggling && (smuggling[0] != b'\n' || i == 0 || data[i - 1] != b'\r')
        });
        assert!(
            !bare,
            "{:?} on the wire",
            smuggling.escape_ascii().to_string()
        );
    }
}

#[tokio::test]
async fn a_large_message_arrives_intact() {
    let line = b"0123456789 the quick brown fox jumps over the lazy dog\n.dot\r";
    let message: Vec<u8> = line.iter().copied().cycle().take(5 * 1024 * 1024).collect();
    let script = Script {
        ehlo: "250-scripted\r\n250-PIPELINING\r\n250 SIZE 20000000\r\n",
        ..Script::default()
    };
    let (result, transcript) = session(script, &test_config(), &["ok@mx.test"], &message).await;
    let report = result.unwrap();
    assert_eq!(report.accepted().count(), 1, "{report:?}");
    assert!(transcript.data.unwrap() == stuffed(&message));
}

#[tokio::test]
async fn all_recipients_refused_with_pipelining_never_sends_the_body() {
    let script = Script {
        data: "554 5.5.1 Error: no valid recipients\r\n",
        ..Script::default()
    };
    let (result, transcript) = session(
        script,
        &test_config(),
        &["gone1@mx.test", "gone2@mx.test"],
        TRICKY,
    )
    .await;
    let report = result.unwrap();
    assert_eq!(report.permanent().count(), 2);
    assert_eq!(
        report.recipients[0].reply.to_string(),
        "550 5.1.1 unknown user"
    );
    assert_eq!(report.data_reply, None);
    assert_eq!(report.bytes_sent, 0);
    assert_eq!(transcript.data, None);
    let verbs: Vec<&str> = transcript.commands.iter().map(|c| &c[..4]).collect();
    assert_eq!(verbs, ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]);
}

#[tokio::test]
async fn a_message_over_the_advertised_size_is_refused_locally() {
    let script = Script {
        ehlo: "250-scripted\r\n250-PIPELINING\r\n250 SIZE 100\r\n",
        ..Script::default()
    };
    let message = vec![b'x'; 1000];
    let (result, transcript) = session(script, &test_config(), &["ok@mx.test"], &message).await;
    let report = result.unwrap();
    assert_eq!(report.recipients[0].reply.code, 552);
    assert!(report.recipients[0].reply.text.contains("(local"));
    assert_eq!(transcript.commands, ["EHLO client.test", "QUIT"]);
}

#[tokio::test]
async fn a_silent_final_reply_is_a_body_timeout() {
    let script = Script {
        final_reply: None,
        ..Script::default()
    };
    let config = ClientConfig {
        data_timeout: Duration::from_millis(300),
        ..test_config()
    };
    let (result, transcript) = session(script, &config, &["ok@mx.test"], TRICKY).await;
    assert!(
        matches!(result, Err(ClientError::Timeout { stage: Stage::Body })),
        "{result:?}"
    );
    assert!(transcript.data.is_some());
}

#[tokio::test]
async fn a_silent_server_is_a_greeting_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = stream.read_to_end(&mut Vec::new()).await;
    });
    let config = ClientConfig {
        command_timeout: Duration::from_millis(200),
        ..test_config()
    };
    let stream = connect_tcp("127.0.0.1", port, Duration::from_secs(5))
        .await
        .unwrap();
    let rcpts = recipients(&["ok@mx.test"]);
    let envelope = Envelope {
        sender: "",
        recipients: &rcpts,
        ..Default::default()
    };
    let result = send(stream, &config, &envelope, TRICKY).await;
    let error = result.unwrap_err();
    assert!(matches!(
        error,
        ClientError::Timeout {
            stage: Stage::Greeting
        }
    ));
    assert_eq!(error.to_string(), "timeout during greeting");
    server.await.unwrap();
}

#[tokio::test]
async fn a_server_hanging_up_is_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"220 going away soon\r\n").await.unwrap();
        let mut ehlo = [0u8; 64];
        let _ = stream.read(&mut ehlo).await.unwrap();
    });
    let stream = connect_tcp("127.0.0.1", port, Duration::from_secs(5))
        .await
        .unwrap();
    let rcpts = recipients(&["ok@mx.test"]);
    let envelope = Envelope {
        sender: "a@src.test",
        recipients: &rcpts,
        ..Default::default()
    };
    let error = send(stream, &test_config(), &envelope, TRICKY)
        .await
        .unwrap_err();
    match error {
        ClientError::Io { stage, source } => {
            assert_eq!(stage, Stage::Ehlo);
            assert_eq!(source.kind(), std::io::ErrorKind::UnexpectedEof);
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn connecting_to_a_closed_port_fails_at_connect() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let error = connect_tcp("127.0.0.1", port, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Io {
                stage: Stage::Connect,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(error.stage(), Stage::Connect);
}
