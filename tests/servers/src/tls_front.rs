//! A TLS front for a running test server: it terminates TLS with the
//! certificate and key a test gives (e.g. a self-signed one, as an on-prem
//! JuliaHub has) and forwards the plain bytes to the server. So the servers
//! themselves stay plain HTTP, and any of them can be reached over https.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::running::{Protocol, Running};

/// How long each side is waited for before the other is looked at.
const POLL: Duration = Duration::from_millis(10);

impl<P: Protocol> Running<P> {
    /// Serves this server over TLS on another port of `127.0.0.1`, with the
    /// certificate chain `cert_pem` and private key `key_pem` (PEM). Returns
    /// `https://127.0.0.1:PORT`. The listener lives as long as the process.
    pub fn serve_tls(&self, cert_pem: &[u8], key_pem: &[u8]) -> io::Result<String> {
        let invalid = |what: &str| io::Error::new(ErrorKind::InvalidInput, what.to_string());
        let certs = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid("the certificate is not PEM"))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| invalid("the key is not PEM"))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(&e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&e.to_string()))?;
        let config = Arc::new(config);
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let url = format!("https://{}", listener.local_addr()?);
        let target = SocketAddr::from(([127, 0, 0, 1], self.port()));
        std::thread::Builder::new()
            .name("tls-front".into())
            .spawn(move || {
                for client in listener.incoming().flatten() {
                    let config = config.clone();
                    std::thread::spawn(move || {
                        let _ = forward(client, target, config);
                    });
                }
            })?;
        Ok(url)
    }
}

/// One connection: the TLS handshake (a client that refuses the
/// certificate ends it), then bytes both ways until the server closes.
fn forward(
    client: TcpStream,
    target: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> io::Result<()> {
    let connection = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(connection, client);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let mut upstream = TcpStream::connect(target)?;
    tls.sock.set_read_timeout(Some(POLL))?;
    upstream.set_read_timeout(Some(POLL))?;
    let waiting = |e: &io::Error| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut);
    let mut buf = [0u8; 16 * 1024];
    let mut client_open = true;
    loop {
        if client_open {
            match tls.read(&mut buf) {
                Ok(0) => {
                    client_open = false;
                    let _ = upstream.shutdown(Shutdown::Write);
                }
                Ok(n) => upstream.write_all(&buf[..n])?,
                Err(e) if waiting(&e) => {}
                Err(_) => client_open = false,
            }
        }
        match upstream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                tls.write_all(&buf[..n])?;
                tls.flush()?;
            }
            Err(e) if waiting(&e) => {}
            Err(e) => return Err(e),
        }
    }
    tls.conn.send_close_notify();
    let _ = tls.flush();
    Ok(())
}
