//! A TCP proxy on 127.0.0.1 that breaks connections on purpose, to test what a push does
//! when the network fails mid-upload.
//!
//! Each accepted connection gets a number (0, 1, 2, …). The `Fault` decides, from that
//! number and the bytes the client has sent on it, when to reset it (RST, as a crashed
//! middlebox does) or stall it (keep it open, forward nothing more).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Reset connections whose number is in `connections` once the client has sent
    /// `after` bytes on them.
    Reset {
        connections: &'static [usize],
        after: u64,
    },
    /// Reset every connection once the client has sent `after` bytes on it: small
    /// requests pass, large uploads never do.
    ResetAll { after: u64 },
    /// Stop forwarding on connections in `connections` after `after` bytes, without
    /// closing them.
    Stall {
        connections: &'static [usize],
        after: u64,
    },
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// How many connections were broken, so a test can check its fault happened.
    pub broken: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream` ("127.0.0.1:PORT").
    pub fn start(upstream: &str, fault: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let broken = Arc::new(AtomicUsize::new(0));
        let upstream: SocketAddr = upstream.parse().unwrap();
        let (stop2, broken2) = (stop.clone(), broken.clone());
        std::thread::spawn(move || {
            for (number, client) in listener.incoming().enumerate() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let broken = broken2.clone();
                std::thread::spawn(move || relay(number, client, server, fault, broken));
            }
        });
        FaultProxy { addr, stop, broken }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn broken(&self) -> usize {
        self.broken.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn relay(
    number: usize,
    client: TcpStream,
    server: TcpStream,
    fault: Fault,
    broken: Arc<AtomicUsize>,
) {
    // Server → client: plain copy on its own thread.
    let (mut s_read, mut c_write) = (server.try_clone().unwrap(), client.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Write);
    });
    // Client → server: counted, and broken as the fault says.
    let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let (targeted, after, stall) = match fault {
        Fault::Reset { connections, after } => (connections.contains(&number), after, false),
        Fault::ResetAll { after } => (true, after, false),
        Fault::Stall { connections, after } => (connections.contains(&number), after, true),
    };
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match c_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if targeted && sent + n as u64 > after {
            broken.fetch_add(1, Ordering::SeqCst);
            if stall {
                // Hold both sockets open and silent until the client gives up.
                let _ = c_read.set_read_timeout(Some(Duration::from_secs(120)));
                while matches!(c_read.read(&mut buf), Ok(n) if n > 0) {}
            } else {
                reset(&client);
                reset(&server);
            }
            return;
        }
        if s_write.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    let _ = s_write.shutdown(Shutdown::Write);
}

/// Closes with RST instead of FIN (SO_LINGER with a zero timeout).
fn reset(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
}
