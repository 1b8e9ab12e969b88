//! Login, first boot, recovery, idle, hang-up.

use model::api::AdminState;

use super::{api_error, T};
use crate::machine::{Action, ApiCall, Failure, Input, Next, Outcome, Secret};

fn set_password(s: &str) -> Action {
    Action::Api(ApiCall::SetPassword(Secret::new(s)))
}

#[test]
fn first_boot_sets_the_password_before_anything_else() {
    let mut t = T::start(false);
    assert!(t.text.starts_with("filterbox "), "{}", t.text);
    assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
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
fn an_unreachable_manager_is_retried_on_enter() {
    let mut t = T::start(false);
    let text = t.reply(Outcome::Failed(Failure::new(
        "cannot reach the manager at manager.sock",
    )));
    assert!(
        text.contains("Cannot check the admin password: cannot reach"),
        "{text}"
    );
    t.asks("Press Enter to try again: ", true);
    t.line("");
    assert_eq!(t.action(), Action::Api(ApiCall::AdminState));
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
    assert!(t.text.contains("Recovery mode"), "{}", t.text);
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
