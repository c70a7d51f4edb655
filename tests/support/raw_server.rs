//! A deliberately badly behaved HTTP server on 127.0.0.1: each connection is
//! handed to a closure that reads the request head and writes whatever bytes
//! it likes (or stalls), so tests can play hostile or broken servers.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub struct RawServer {
    pub url: String,
    stop: Arc<AtomicBool>,
}

/// The request line (`GET /path HTTP/1.1`) of a connection.
pub type Handler = dyn Fn(&str, &mut TcpStream) + Send + Sync;

impl RawServer {
    pub fn start(handler: impl Fn(&str, &mut TcpStream) + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let handler = handler.clone();
                std::thread::spawn(move || {
                    let line = read_head(&stream);
                    handler(&line, &mut stream);
                });
            }
        });
        RawServer { url, stop }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

/// Reads the request head and returns its first line (the body, if any, is
/// left unread: these servers never need it).
fn read_head(stream: &TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    first.trim_end().to_string()
}

/// Writes a complete response with a body.
pub fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}
