//! A scripted HTTP server on any loopback address (127.0.0.2 plays "another
//! host") that records every request it receives, whole (request line,
//! headers, body), so a test can prove that no secret ever arrived there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request as it arrived.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// `GET /path?query HTTP/1.1`
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    /// The path with its query.
    pub fn target(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.target().split('?').next().unwrap_or("")
    }

    /// Everything received, as text (for "no secret in it" checks).
    pub fn text(&self) -> String {
        let mut all = self.line.clone();
        for (k, v) in &self.headers {
            all.push_str(&format!("\n{k}: {v}"));
        }
        all.push('\n');
        all.push_str(&String::from_utf8_lossy(&self.body));
        all
    }
}

/// What the handler answers: a complete HTTP response.
pub type Reply = Vec<u8>;

pub struct Recorder {
    /// `http://IP:PORT`
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl Recorder {
    /// Listens on `ip` (e.g. "127.0.0.2"); `handler` answers each request.
    pub fn start(
        ip: &str,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> Recorder {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let (seen, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (handler, seen) = (handler.clone(), seen.clone());
                std::thread::spawn(move || serve(stream, &*handler, &seen));
            }
        });
        Recorder {
            url,
            requests,
            stop,
        }
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Everything received so far, as one text.
    pub fn everything(&self) -> String {
        self.requests()
            .iter()
            .map(Recorded::text)
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn serve(stream: TcpStream, handler: &dyn Fn(&Recorded) -> Reply, seen: &Mutex<Vec<Recorded>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = Recorded {
            line: line.trim_end().to_string(),
            headers,
            body,
        };
        seen.lock().unwrap().push(request.clone());
        let reply = handler(&request);
        let stream = reader.get_mut();
        if stream.write_all(&reply).is_err() || stream.flush().is_err() {
            return;
        }
    }
}

/// A complete response: status line text (`302 Found`), extra headers, body.
pub fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body.as_bytes());
    bytes
}

/// A redirect to `location`.
pub fn redirect(status: &str, location: &str) -> Reply {
    response(status, &[("location", location)], "")
}

/// A JSON 200 reply.
pub fn json(body: &str) -> Reply {
    response("200 OK", &[("content-type", "application/json")], body)
}
