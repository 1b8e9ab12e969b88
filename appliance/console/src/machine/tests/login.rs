//! Login, first boot, recovery, idle, hang-up.

use model::api::AdminState;

use model::control::ControlRequest;

use super::{api_error, status, unreachable, FIRMWARE_VERSION, T};
use crate::machine::login::{RETRY, WAITING};
use crate::machine::{Action, ApiCall, Console, Failure, Input, Next, Outcome, Secret};

fn set_password(s: &str) -> Action {
    Action::Api(ApiCall::SetPassword(Secret::new(s)))
}

#[test]
fn first_boot_sets_the_password_before_anything_else() {
    let mut t = T::start(false);
    let text = t.reply(Outcome::AdminState(AdminState {
        password_set: false,
    }));
    assert!(text.contains("No admin password is set yet"), "{text}");
    t.asks("New admin password: ", false);

    assert!(t
        .line("short")
        .contains("Too short: at least 8 characters (this one has 5)."));
    t.asks("New admin password: ", false);
    assert!(t
        .line(&"x".repeat(129))
        .contains("Too long: at most 128 characters"));
    t.asks("New admin password: ", false);
    assert!(t.line("").contains("A password is needed"));
    t.asks("New admin password: ", false);

    t.line("first password");
    t.asks("Repeat the new password: ", false);
    assert!(t.line("other password").contains("The two entries differ"));
    t.asks("New admin password: ", false);

    t.line("first password");
    t.line("first password");
    assert_eq!(t.action(), set_password("first password"));
    // The manager's own rules have the last word; its message is shown.
    let text = t.reply(api_error(422, "password: must not be the host name"));
    assert!(text.contains("must not be the host name"), "{text}");
    t.asks("New admin password: ", false);

    t.line("second password");
    t.line("second password");
    assert_eq!(t.action(), set_password("second password"));
    let text = t.reply(Outcome::Ok);
    assert!(
        text.contains("Admin password set") && text.contains(" 1) Status"),
        "{text}"
    );
    t.at_menu();
}

#[test]
fn ctrl_c_at_first_boot_starts_the_screen_again() {
    let mut t = T::start(false);
    t.reply(Outcome::AdminState(AdminState {
        password_set: false,
    }));
    t.line("first password");
    t.send(Input::Interrupt);
    // Not logged in: no menu, the login starts over.
    assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
    t.reply(Outcome::AdminState(AdminState {
        password_set: false,
    }));
    t.asks("New admin password: ", false);
}

#[test]
fn login_right_wrong_and_throttled() {
    let mut t = T::start(false);
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    t.asks("Admin password: ", false);
    // An empty line just asks again, without bothering the manager.
    t.line("");
    t.asks("Admin password: ", false);

    t.line("wrong one");
    assert_eq!(
        t.action(),
        Action::Api(ApiCall::VerifyPassword(Secret::new("wrong one")))
    );
    assert!(t
        .reply(api_error(401, "wrong admin password"))
        .contains("Wrong password."));
    t.asks("Admin password: ", false);

    t.line("guess again");
    let text = t.reply(api_error(
        429,
        "too many wrong passwords; try again in 30 s",
    ));
    assert!(
        text.contains("Too many attempts, try again in 30 s."),
        "{text}"
    );
    t.asks("Admin password: ", false);

    // Ctrl-C at the login: just a new prompt.
    t.send(Input::Interrupt);
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    t.asks("Admin password: ", false);

    t.line("correct horse");
    let text = t.reply(Outcome::Ok);
    assert!(
        text.contains("Logged in.") && text.contains(" 0) Log out"),
        "{text}"
    );
    t.at_menu();
}

#[test]
fn the_header_shows_the_firmware_version_from_the_supervisor() {
    let mut c = Console::new(false);
    let out = c.handle(Input::Start);
    assert_eq!(out.text, "", "nothing before the version is known");
    assert_eq!(
        out.next,
        Next::Perform(Action::Control(ControlRequest::Status))
    );
    let out = c.handle(Input::Done(status(&[])));
    assert_eq!(
        out.text,
        format!("filterbox {FIRMWARE_VERSION} serial console\n")
    );
    assert_eq!(out.next, Next::Perform(Action::Api(ApiCall::AdminState)));

    // No supervisor (a console run by hand): no version rather than this
    // build's, and the console goes on to the login.
    let mut c = Console::new(false);
    c.handle(Input::Start);
    let out = c.handle(Input::Done(unreachable("supervisor")));
    assert_eq!(out.text, "filterbox serial console\n");
    assert!(!out.text.contains(model::VERSION));
    assert_eq!(out.next, Next::Perform(Action::Api(ApiCall::AdminState)));
}

#[test]
fn the_console_waits_for_the_manager_then_goes_on_by_itself() {
    let mut t = T::start(false);
    assert_eq!(t.reply(unreachable("manager")), format!("{WAITING}\n"));
    assert_eq!(t.action(), Action::Sleep(RETRY));
    assert_eq!(RETRY, std::time::Duration::from_secs(1));
    for _ in 0..3 {
        // Once said, the line is not repeated at every attempt.
        assert_eq!(t.reply(Outcome::Ok), "");
        assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
        assert_eq!(t.reply(unreachable("manager")), "");
        assert_eq!(t.action(), Action::Sleep(RETRY));
    }
    t.reply(Outcome::Ok);
    let text = t.reply(Outcome::AdminState(AdminState {
        password_set: false,
    }));
    assert!(text.contains("No admin password is set yet"), "{text}");
    t.asks("New admin password: ", false);

    // Same when a password is set: straight to the login prompt.
    let mut t = T::start(false);
    t.reply(unreachable("manager"));
    t.reply(Outcome::Ok);
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    t.asks("Admin password: ", false);
}

#[test]
fn ctrl_c_while_waiting_asks_the_manager_again_at_once() {
    let mut t = T::start(false);
    t.reply(unreachable("manager"));
    assert_eq!(t.action(), Action::Sleep(RETRY));
    t.send(Input::Interrupt);
    assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
    // A fresh start of the login: it says why it waits again.
    assert_eq!(t.reply(unreachable("manager")), format!("{WAITING}\n"));
    assert_eq!(t.action(), Action::Sleep(RETRY));
    t.send(Input::Interrupt);
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    t.asks("Admin password: ", false);
}

#[test]
fn a_manager_that_answers_with_an_error_is_retried_on_enter() {
    let mut t = T::start(false);
    let text = t.reply(api_error(500, "database unavailable"));
    assert_eq!(
        text,
        "Cannot check the admin password: database unavailable\nPress Enter to try again: "
    );
    t.asks("Press Enter to try again: ", true);
    t.line("");
    assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
    // The manager going away mid-login is said too; Enter, then waiting.
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    t.line("some password");
    let text = t.reply(Outcome::Failed(Failure::unreachable("connection reset")));
    assert!(
        text.contains("Cannot check the admin password: connection reset"),
        "{text}"
    );
    t.line("");
    assert_eq!(t.reply(unreachable("manager")), format!("{WAITING}\n"));
}

#[test]
fn passwords_never_show_in_debug_output() {
    let a = Action::Api(ApiCall::VerifyPassword(Secret::new("hunter22hunter")));
    assert!(!format!("{a:?}").contains("hunter"), "{a:?}");
    let mut t = T::logged_in();
    t.line("5");
    t.line("brand new secret");
    t.line("brand new secret");
    assert!(!format!("{:?} {:?}", t.next, t.c).contains("brand"));
}

#[test]
fn recovery_mode_sets_a_new_password_without_login() {
    let mut t = T::start(true);
    // The manager must be up before a password can be set: wait for it too.
    assert_eq!(t.reply(unreachable("manager")), format!("{WAITING}\n"));
    t.reply(Outcome::Ok);
    let text = t.reply(Outcome::AdminState(AdminState { password_set: true }));
    assert!(text.starts_with("Recovery mode"), "{text}");
    t.asks("New admin password: ", false);
    t.line("recovered pass");
    t.line("recovered pass");
    assert_eq!(t.action(), set_password("recovered pass"));
    let text = t.reply(Outcome::Ok);
    assert!(
        text.contains("Admin password changed.") && text.contains(" 1) Status"),
        "{text}"
    );
    t.at_menu();

    // Ctrl-C keeps the old password and still leads to the menu.
    let mut t = T::start(true);
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    let text = t.send(Input::Interrupt);
    assert!(
        text.contains("Cancelled.") && text.contains(" 1) Status"),
        "{text}"
    );
    t.at_menu();
}

#[test]
fn idle_logs_out_and_a_hang_up_ends_the_session() {
    let mut t = T::logged_in();
    let text = t.send(Input::Idle);
    assert!(
        text.contains("Logged out: no input for too long."),
        "{text}"
    );
    assert_eq!(t.next, Next::Exit);

    // Idle at the login only starts it again.
    let mut t = T::start(false);
    t.reply(Outcome::AdminState(AdminState { password_set: true }));
    t.send(Input::Idle);
    assert_eq!(t.action(), Action::Api(ApiCall::AdminState));

    let mut t = T::logged_in();
    t.line("2");
    assert_eq!(t.send(Input::HangUp), "");
    assert_eq!(t.next, Next::Exit);
    t.line("1");
    assert_eq!(t.next, Next::Exit);
}

#[test]
fn log_out_ends_the_session() {
    let mut t = T::logged_in();
    assert!(t.line("0").contains("Logged out."));
    assert_eq!(t.next, Next::Exit);
}
