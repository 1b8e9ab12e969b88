//! Outbound settings of a domain over the real API listeners: the DKIM
//! record to publish, the keys only the box's own processes get, and
//! `PATCH /domains/{name}`.

mod common;

use base64::Engine;
use common::TestManager;
use model::api::{DeliveryServer, DomainUpdate, NewDomain, TlsPolicy};

fn domain(name: &str) -> NewDomain {
    NewDomain {
        provisioning: Default::default(),
        relay_networks: vec!["192.0.2.0/24".into()],
        tls: Default::default(),
        name: name.into(),
        delivery: vec![DeliveryServer {
            host: "127.0.0.1".into(),
            port: 2626,
            priority: 10,
        }],
    }
}

fn status<T: std::fmt::Debug>(r: Result<T, model::client::ClientError>) -> Option<u16> {
    r.err().and_then(|e| e.status())
}

#[test]
fn each_domain_gets_a_dkim_key_whose_private_half_stays_on_the_box() {
    let m = TestManager::start(None);
    let api = m.unix();
    api.create_domain(&domain("Customer.test")).unwrap();
    let record = api.domain_dkim("customer.test").unwrap();
    assert_eq!(record.domain, "customer.test");
    assert_eq!(
        record.name,
        format!("{}._domainkey.customer.test", record.selector)
    );
    let p = record.value.strip_prefix("v=DKIM1; k=rsa; p=").unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(p)
        .expect("p= is base64");
    assert_eq!(status(api.domain_dkim("nothere.test")), Some(404));

    let local = api.directory().unwrap();
    let key = local
        .dkim
        .iter()
        .find(|k| k.domain == "customer.test")
        .expect("the mta's directory carries the key");
    assert_eq!(
        (key.selector.as_str(), key.algorithm.as_str()),
        (record.selector.as_str(), "rsa-sha256")
    );
    let remote = m.tcp(Some(m.token())).directory().unwrap();
    assert!(remote.dkim.is_empty(), "no private key over TCP");
    assert_eq!(remote.domains, local.domains);
    // The record is public: a remote admin may read it.
    assert_eq!(
        m.tcp(Some(m.token())).domain_dkim("customer.test").unwrap(),
        record
    );

    api.delete_domain("customer.test").unwrap();
    assert!(api.directory().unwrap().dkim.is_empty());
}

#[test]
fn patch_changes_given_fields_and_refuses_bad_ones_whole() {
    let m = TestManager::start(None);
    let api = m.unix();
    let created = api.create_domain(&domain("a.test")).unwrap();
    let generation = api.generation().unwrap().generation;
    let update = DomainUpdate {
        tls: Some(TlsPolicy::Required),
        relay_networks: Some(vec!["2001:DB8::/32".into()]),
        ..Default::default()
    };
    let changed = api.update_domain("A.test", &update).unwrap();
    assert_eq!(changed.tls, TlsPolicy::Required);
    assert_eq!(changed.relay_networks, ["2001:db8::/32"]);
    assert_eq!(changed.delivery, created.delivery);
    assert_eq!(api.generation().unwrap().generation, generation + 1);

    let bad = DomainUpdate {
        tls: Some(TlsPolicy::Opportunistic),
        relay_networks: Some(vec!["192.0.2.0".into()]),
        ..Default::default()
    };
    assert_eq!(status(api.update_domain("a.test", &bad)), Some(422));
    assert_eq!(api.domains().unwrap(), vec![changed], "nothing changed");
    assert_eq!(
        status(api.update_domain("b.test", &DomainUpdate::default())),
        Some(404)
    );
    let unknown_field = api.request_raw(
        "PATCH",
        "/api/v1/domains/a.test",
        Some((
            "application/json",
            br#"{"tls":"required","colour":"red"}"#.as_slice(),
        )),
    );
    assert_eq!(unknown_field.unwrap().status, 422);
}
