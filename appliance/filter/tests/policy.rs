//! The administrators' policy, set through the real manager's API and
//! applied by the real filter: thresholds per domain and per user (tag,
//! quarantine, reject), allow and block lists before any score, and a
//! message for two recipients with different choices.

mod roles;

use model::policy::{DomainPolicy, Thresholds, UserPolicy};
use roles::{
    message, with_attachment, Outcome, Roles, HAM_BODY, HAM_SUBJECT, SPAM_BODY, SPAM_SUBJECT,
};

fn domain_policy(tag: f64, quarantine: f64, reject: Option<f64>) -> DomainPolicy {
    DomainPolicy {
        domain: "example.test".into(),
        thresholds: Thresholds {
            tag,
            quarantine,
            reject,
        },
        dmarc: Default::default(),
        attachments: Default::default(),
        delay_queue: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_and_lists_decide_per_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let roles = Roles::start(dir.path()).await;
    roles
        .directory(&["user@example.test", "boss@example.test"])
        .await;
    let spam = message(SPAM_SUBJECT, true, SPAM_BODY);
    let ham = message(HAM_SUBJECT, false, HAM_BODY);
    let one = ["<user@example.test>"];

    // The defaults: spam held, ham delivered unmarked.
    assert_eq!(roles.send(&spam, &one).await, Outcome::Discarded);
    assert_eq!(
        roles.send(&ham, &one).await,
        Outcome::Delivered {
            tagged: false,
            removed: vec![]
        }
    );

    // A domain that only tags: the spam is delivered marked.
    roles.set_domain(domain_policy(-100.0, 1000.0, None)).await;
    assert_eq!(
        roles.send(&spam, &one).await,
        Outcome::Delivered {
            tagged: true,
            removed: vec![]
        }
    );
    // A domain that refuses outright.
    roles.set_domain(domain_policy(4.0, 5.0, Some(5.0))).await;
    assert_eq!(roles.send(&spam, &one).await, Outcome::Rejected);

    // The boss allows the sender's domain, the user blocks the ham's sender.
    roles
        .set_user(UserPolicy {
            address: "boss@example.test".into(),
            thresholds: None,
            allow: vec!["sender.test".into()],
            block: vec![],
        })
        .await;
    roles
        .set_user(UserPolicy {
            address: "user@example.test".into(),
            thresholds: Some(Thresholds {
                tag: 5.0,
                quarantine: 5.0,
                reject: None,
            }),
            allow: vec![],
            block: vec!["offers1234@sender.test".into()],
        })
        .await;
    let both = ["<user@example.test>", "<boss@example.test>"];
    // Spam for both: held for the user (own thresholds: no reject), the
    // boss's allow list lets it through to him.
    assert_eq!(
        roles.send(&spam, &both).await,
        Outcome::Delivered {
            tagged: false,
            removed: vec!["<user@example.test>".into()]
        }
    );
    // Ham from a blocked sender: held for the user, with the reason.
    assert_eq!(
        roles.send(&ham, &both).await,
        Outcome::Delivered {
            tagged: false,
            removed: vec!["<user@example.test>".into()]
        }
    );
    let held = roles.quarantined().await;
    assert!(
        held.iter().any(|q| q.recipient == "user@example.test"
            && q.reasons
                .iter()
                .any(|r| r == "BLOCKLISTED offers1234@sender.test")),
        "{held:#?}"
    );
    roles.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_domain_blocks_the_attachments_it_chose() {
    let dir = tempfile::tempdir().unwrap();
    let roles = Roles::start(dir.path()).await;
    roles.directory(&["user@example.test"]).await;
    let mut strict = domain_policy(5.0, 5.0, None);
    strict.attachments.blocked_extensions = vec!["xyz".into()];
    roles.set_domain(strict).await;
    let notes = with_attachment("meeting notes", "notes.xyz", "plain words");
    let tool = with_attachment("meeting notes", "tool.exe", "plain words, no program");
    let both = ["<user@example.test>", "<someone@other.test>"];

    // example.test blocks .xyz; other.test has the defaults, which do not.
    assert_eq!(
        roles.send(&notes, &both).await,
        Outcome::Delivered {
            tagged: false,
            removed: vec!["<user@example.test>".into()]
        }
    );
    // The defaults block .exe; example.test's own list replaced them.
    assert_eq!(
        roles.send(&tool, &both).await,
        Outcome::Delivered {
            tagged: false,
            removed: vec!["<someone@other.test>".into()]
        }
    );
    let held = roles.quarantined().await;
    let reasons = |who: &str| -> Vec<String> {
        held.iter()
            .filter(|q| q.recipient == who)
            .flat_map(|q| q.reasons.clone())
            .collect()
    };
    assert!(
        reasons("user@example.test").contains(&"blocked attachment notes.xyz".to_string()),
        "{held:#?}"
    );
    assert!(
        reasons("someone@other.test").contains(&"blocked attachment tool.exe".to_string()),
        "{held:#?}"
    );
    assert!(held
        .iter()
        .all(|q| q.kind == model::api::QuarantineKind::Attachment));
    roles.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_dmarc_policy_is_honoured_only_where_the_domain_says_so() {
    use model::policy::DmarcEnforcement;
    use test_harness::dns::{DnsServer, Rr};
    // sender.test asks for rejection, and its SPF record does not list the
    // client (192.0.2.9): its unsigned mail fails DMARC.
    let dns = DnsServer::start(&[
        Rr::Txt("sender.test".into(), "v=spf1 ip4:198.51.100.1 -all".into()),
        Rr::Txt("_dmarc.sender.test".into(), "v=DMARC1; p=reject".into()),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let roles = Roles::start_with(dir.path(), |c| {
        c.filter.nameservers = vec![dns.addr().to_string()];
    })
    .await;
    roles.directory(&["user@example.test"]).await;
    let ham = message(HAM_SUBJECT, false, HAM_BODY);
    let lenient = domain_policy(50.0, 60.0, None);

    // Reported (the default): the failure only scores.
    roles.set_domain(lenient.clone()).await;
    assert_eq!(
        roles.send(&ham, &["<user@example.test>"]).await,
        Outcome::Delivered {
            tagged: false,
            removed: vec![]
        }
    );
    // Honoured: refused at the end of DATA.
    roles
        .set_domain(DomainPolicy {
            dmarc: DmarcEnforcement::Honour,
            ..lenient
        })
        .await;
    assert_eq!(
        roles.send(&ham, &["<user@example.test>"]).await,
        Outcome::Rejected
    );
    // A second recipient whose domain only reports still gets it; the one
    // that honours the policy has it held, with the reason.
    roles
        .api(|c| {
            let d = serde_json::from_value(serde_json::json!({
                "name": "other.test", "delivery": [{"host": "127.0.0.1"}]
            }))
            .unwrap();
            c.create_domain(&d).unwrap();
        })
        .await;
    roles
        .set_domain(DomainPolicy {
            domain: "other.test".into(),
            ..domain_policy(50.0, 60.0, None)
        })
        .await;
    assert_eq!(
        roles
            .send(&ham, &["<user@example.test>", "<eve@other.test>"])
            .await,
        Outcome::Delivered {
            tagged: false,
            removed: vec!["<user@example.test>".into()]
        }
    );
    let held = roles.quarantined().await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].recipient, "user@example.test");
    assert_eq!(held[0].reasons[0], filter::auth::DMARC_POLICY_HOLD);
    assert!(
        held[0].reasons.iter().any(|r| r == "DMARC_REJECT (+3.0)"),
        "{:?}",
        held[0].reasons
    );
    roles.stop().await;
}
