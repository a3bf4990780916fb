//! A TCP proxy that fails on cue: it forwards to a server until told to let only so many
//! more bytes through towards it, then cuts every connection and refuses new ones (a server
//! that goes down in the middle of an upload), until healed.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Every connection the proxy holds open, client and server sides.
type Connections = Arc<Mutex<Vec<TcpStream>>>;

/// No limit.
const UNLIMITED: i64 = i64::MAX;

pub struct FlakyProxy {
    address: SocketAddr,
    /// Bytes still allowed towards the server.
    budget: Arc<AtomicI64>,
    stopping: Arc<AtomicBool>,
    connections: Connections,
}

impl FlakyProxy {
    /// Listens on a free port of `address`, forwarding to `upstream`.
    pub fn start(address: IpAddr, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind((address, 0)).expect("the proxy listens");
        let address = listener.local_addr().expect("its address");
        let budget = Arc::new(AtomicI64::new(UNLIMITED));
        let stopping = Arc::new(AtomicBool::new(false));
        let connections: Connections = Arc::default();
        let (budget_, stopping_, connections_) = (budget.clone(), stopping.clone(), connections.clone());
        thread::spawn(move || {
            for client in listener.incoming() {
                if stopping_.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if budget_.load(Ordering::SeqCst) <= 0 {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(upstream) else { continue };
                let mut open = connections_.lock().expect("the connections");
                open.extend(client.try_clone().ok());
                open.extend(server.try_clone().ok());
                drop(open);
                let (client_, server_) =
                    (client.try_clone().expect("a clone"), server.try_clone().expect("a clone"));
                let budget = budget_.clone();
                let connections = connections_.clone();
                thread::spawn(move || pump(client_, server_, Some((budget, connections))));
                thread::spawn(move || pump(server, client, None));
            }
        });
        Self { address, budget, stopping, connections }
    }

    /// `http://<address>:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// From now on, `bytes` more bytes go to the server; then everything is cut.
    pub fn fail_after(&self, bytes: i64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }

    /// Forwards everything again.
    pub fn heal(&self) {
        self.budget.store(UNLIMITED, Ordering::SeqCst);
    }
}

/// Copies `from` to `to`; with a budget, counts the bytes and cuts every connection once it
/// is spent.
fn pump(mut from: TcpStream, mut to: TcpStream, budget: Option<(Arc<AtomicI64>, Connections)>) {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let Some((budget, connections)) = &budget {
            let left = budget.fetch_sub(read as i64, Ordering::SeqCst) - read as i64;
            if left < 0 {
                for stream in connections.lock().expect("the connections").drain(..) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                break;
            }
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then ends.
        let _ = TcpStream::connect(self.address);
        for stream in self.connections.lock().expect("the connections").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}
