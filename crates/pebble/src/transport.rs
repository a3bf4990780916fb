//! Unix-socket streams whose reads and writes share one deadline.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A connected stream that fails with [`io::ErrorKind::TimedOut`] once its deadline passes.
#[derive(Debug)]
pub(crate) struct DeadlineStream {
    stream: UnixStream,
    deadline: Instant,
}

impl DeadlineStream {
    /// Connects to `socket`; the deadline starts at `timeout` from now.
    pub fn connect(socket: &Path, timeout: Duration) -> io::Result<Self> {
        let stream = UnixStream::connect(socket)?;
        Ok(DeadlineStream { stream, deadline: Instant::now() + timeout })
    }

    /// Arms the socket's timeouts with the time left, failing once none is.
    fn arm(&self) -> io::Result<()> {
        match self.deadline.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => {
                self.stream.set_read_timeout(Some(left))?;
                self.stream.set_write_timeout(Some(left))
            }
            _ => Err(io::Error::from(io::ErrorKind::TimedOut)),
        }
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.read(buf).map_err(normalize_timeout)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.stream.write(buf).map_err(normalize_timeout)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// A blocking socket reports an expired timeout as `WouldBlock`; call it what it is.
fn normalize_timeout(err: io::Error) -> io::Error {
    if err.kind() == io::ErrorKind::WouldBlock {
        io::Error::from(io::ErrorKind::TimedOut)
    } else {
        err
    }
}

/// Whether `err` means a deadline passed.
pub(crate) fn is_timeout(err: &io::Error) -> bool {
    matches!(err.kind(), io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn reads_fail_with_timed_out_after_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.socket");
        let listener = UnixListener::bind(&socket).unwrap();
        let mut stream = DeadlineStream::connect(&socket, Duration::from_millis(50)).unwrap();
        let (_server, _) = listener.accept().unwrap();
        let err = stream.read(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        // The deadline is spent: the next call fails without waiting.
        let err = stream.write(b"x").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[test]
    fn reads_data_before_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.socket");
        let listener = UnixListener::bind(&socket).unwrap();
        let mut stream = DeadlineStream::connect(&socket, Duration::from_secs(30)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(b"pong").unwrap();
        let mut buf = [0; 4];
        stream.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pong");
    }
}
