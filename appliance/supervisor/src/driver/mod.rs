//! The driver: carries out the decisions of [`crate::core::Supervisor`] with
//! processes, timers, health probes, signals and the control socket.
//!
//! Everything that changes state happens in one loop ([`Driver::run`]):
//! spawning (so a pid is recorded before its exit can be seen), reaping on
//! SIGCHLD, events from helper tasks (probes, timers), control requests and
//! signals. One *run* starts every unit from `system.json` and ends when all
//! have stopped; in host mode a reboot or factory reset is a new run.

mod datadir;
mod firmware;
mod network;
mod requests;
mod units;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::config::SystemConfig;
use model::network::NetworkConfig;
use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, Signal as Stream, SignalKind};
use tokio::sync::mpsc;

use crate::control::{Call, ControlServer};
use crate::core::{finale, Action, Event, Finale, Mode, Request, Supervisor};
use crate::init::cmdline::KernelCmdline;
use crate::listeners::MtaListeners;
use crate::privileges::Privileges;
use crate::reaper::{reap, Scope};
use crate::watchdog::Watchdog;
use crate::{CommonArgs, SupervisorError};

use units::{Running, UnitCommand};

/// Events in flight between the helper tasks and the loop.
const EVENT_QUEUE: usize = 256;

/// Pause between two liveness probes of the healthy roles (with a watchdog).
const LIVENESS_INTERVAL: Duration = Duration::from_secs(2);

/// What outlives one run: the process's mode, signals, watchdog, logbook.
pub(crate) struct Context {
    /// Host or init.
    pub mode: Mode,
    /// The data directory and the command-line overrides.
    pub args: CommonArgs,
    /// The absolute data directory.
    pub data_dir: PathBuf,
    /// This executable, started as the roles.
    pub exe: PathBuf,
    /// The kernel command line (boot slot, recovery).
    pub cmdline: KernelCmdline,
    /// When the supervisor started.
    pub started: Instant,
    /// The hardware watchdog, once opened.
    pub watchdog: Option<Watchdog>,
    /// The network settings in force (applied by us), if any.
    pub network: Option<NetworkConfig>,
    /// The firmware slots and updates.
    pub updater: Arc<update::Updater>,
    /// This boot was marked good (done once, when every role is healthy).
    pub boot_marked: bool,
    signals: Signals,
    watchdog_opened: bool,
}

struct Signals {
    term: Stream,
    int: Stream,
    child: Stream,
    usr1: Option<Stream>,
    usr2: Option<Stream>,
}

/// How a run of the supervisor ended.
pub(crate) struct Outcome {
    /// What to do now that everything stopped.
    pub finale: Finale,
    /// Units given up after a crash loop.
    pub crash_looped: Vec<String>,
}

impl Context {
    /// Installs the signal handlers (before any child exists, so no exit is
    /// missed) and, as init, makes halting and powering off signals.
    pub fn new(mode: Mode, args: CommonArgs) -> Result<Context, SupervisorError> {
        let sig = |kind| signal(kind).map_err(SupervisorError::Signals);
        let signals = Signals {
            term: sig(SignalKind::terminate())?,
            int: sig(SignalKind::interrupt())?,
            child: sig(SignalKind::child())?,
            usr1: (mode == Mode::Init)
                .then(|| sig(SignalKind::user_defined1()))
                .transpose()?,
            usr2: (mode == Mode::Init)
                .then(|| sig(SignalKind::user_defined2()))
                .transpose()?,
        };
        if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
            log::warn!("cannot become a child subreaper: {e}");
        }
        let data_dir = args.data_dir()?;
        let (layout, usb) = firmware::layout(mode, &data_dir);
        let updater = Arc::new(update::Updater::new(layout));
        if usb {
            firmware::watch_usb(updater.clone());
        }
        Ok(Context {
            mode,
            data_dir,
            args,
            exe: std::env::current_exe().map_err(SupervisorError::SelfExe)?,
            cmdline: KernelCmdline::read(),
            started: Instant::now(),
            watchdog: None,
            network: None,
            updater,
            boot_marked: false,
            signals,
            watchdog_opened: false,
        })
    }

    /// Runs until a stop that is not a restart: in host mode a reboot or a
    /// factory reset starts everything again.
    pub async fn supervise(&mut self) -> Result<Outcome, SupervisorError> {
        firmware::check_boot(self).await;
        loop {
            let outcome = Driver::run(self).await?;
            match outcome.finale {
                Finale::Restart => log::info!("restarting: reading system.json again"),
                Finale::ResetAndRestart => {
                    datadir::factory_reset(&self.data_dir, self.mode)?;
                    self.network = None;
                }
                _ => return Ok(outcome),
            }
        }
    }
}

/// What a helper task tells the loop.
enum Msg {
    Event(Event),
    Network(network::Done),
    Firmware(firmware::Done),
}

/// Why the loop woke up.
enum Wake {
    Msg(Msg),
    Call(Call),
    Child,
    Signal(Signal),
    Liveness,
    Feed,
}

/// The state of one run.
struct Driver<'a> {
    ctx: &'a mut Context,
    config: Arc<SystemConfig>,
    sup: Supervisor,
    commands: HashMap<String, UnitCommand>,
    running: HashMap<String, Running>,
    pids: HashMap<u32, String>,
    probing: HashSet<String>,
    privileges: Option<Privileges>,
    mta_listeners: Option<MtaListeners>,
    tx: mpsc::Sender<Msg>,
    pending: VecDeque<Event>,
    /// Library calls that wait for their own children are running: reap
    /// only our pids meanwhile.
    foreign_children: usize,
    finale: Option<Finale>,
}

impl Driver<'_> {
    async fn run(ctx: &mut Context) -> Result<Outcome, SupervisorError> {
        let (config, privileges) = datadir::load(ctx)?;
        let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
        let (_server, mut calls) =
            ControlServer::bind(&config.control_socket, privileges.as_ref().map(|p| p.group))
                .map_err(|source| SupervisorError::ControlSocket {
                    path: config.control_socket.clone(),
                    source,
                })?;
        if !ctx.watchdog_opened {
            ctx.watchdog_opened = true;
            ctx.watchdog = config
                .watchdog
                .as_ref()
                .and_then(|w| Watchdog::open(&w.device));
        }
        let feed_every = config
            .watchdog
            .as_ref()
            .map_or(Duration::from_secs(3600), |w| {
                Duration::from_secs(w.interval_secs.max(1))
            });
        let liveness_on = config.watchdog.is_some();
        network::apply_at_boot(ctx, &config);
        let (sup, commands) = units::plan(ctx, &config);
        let mut driver = Driver {
            ctx,
            config: Arc::new(config),
            sup,
            commands,
            running: HashMap::new(),
            pids: HashMap::new(),
            probing: HashSet::new(),
            privileges,
            mta_listeners: None,
            tx,
            pending: VecDeque::new(),
            foreign_children: 0,
            finale: None,
        };
        let mut feed = tokio::time::interval(feed_every);
        let mut liveness = tokio::time::interval(LIVENESS_INTERVAL);
        for timer in [&mut feed, &mut liveness] {
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        let mut actions = driver.sup.start();
        loop {
            for action in actions.drain(..) {
                if action == Action::Finished {
                    return Ok(driver.finish());
                }
                driver.execute(action);
            }
            if let Some(event) = driver.pending.pop_front() {
                driver.note(&event);
                actions = driver.sup.handle(event, Instant::now());
                continue;
            }
            let signals = &mut driver.ctx.signals;
            let wake = tokio::select! {
                Some(msg) = rx.recv() => Wake::Msg(msg),
                Some(call) = calls.recv() => Wake::Call(call),
                _ = signals.child.recv() => Wake::Child,
                _ = signals.term.recv() => Wake::Signal(Signal::SIGTERM),
                _ = signals.int.recv() => Wake::Signal(Signal::SIGINT),
                Some(_) = recv(&mut signals.usr1) => Wake::Signal(Signal::SIGUSR1),
                Some(_) = recv(&mut signals.usr2) => Wake::Signal(Signal::SIGUSR2),
                _ = liveness.tick(), if liveness_on => Wake::Liveness,
                _ = feed.tick(), if driver.ctx.watchdog.is_some() => Wake::Feed,
            };
            match wake {
                Wake::Msg(Msg::Event(event)) => {
                    if let Event::Alive(name, ..) = &event {
                        driver.probing.remove(name);
                    }
                    driver.pending.push_back(event);
                }
                Wake::Msg(Msg::Network(done)) => actions = driver.network_done(done),
                Wake::Msg(Msg::Firmware(done)) => driver.firmware_done(done),
                Wake::Call(call) => driver.on_call(call).await,
                Wake::Child => driver.reap(),
                Wake::Signal(signal) => driver.on_stop_request(Request::Signal(signal)),
                Wake::Liveness => driver.probe_liveness(),
                Wake::Feed => driver.feed(),
            }
        }
    }

    fn finish(&mut self) -> Outcome {
        log::info!("all roles stopped");
        Outcome {
            finale: self.finale.unwrap_or(Finale::Exit),
            crash_looped: self.sup.crash_looped(),
        }
    }

    /// Collects ended children: ours become `Exited` events, others are
    /// orphans, reaped and forgotten.
    fn reap(&mut self) {
        let known: Vec<u32> = self.pids.keys().copied().collect();
        let scope = if self.foreign_children > 0 {
            Scope::Only(&known)
        } else {
            Scope::All
        };
        for (pid, how) in reap(scope) {
            let Some(name) = self.pids.remove(&pid) else {
                log::debug!("reaped orphan pid {pid} ({how})");
                continue;
            };
            if let Some(r) = self.running.remove(&name) {
                r.exited.store(true, std::sync::atomic::Ordering::Relaxed);
                self.pending.push_back(Event::Exited(name, r.instance, how));
            }
        }
    }

    /// A signal or control request to stop: the first one starts an ordered
    /// stop, another one makes it forceful.
    fn on_stop_request(&mut self, request: Request) {
        let Some(wanted) = finale(self.ctx.mode, request) else {
            log::info!("{request:?} means nothing here; ignored");
            return;
        };
        match request {
            Request::Signal(s) => log::info!("{s} received: stopping the roles in reverse order"),
            other => log::info!("{other:?} requested: stopping the roles in reverse order"),
        }
        if self.finale.is_none() {
            self.finale = Some(wanted);
        }
        self.pending.push_back(Event::Shutdown);
    }

    /// Feeds the watchdog while every role answers; as init, also while
    /// stopping, until reboot(2).
    fn feed(&self) {
        let stopping_as_init = self.ctx.mode == Mode::Init && self.finale.is_some();
        if let Some(w) = &self.ctx.watchdog {
            if self.sup.feed_ok() || stopping_as_init {
                w.feed();
            }
        }
    }
}

async fn recv(stream: &mut Option<Stream>) -> Option<()> {
    match stream {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}
