//! Learning on the box, with the real manager and filter roles: a message
//! taught as ham (what releasing it from the quarantine does) passes next
//! time, a message reported as spam is held next time, and the learned
//! model survives a restart of the filter.

mod roles;

use roles::{message, Outcome, Roles, HAM_BODY, HAM_SUBJECT, SPAM_BODY, SPAM_SUBJECT};

const TO: [&str; 1] = ["<user@example.test>"];

fn delivered() -> Outcome {
    Outcome::Delivered {
        tagged: false,
        removed: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_ham_passes_next_time_reported_spam_is_held_and_both_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let roles = Roles::start(dir.path()).await;
    let spam = message(SPAM_SUBJECT, true, SPAM_BODY);
    let ham = message(HAM_SUBJECT, false, HAM_BODY);

    assert_eq!(
        roles.send(&spam, &TO).await,
        Outcome::Discarded,
        "the shipped model holds the spam"
    );
    let items = roles.quarantined().await;
    assert_eq!(items.len(), 1);
    assert!(
        items[0]
            .reasons
            .iter()
            .any(|r| r.starts_with("CLASSIFIER=")),
        "the reasons are stored with their scores: {:?}",
        items[0].reasons
    );
    roles.teach(false, spam.raw()).await;
    assert_eq!(
        roles.send(&spam, &TO).await,
        delivered(),
        "taught as ham, it passes"
    );

    assert_eq!(roles.send(&ham, &TO).await, delivered());
    roles.teach(true, ham.raw()).await;
    assert_eq!(
        roles.send(&ham, &TO).await,
        Outcome::Discarded,
        "reported as spam, it is held"
    );
    roles.stop().await;

    let model = dir.path().join("filter").join(filter::learn::MODEL_FILE);
    assert!(model.exists(), "the learned model is kept");
    let again = Roles::start(dir.path()).await;
    assert_eq!(
        again.send(&spam, &TO).await,
        delivered(),
        "still ham after a restart"
    );
    assert_eq!(
        again.send(&ham, &TO).await,
        Outcome::Discarded,
        "still spam after a restart"
    );
    again.stop().await;
}
