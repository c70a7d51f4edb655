//! An interactive login as the CLI shows it. The library blocks in
//! `authenticate` while the user logs in; this module gives it a hook that
//! prints the login URL (and starts the browser unless told not to or
//! headless), and a watcher thread shows the time left (a spinner only when
//! stderr is a terminal). Ctrl-C triggers the call's cancel: the library's
//! wait (login poll, lock, request) returns `Cancelled` at once, having
//! written nothing, and `main` exits with code 130.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hubauth::flow::browser;
use hubauth::flow::login_page::LoginPage;
use hubauth::log::escape;
use hubauth::{Cancel, HookAction, Options};

/// The cancel SIGINT triggers (set once, before the handler is installed).
static CANCEL: OnceLock<Cancel> = OnceLock::new();

extern "C" fn on_sigint(_signal: libc::c_int) {
    // OnceLock::get is an atomic load; trigger is async-signal-safe.
    if let Some(cancel) = CANCEL.get() {
        cancel.trigger();
    }
}

/// Makes Ctrl-C cancel calls with `options`. Without a cancel (no pipe
/// left), SIGINT keeps its default action: the process ends at once, which
/// leaves no half-written file either (files are replaced atomically).
fn cancel_on_sigint(options: &mut Options) {
    let cancel = match CANCEL.get() {
        Some(cancel) => cancel.clone(),
        None => match Cancel::new() {
            Ok(cancel) => CANCEL.get_or_init(|| cancel).clone(),
            Err(_) => return,
        },
    };
    options.set_cancel(Some(cancel));
    // SAFETY: a zeroed sigaction is valid; the handler only triggers the cancel.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
    }
}

const TICK: Duration = Duration::from_millis(100);
const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

struct Shared {
    tty: bool,
    stop: AtomicBool,
    /// The hook ran: a login was started.
    prompted: AtomicBool,
    /// While a login waits for the user: until when. Also serialises drawing.
    screen: Mutex<Screen>,
    /// The pages the browser was sent to, removed when the session finishes.
    pages: Mutex<Vec<LoginPage>>,
}

#[derive(Default)]
struct Screen {
    waiting_until: Option<Instant>,
    /// A spinner line is on the terminal.
    drawn: bool,
}

impl Shared {
    fn screen(&self) -> MutexGuard<'_, Screen> {
        self.screen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The hook: show the URL, open the browser, start the countdown.
    fn prompt(&self, url: &str, no_browser: bool, timeout: Duration) {
        let mut screen = self.screen();
        let mut err = std::io::stderr().lock();
        if screen.drawn {
            let _ = write!(err, "\r\x1b[2K");
            screen.drawn = false;
        }
        // The URL and its code come from the server: shown escaped (the
        // code is percent-decoded, so `%1B` would be a raw ESC).
        let _ = writeln!(
            err,
            "hubauth: open this page to log in:\n    {}",
            escape(url)
        );
        if let Some(code) = user_code_in(url) {
            let _ = writeln!(err, "hubauth: it should show the code {}", escape(&code));
        }
        let opener = browser::opener().filter(|_| can_show_a_browser());
        let open = !no_browser && opener.is_some();
        let redirect_port = redirect_port_in(url);
        if open {
            let _ = writeln!(err, "hubauth: opening it in your browser…");
            if let Some(page) = browser::launch_opener(url) {
                self.pages
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(page);
            }
        } else if !no_browser {
            let _ = writeln!(
                err,
                "hubauth: no browser can be opened here (no DISPLAY or WAYLAND_DISPLAY): \
                 open the page on any device"
            );
        }
        match redirect_port {
            // The browser login ends at a redirect to this machine.
            Some(port) if !open => {
                let _ = writeln!(
                    err,
                    "hubauth: the page sends the browser back to http://127.0.0.1:{port}/ on \
                     this machine; from another one, forward that port first \
                     (`ssh -L {port}:127.0.0.1:{port} HOST`), or log in with `--flow device`"
                );
            }
            Some(_) => {}
            None if self.tty => {
                let columns = crate::qr::terminal_columns().unwrap_or(80);
                if let Some(code) = crate::qr::render(url, columns) {
                    let _ = write!(err, "hubauth: or scan it:\n{code}");
                }
            }
            None => {}
        }
        if !self.tty {
            let _ = writeln!(
                err,
                "hubauth: waiting up to {} for the login to be approved (Ctrl-C cancels)",
                duration(timeout)
            );
        }
        screen.waiting_until = Some(Instant::now() + timeout);
        self.prompted.store(true, Ordering::SeqCst);
    }

    fn clear(&self) {
        let mut screen = self.screen();
        if screen.drawn {
            eprint!("\r\x1b[2K");
            screen.drawn = false;
        }
    }

    /// Draws the spinner and the time left, the cursor back at the start of
    /// the line (so a message the library prints overwrites it cleanly).
    fn draw(&self, frame: usize) {
        let mut screen = self.screen();
        let Some(until) = screen.waiting_until else {
            return;
        };
        let left = until.saturating_duration_since(Instant::now());
        eprint!(
            "\r\x1b[2K{} Waiting for the login to be approved… {} left (Ctrl-C cancels)\r",
            FRAMES[frame % FRAMES.len()],
            duration(left)
        );
        screen.drawn = true;
    }
}

/// The watcher: spinner ticks and Ctrl-C.
fn watch(shared: Arc<Shared>) {
    let mut frame = 0;
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            shared.clear();
            return;
        }
        if shared.tty {
            shared.draw(frame);
            frame += 1;
        }
        std::thread::sleep(TICK);
    }
}

/// A login in progress: the hook is set on the options, the watcher runs until
/// [`Session::finish`].
pub struct Session {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Session {
    pub fn start(options: &mut Options, no_browser: bool) -> Session {
        cancel_on_sigint(options);
        let shared = Arc::new(Shared {
            tty: std::io::stderr().is_terminal(),
            stop: AtomicBool::new(false),
            prompted: AtomicBool::new(false),
            screen: Mutex::new(Screen::default()),
            pages: Mutex::new(Vec::new()),
        });
        let timeout = options.timeout;
        let hook_shared = shared.clone();
        options.set_hook(Some(Arc::new(move |url: &str| {
            hook_shared.prompt(url, no_browser, timeout);
            HookAction::Continue
        })));
        let watcher = shared.clone();
        let thread = std::thread::Builder::new()
            .name("hubauth-progress".into())
            .spawn(move || watch(watcher))
            .ok();
        Session { shared, thread }
    }

    /// Stops the progress display; true when a login was started.
    pub fn finish(mut self) -> bool {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared
            .pages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.shared.prompted.load(Ordering::SeqCst)
    }
}

/// Whether a browser can appear here: a desktop (macOS, WSL's Windows) or a
/// display (X11, Wayland), or a `BROWSER` the opener would run. Elsewhere
/// (an SSH session, a container) the opener could only start a text browser
/// on the terminal the login is waiting on.
fn can_show_a_browser() -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    cfg!(target_os = "macos")
        || browser::is_wsl()
        || set("DISPLAY")
        || set("WAYLAND_DISPLAY")
        || set("BROWSER")
}

/// The port of a browser login's `redirect_uri` on 127.0.0.1 (or localhost).
fn redirect_port_in(url: &str) -> Option<u16> {
    let url = url::Url::parse(url).ok()?;
    let (_, redirect) = url.query_pairs().find(|(key, _)| key == "redirect_uri")?;
    let redirect = url::Url::parse(&redirect).ok()?;
    match redirect.host_str()? {
        "127.0.0.1" | "localhost" | "[::1]" => redirect.port(),
        _ => None,
    }
}

/// The `user_code` a device-flow URL carries, for the user to compare.
fn user_code_in(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    url.query_pairs()
        .find(|(key, _)| key == "user_code")
        .map(|(_, value)| value.into_owned())
        .filter(|code| !code.is_empty() && code.len() <= 64)
}

/// "2m 05s", "45s", "1h 02m".
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_port_is_read_only_from_a_loopback_redirect() {
        let login = |redirect: &str| {
            let mut url = url::Url::parse("https://id.example.org/auth?client_id=cli").unwrap();
            url.query_pairs_mut().append_pair("redirect_uri", redirect);
            redirect_port_in(url.as_str())
        };
        assert_eq!(login("http://127.0.0.1:8765/callback"), Some(8765));
        assert_eq!(login("http://localhost:8765/callback"), Some(8765));
        assert_eq!(login("https://hub.example.org:8765/callback"), None);
        assert_eq!(
            redirect_port_in("http://127.0.0.1:1/auth/device?user_code=AB"),
            None
        );
    }
}
