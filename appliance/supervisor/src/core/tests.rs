use super::*;

const M: Role = Role::Manager;
const F: Role = Role::Filter;
const T: Role = Role::Mta;

fn policy() -> Policy {
    Policy {
        backoff_initial: Duration::from_secs(1),
        backoff_max: Duration::from_secs(8),
        stable_after: Duration::from_secs(60),
        crash_loop_deaths: 5,
        health_timeout: Duration::from_secs(30),
        stop_timeout: Duration::from_secs(10),
    }
}

/// Starts all three roles and returns the supervisor and their instances.
fn started(t0: Instant) -> (Supervisor, [Instance; 3]) {
    let mut s = Supervisor::new(&[M, F, T], policy());
    assert_eq!(s.start(), vec![Action::Spawn(M, 1)]);
    assert!(s.handle(Event::Spawned(M, 1), t0).is_empty());
    assert_eq!(
        s.handle(Event::Healthy(M, 1), t0),
        vec![Action::Spawn(F, 2)]
    );
    s.handle(Event::Spawned(F, 2), t0);
    assert_eq!(
        s.handle(Event::Healthy(F, 2), t0),
        vec![Action::Spawn(T, 3)]
    );
    s.handle(Event::Spawned(T, 3), t0);
    assert_eq!(s.handle(Event::Healthy(T, 3), t0), vec![Action::AllHealthy]);
    (s, [1, 2, 3])
}

#[test]
fn starts_in_order_each_after_the_previous_is_healthy() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(&[M, F, T], policy());
    assert_eq!(s.start(), vec![Action::Spawn(M, 1)]);
    s.handle(Event::Spawned(M, 1), t0);
    // Nothing else starts while the manager is not healthy.
    assert_eq!(s.statuses()[1], (F, Status::Waiting));
    assert_eq!(
        s.handle(Event::Healthy(M, 1), t0),
        vec![Action::Spawn(F, 2)]
    );
    let (s, _) = started(t0);
    assert!(s.statuses().iter().all(|(_, st)| *st == Status::Healthy));
}

#[test]
fn restarts_with_growing_delays_then_declares_a_crash_loop() {
    let t0 = Instant::now();
    let (mut s, [_, f, _]) = started(t0);
    let mut instance = f;
    let mut delays = Vec::new();
    let mut now = t0;
    loop {
        now += Duration::from_secs(2);
        let actions = s.handle(Event::Exited(F, instance, "exit status 1".into()), now);
        match actions.as_slice() {
            [Action::RestartAfter(F, i, d)] => {
                delays.push(*d);
                let spawn = s.handle(Event::RestartDue(F, *i), now + *d);
                let [Action::Spawn(F, next)] = spawn.as_slice() else {
                    panic!("{spawn:?}")
                };
                instance = *next;
                s.handle(Event::Spawned(F, instance), now + *d);
            }
            [Action::CrashLoop(F, 5)] => break,
            other => panic!("{other:?}"),
        }
    }
    let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8]);
    assert_eq!(s.crash_looped(), vec![F]);
    // A crash-looped role is not restarted by a late timer.
    assert!(s.handle(Event::RestartDue(F, instance), now).is_empty());
}

#[test]
fn a_role_that_ran_long_enough_starts_its_count_again() {
    let t0 = Instant::now();
    let (mut s, [m, ..]) = started(t0);
    let a = s.handle(
        Event::Exited(M, m, "killed".into()),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(a, vec![Action::RestartAfter(M, m, Duration::from_secs(1))]);
    let [Action::Spawn(M, m2)] = s.handle(Event::RestartDue(M, m), t0 + Duration::from_secs(2))[..]
    else {
        panic!()
    };
    s.handle(Event::Spawned(M, m2), t0 + Duration::from_secs(2));
    // Second death after a long healthy run: first delay again, not the second.
    let a = s.handle(
        Event::Exited(M, m2, "killed".into()),
        t0 + Duration::from_secs(500),
    );
    assert_eq!(a, vec![Action::RestartAfter(M, m2, Duration::from_secs(1))]);
}

#[test]
fn stale_events_of_an_earlier_instance_are_ignored() {
    let t0 = Instant::now();
    let (mut s, [_, _, t]) = started(t0);
    s.handle(Event::Exited(T, t, "signal 9".into()), t0);
    let [Action::Spawn(T, t2)] = s.handle(Event::RestartDue(T, t), t0)[..] else {
        panic!()
    };
    assert!(s.handle(Event::Healthy(T, t), t0).is_empty());
    assert!(s.handle(Event::Exited(T, t, "again".into()), t0).is_empty());
    assert_eq!(s.statuses()[2], (T, Status::Starting));
    assert!(
        s.handle(Event::Healthy(T, t2), t0).is_empty(),
        "AllHealthy only once"
    );
    assert_eq!(s.statuses()[2], (T, Status::Healthy));
}

#[test]
fn an_unhealthy_start_is_killed_and_counted_as_a_death() {
    let t0 = Instant::now();
    let mut s = Supervisor::new(&[M], policy());
    s.start();
    s.handle(Event::Spawned(M, 1), t0);
    assert_eq!(
        s.handle(Event::HealthTimeout(M, 1), t0),
        vec![Action::Kill(M, 1)]
    );
    assert_eq!(
        s.handle(Event::Exited(M, 1, "signal 9".into()), t0),
        vec![Action::RestartAfter(M, 1, Duration::from_secs(1))]
    );
    // A spawn that fails outright backs off the same way.
    let [Action::Spawn(M, 2)] = s.handle(Event::RestartDue(M, 1), t0)[..] else {
        panic!()
    };
    assert_eq!(
        s.handle(Event::SpawnFailed(M, 2), t0),
        vec![Action::RestartAfter(M, 2, Duration::from_secs(2))]
    );
}

#[test]
fn shutdown_stops_in_reverse_order_one_at_a_time() {
    let t0 = Instant::now();
    let (mut s, [m, f, t]) = started(t0);
    assert_eq!(s.handle(Event::Shutdown, t0), vec![Action::Stop(T, t)]);
    assert_eq!(
        s.handle(Event::Exited(T, t, "exit status 0".into()), t0),
        vec![Action::Stop(F, f)]
    );
    // The filter does not stop in time: it is killed, then the manager stops.
    assert_eq!(
        s.handle(Event::StopTimeout(F, f), t0),
        vec![Action::Kill(F, f)]
    );
    assert_eq!(
        s.handle(Event::Exited(F, f, "signal 9".into()), t0),
        vec![Action::Stop(M, m)]
    );
    assert_eq!(
        s.handle(Event::Exited(M, m, "exit status 0".into()), t0),
        vec![Action::Finished]
    );
}

#[test]
fn shutdown_during_backoff_does_not_restart_and_a_second_request_kills() {
    let t0 = Instant::now();
    let (mut s, [m, f, t]) = started(t0);
    s.handle(Event::Exited(F, f, "exit status 1".into()), t0);
    assert_eq!(s.handle(Event::Shutdown, t0), vec![Action::Stop(T, t)]);
    assert!(s.handle(Event::RestartDue(F, f), t0).is_empty());
    assert_eq!(s.handle(Event::Shutdown, t0), vec![Action::Kill(T, t)]);
    assert_eq!(
        s.handle(Event::Exited(T, t, "signal 9".into()), t0),
        vec![Action::Stop(M, m)]
    );
    assert_eq!(
        s.handle(Event::Exited(M, m, "exit status 0".into()), t0),
        vec![Action::Finished]
    );
}

#[test]
fn shutdown_with_nothing_running_finishes_at_once() {
    let mut s = Supervisor::new(&[M], policy());
    assert_eq!(
        s.handle(Event::Shutdown, Instant::now()),
        vec![Action::Finished]
    );
}
