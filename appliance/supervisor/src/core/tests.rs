use super::*;

const M: &str = "manager";
const F: &str = "filter";
const T: &str = "mta";
const D: &str = "udhcpc-eth0";

fn policy() -> Policy {
    Policy {
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(8),
        stable_after: Duration::from_secs(60),
        crash_loop_deaths: 5,
        health_timeout: Duration::from_secs(30),
        stop_timeout: Duration::from_secs(10),
        service_settle: Duration::from_secs(2),
        liveness_failures: 3,
    }
}

const ROLES: [Role; 3] = [Role::Manager, Role::Filter, Role::Mta];

fn s(x: &str) -> String {
    x.to_string()
}

fn spawn(n: &str, i: Instance) -> Action {
    Action::Spawn(s(n), i)
}

/// Feeds `Spawned` and checks the follow-up is a health probe.
fn spawned(sup: &mut Supervisor, n: &str, i: Instance, now: Instant) {
    assert_eq!(
        sup.handle(Event::Spawned(s(n), i, 1000 + i as u32), now),
        vec![Action::Probe(s(n), i)]
    );
}

/// Starts all three roles and returns the supervisor and their instances.
fn started(t0: Instant) -> (Supervisor, [Instance; 3]) {
    let mut sup = Supervisor::new(&ROLES, &[], policy());
    assert_eq!(sup.start(), vec![spawn(M, 1)]);
    spawned(&mut sup, M, 1, t0);
    assert_eq!(sup.handle(Event::Healthy(s(M), 1), t0), vec![spawn(F, 2)]);
    spawned(&mut sup, F, 2, t0);
    assert_eq!(sup.handle(Event::Healthy(s(F), 2), t0), vec![spawn(T, 3)]);
    spawned(&mut sup, T, 3, t0);
    assert_eq!(
        sup.handle(Event::Healthy(s(T), 3), t0),
        vec![Action::AllHealthy]
    );
    (sup, [1, 2, 3])
}

fn state(sup: &Supervisor, name: &str) -> Status {
    sup.statuses()
        .into_iter()
        .find(|u| u.name == name)
        .map(|u| u.status)
        .expect("unit exists")
}

#[test]
fn starts_in_order_each_after_the_previous_is_healthy() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&ROLES, &[], policy());
    assert_eq!(sup.start(), vec![spawn(M, 1)]);
    spawned(&mut sup, M, 1, t0);
    // Nothing else starts while the manager is not healthy.
    assert_eq!(state(&sup, F), Status::Waiting);
    assert_eq!(sup.handle(Event::Healthy(s(M), 1), t0), vec![spawn(F, 2)]);
    let (sup, _) = started(t0);
    assert!(sup.statuses().iter().all(|u| u.status == Status::Healthy));
    assert_eq!(sup.statuses()[0].pid, Some(1001));
}

#[test]
fn services_start_at_once_and_settle_into_healthy() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&ROLES, &[s(D)], policy());
    // The service is not gated by the manager's health.
    assert_eq!(sup.start(), vec![spawn(M, 1), spawn(D, 2)]);
    assert_eq!(
        sup.handle(Event::Spawned(s(D), 2, 77), t0),
        vec![Action::SettleAfter(s(D), 2, Duration::from_secs(2))]
    );
    assert!(sup.handle(Event::Healthy(s(D), 2), t0).is_empty());
    assert_eq!(state(&sup, D), Status::Healthy);
    // A healthy service does not make the roles healthy.
    assert!(!sup.feed_ok());
    let kinds: Vec<Kind> = sup.statuses().iter().map(|u| u.kind).collect();
    assert_eq!(
        kinds,
        vec![Kind::Role, Kind::Role, Kind::Role, Kind::Service]
    );
}

#[test]
fn no_roles_means_all_healthy_at_start() {
    let mut sup = Supervisor::new(&[], &[s(D)], policy());
    assert_eq!(sup.start(), vec![spawn(D, 1), Action::AllHealthy]);
}

#[test]
fn restarts_with_growing_delays_then_declares_a_crash_loop() {
    let t0 = Instant::now();
    let (mut sup, [_, f, _]) = started(t0);
    let mut instance = f;
    let mut delays = Vec::new();
    let mut now = t0;
    loop {
        now += Duration::from_secs(2);
        let actions = sup.handle(Event::Exited(s(F), instance, "exit status 1".into()), now);
        match actions.as_slice() {
            [Action::RestartAfter(n, i, d)] if n == F => {
                delays.push(*d);
                let respawn = sup.handle(Event::RestartDue(s(F), *i), now + *d);
                let [Action::Spawn(_, next)] = respawn.as_slice() else {
                    panic!("{respawn:?}")
                };
                instance = *next;
                spawned(&mut sup, F, instance, now + *d);
            }
            [Action::CrashLoop(n, 5)] if n == F => break,
            other => panic!("{other:?}"),
        }
    }
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8]);
    assert_eq!(sup.crash_looped(), vec![s(F)]);
    let filter = &sup.statuses()[1];
    assert_eq!((filter.restarts, filter.pid), (4, None));
    assert_eq!(filter.status.as_str(), "crash-loop");
    // A crash-looped unit is not restarted by a late timer.
    assert!(sup
        .handle(Event::RestartDue(s(F), instance), now)
        .is_empty());
}

#[test]
fn a_crashing_service_backs_off_like_a_role() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&[], &[s(D)], policy());
    sup.start();
    sup.handle(Event::Spawned(s(D), 1, 5), t0);
    assert_eq!(
        sup.handle(Event::Exited(s(D), 1, "exit status 3".into()), t0),
        vec![Action::RestartAfter(s(D), 1, Duration::from_secs(1))]
    );
    assert_eq!(state(&sup, D), Status::Backoff);
    assert_eq!(
        sup.handle(Event::RestartDue(s(D), 1), t0),
        vec![spawn(D, 2)]
    );
    assert_eq!(sup.statuses()[0].restarts, 1);
}

#[test]
fn a_unit_that_ran_long_enough_starts_its_count_again() {
    let t0 = Instant::now();
    let (mut sup, [m, ..]) = started(t0);
    let a = sup.handle(
        Event::Exited(s(M), m, "killed".into()),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(
        a,
        vec![Action::RestartAfter(s(M), m, Duration::from_secs(1))]
    );
    let a = sup.handle(Event::RestartDue(s(M), m), t0 + Duration::from_secs(2));
    let [Action::Spawn(_, m2)] = a[..] else {
        panic!("{a:?}")
    };
    spawned(&mut sup, M, m2, t0 + Duration::from_secs(2));
    // Second death after a long run: first delay again, not the second.
    let a = sup.handle(
        Event::Exited(s(M), m2, "killed".into()),
        t0 + Duration::from_secs(500),
    );
    assert_eq!(
        a,
        vec![Action::RestartAfter(s(M), m2, Duration::from_secs(1))]
    );
}

#[test]
fn stale_events_of_an_earlier_instance_are_ignored() {
    let t0 = Instant::now();
    let (mut sup, [_, _, t]) = started(t0);
    sup.handle(Event::Exited(s(T), t, "signal 9".into()), t0);
    let a = sup.handle(Event::RestartDue(s(T), t), t0);
    let [Action::Spawn(_, t2)] = a[..] else {
        panic!("{a:?}")
    };
    assert!(sup.handle(Event::Healthy(s(T), t), t0).is_empty());
    assert!(sup
        .handle(Event::Exited(s(T), t, "again".into()), t0)
        .is_empty());
    assert!(sup.handle(Event::Alive(s(T), t, false), t0).is_empty());
    assert_eq!(state(&sup, T), Status::Starting);
    assert!(
        sup.handle(Event::Healthy(s(T), t2), t0).is_empty(),
        "AllHealthy only once"
    );
    assert_eq!(state(&sup, T), Status::Healthy);
    // Events about units nobody supervises are ignored too.
    assert!(sup.handle(Event::Healthy(s("ghost"), 1), t0).is_empty());
}

#[test]
fn an_unhealthy_start_is_killed_and_counted_as_a_death() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&[Role::Manager], &[], policy());
    sup.start();
    spawned(&mut sup, M, 1, t0);
    assert_eq!(
        sup.handle(Event::HealthTimeout(s(M), 1), t0),
        vec![Action::Kill(s(M), 1)]
    );
    assert_eq!(
        sup.handle(Event::Exited(s(M), 1, "signal 9".into()), t0),
        vec![Action::RestartAfter(s(M), 1, Duration::from_secs(1))]
    );
    // A spawn that fails outright backs off the same way.
    assert_eq!(
        sup.handle(Event::RestartDue(s(M), 1), t0),
        vec![spawn(M, 2)]
    );
    assert_eq!(
        sup.handle(Event::SpawnFailed(s(M), 2), t0),
        vec![Action::RestartAfter(s(M), 2, Duration::from_secs(2))]
    );
}

#[test]
fn shutdown_stops_roles_in_reverse_order_then_the_services() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&ROLES, &[s(D), s("ntpd")], policy());
    sup.start();
    sup.handle(Event::Spawned(s(D), 2, 1), t0);
    sup.handle(Event::Spawned(s("ntpd"), 3, 2), t0);
    spawned(&mut sup, M, 1, t0);
    sup.handle(Event::Healthy(s(M), 1), t0);
    spawned(&mut sup, F, 4, t0);
    // The mta never started: the filter is the last role running.
    assert_eq!(sup.handle(Event::Shutdown, t0), vec![Action::Stop(s(F), 4)]);
    assert_eq!(
        sup.handle(Event::Exited(s(F), 4, "exit status 0".into()), t0),
        vec![Action::Stop(s(M), 1)]
    );
    // The filter does not stop in time: it is killed, then the services stop together.
    assert_eq!(
        sup.handle(Event::StopTimeout(s(M), 1), t0),
        vec![Action::Kill(s(M), 1)]
    );
    assert_eq!(
        sup.handle(Event::Exited(s(M), 1, "signal 9".into()), t0),
        vec![Action::Stop(s(D), 2), Action::Stop(s("ntpd"), 3)]
    );
    assert!(sup
        .handle(Event::Exited(s(D), 2, "exit status 0".into()), t0)
        .is_empty());
    assert_eq!(
        sup.handle(Event::Exited(s("ntpd"), 3, "exit status 0".into()), t0),
        vec![Action::Finished]
    );
    assert!(sup.statuses().iter().all(|u| u.status == Status::Stopped));
}

#[test]
fn shutdown_of_all_roles_one_at_a_time() {
    let t0 = Instant::now();
    let (mut sup, [m, f, t]) = started(t0);
    assert_eq!(sup.handle(Event::Shutdown, t0), vec![Action::Stop(s(T), t)]);
    assert_eq!(
        sup.handle(Event::Exited(s(T), t, "exit status 0".into()), t0),
        vec![Action::Stop(s(F), f)]
    );
    assert_eq!(
        sup.handle(Event::Exited(s(F), f, "exit status 0".into()), t0),
        vec![Action::Stop(s(M), m)]
    );
    assert_eq!(
        sup.handle(Event::Exited(s(M), m, "exit status 0".into()), t0),
        vec![Action::Finished]
    );
}

#[test]
fn shutdown_during_backoff_does_not_restart_and_a_second_request_kills() {
    let t0 = Instant::now();
    let (mut sup, [m, f, t]) = started(t0);
    sup.handle(Event::Exited(s(F), f, "exit status 1".into()), t0);
    assert_eq!(sup.handle(Event::Shutdown, t0), vec![Action::Stop(s(T), t)]);
    assert!(sup.handle(Event::RestartDue(s(F), f), t0).is_empty());
    assert_eq!(sup.handle(Event::Shutdown, t0), vec![Action::Kill(s(T), t)]);
    assert_eq!(
        sup.handle(Event::Exited(s(T), t, "signal 9".into()), t0),
        vec![Action::Stop(s(M), m)]
    );
    assert_eq!(
        sup.handle(Event::Exited(s(M), m, "exit status 0".into()), t0),
        vec![Action::Finished]
    );
}

#[test]
fn shutdown_with_nothing_running_finishes_at_once() {
    let mut sup = Supervisor::new(&[Role::Manager], &[], policy());
    assert_eq!(
        sup.handle(Event::Shutdown, Instant::now()),
        vec![Action::Finished]
    );
}

#[test]
fn an_unresponsive_role_is_killed_after_three_failed_probes() {
    let t0 = Instant::now();
    let (mut sup, [_, _, t]) = started(t0);
    assert!(sup.feed_ok());
    assert_eq!(sup.liveness_targets().len(), 3);
    assert!(sup.handle(Event::Alive(s(T), t, false), t0).is_empty());
    assert!(!sup.feed_ok(), "no feeding while a role fails its probes");
    // An answer in between starts the count again.
    sup.handle(Event::Alive(s(T), t, true), t0);
    assert!(sup.feed_ok());
    sup.handle(Event::Alive(s(T), t, false), t0);
    sup.handle(Event::Alive(s(T), t, false), t0);
    assert_eq!(
        sup.handle(Event::Alive(s(T), t, false), t0),
        vec![Action::Unresponsive(s(T), 3), Action::Kill(s(T), t)]
    );
    // Killed: the normal restart path; no feeding until it is healthy again.
    let later = t0 + Duration::from_secs(600);
    assert_eq!(
        sup.handle(Event::Exited(s(T), t, "killed by SIGKILL".into()), later),
        vec![Action::RestartAfter(s(T), t, Duration::from_secs(1))]
    );
    assert!(!sup.feed_ok());
    assert_eq!(sup.liveness_targets().len(), 2);
    let a = sup.handle(Event::RestartDue(s(T), t), later);
    let [Action::Spawn(_, t2)] = a[..] else {
        panic!("{a:?}")
    };
    spawned(&mut sup, T, t2, later);
    sup.handle(Event::Healthy(s(T), t2), later);
    assert!(sup.feed_ok());
}

#[test]
fn no_liveness_probes_or_feeding_before_all_roles_were_healthy_or_while_stopping() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&ROLES, &[], policy());
    sup.start();
    spawned(&mut sup, M, 1, t0);
    sup.handle(Event::Healthy(s(M), 1), t0);
    assert!(sup.liveness_targets().is_empty());
    assert!(!sup.feed_ok());
    let (mut sup, _) = started(t0);
    sup.handle(Event::Shutdown, t0);
    assert!(sup.liveness_targets().is_empty());
    assert!(!sup.feed_ok());
}

#[test]
fn changed_services_are_added_restarted_and_retired() {
    let t0 = Instant::now();
    let mut sup = Supervisor::new(&[], &[s(D), s("ntpd")], policy());
    sup.start();
    sup.handle(Event::Spawned(s(D), 1, 10), t0);
    sup.handle(Event::Spawned(s("ntpd"), 2, 11), t0);
    // eth0 is no longer DHCP, eth1 is; ntpd has new servers.
    let wanted = [s("ntpd"), s("udhcpc-eth1")];
    assert_eq!(
        sup.set_services(&wanted, &[s("ntpd")]),
        vec![
            Action::Stop(s(D), 1),
            Action::Stop(s("ntpd"), 2),
            spawn("udhcpc-eth1", 3)
        ]
    );
    // The retired one is forgotten once it exits; the changed one comes back at once.
    assert!(sup
        .handle(Event::Exited(s(D), 1, "exit status 0".into()), t0)
        .is_empty());
    assert_eq!(
        sup.handle(Event::Exited(s("ntpd"), 2, "exit status 0".into()), t0),
        vec![spawn("ntpd", 4)]
    );
    let names: Vec<String> = sup.statuses().into_iter().map(|u| u.name).collect();
    assert_eq!(names, vec![s("ntpd"), s("udhcpc-eth1")]);
    assert!(sup.crash_looped().is_empty());
    // A crash-looped service is given a fresh start when its command changes.
    let mut sup = Supervisor::new(&[], &[s(D)], policy());
    sup.start();
    for i in 1..=5 {
        if i > 1 {
            sup.handle(Event::RestartDue(s(D), i - 1), t0);
        }
        sup.handle(Event::Exited(s(D), i, "exit status 1".into()), t0);
    }
    assert_eq!(sup.crash_looped(), vec![s(D)]);
    assert_eq!(sup.set_services(&[s(D)], &[s(D)]), vec![spawn(D, 6)]);
    // And set_services does nothing once shutting down.
    sup.handle(Event::Shutdown, t0);
    assert!(sup.set_services(&[], &[]).is_empty());
}
