//! Nothing is left when pods and networks go: at the end of a test, after a panic, and after
//! a run that was killed.

use std::io::{BufRead as _, BufReader, Write as _};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use pod_sim::{cleanup_stale, Pod, PodNetwork};

use crate::support::{gone, nothing_left_of, pods_available, soon};

/// Set for the child process of [`leftovers_of_a_killed_run_are_removed`].
const HOLDER_ENV: &str = "POD_SIM_TEST_HOLD_A_NETWORK";

#[test]
fn everything_is_removed_when_a_test_panics() {
    if !pods_available("cleanup after a panic") {
        return;
    }
    let made: Mutex<Option<(String, Child)>> = Mutex::new(None);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let network = PodNetwork::create().expect("a pod network");
        let pod = Pod::create(&network, "web", 0).expect("a pod");
        let _other = Pod::create(&network, "web", 1).expect("another pod");
        let sleeper = pod.command("sleep").arg("600").spawn().expect("a process in the pod");
        *made.lock().unwrap() = Some((network.name().to_owned(), sleeper));
        panic!("a test failing while its pods run");
    }));
    assert!(outcome.is_err());
    let (name, mut sleeper) = made.into_inner().unwrap().expect("the network was made");
    nothing_left_of(&name).unwrap();
    let status =
        sleeper.try_wait().expect("wait for the process").expect("the process in the pod was killed");
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
}

#[test]
fn leftovers_of_a_killed_run_are_removed() {
    if !pods_available("cleanup after a killed run") {
        return;
    }
    // Another run of this test binary makes a network, starts a process in a pod and is
    // killed: its Drop never runs.
    let mut holder = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["--exact", "cleanup::hold_a_network_until_killed"])
        .env(HOLDER_ENV, "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the holder");
    let stdout = BufReader::new(holder.stdout.take().expect("the holder's stdout"));
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("HOLDING ").map(str::to_owned))
        .expect("the holder names what it made");
    let (name, pid) = line.split_once(' ').expect("<network> <pid>");
    let pid: u32 = pid.parse().expect("a pid");
    holder.kill().expect("kill the holder");
    holder.wait().expect("reap the holder");

    // Whoever looks first removes the leftovers: this call, or another test taking the
    // subnet (which removes them before using it). The killed run's lock goes with its last
    // file descriptor, which a loaded machine may close a moment after the kill: look again
    // until it has.
    let mut removed = Vec::new();
    let mut left = Err(String::new());
    for _ in 0..100 {
        removed.extend(cleanup_stale().expect("cleanup_stale"));
        left = nothing_left_of(name);
        if left.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    left.unwrap_or_else(|left| panic!("{left}; cleanup_stale removed {removed:?}"));
    soon("the process in the killed run's pod to be killed", || gone(pid));
}

/// The killed run of [`leftovers_of_a_killed_run_are_removed`]; does nothing as a test.
#[test]
fn hold_a_network_until_killed() {
    if std::env::var_os(HOLDER_ENV).is_none() {
        return;
    }
    let network = PodNetwork::create().expect("a pod network");
    let pod = Pod::create(&network, "left", 0).expect("a pod");
    let mut sleeper = pod.command("sleep").arg("600").spawn().expect("a process in the pod");
    // Straight to the pipe: the test harness captures `println!`.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "HOLDING {} {}", network.name(), sleeper.id()).expect("write to stdout");
    stdout.flush().expect("flush stdout");
    // Killed long before the sleep ends.
    let _ = sleeper.wait();
    panic!("the holder of a network was not killed");
}
