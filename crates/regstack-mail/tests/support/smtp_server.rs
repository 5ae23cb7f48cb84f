//! A minimal SMTP server (RFC 5321 subset) on loopback: EHLO, STARTTLS, AUTH PLAIN/LOGIN,
//! MAIL, RCPT, DATA, RSET, NOOP, QUIT. It records every message it accepts and counts the
//! sessions open at once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// How the server behaves.
#[derive(Clone, Default)]
pub struct Options {
    /// Offer STARTTLS with this configuration (or speak TLS at once with `implicit_tls`).
    pub tls: Option<Arc<ServerConfig>>,
    /// TLS from the first byte (SMTPS).
    pub implicit_tls: bool,
    /// Require AUTH with this user and password before MAIL.
    pub auth: Option<(String, String)>,
    /// Accept connections but never say anything (for timeouts).
    pub silent: bool,
    /// Hold each message this long before accepting it (a slow server keeps sessions open).
    pub hold: Option<Duration>,
}

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The DATA section, dot-unstuffed, with CRLF line ends.
    pub data: String,
    /// Whether the message travelled over TLS.
    pub tls: bool,
    /// The authenticated user, if any.
    pub user: Option<String>,
}

pub struct SmtpServer {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    sessions: Arc<SessionCount>,
    task: JoinHandle<()>,
}

/// Sessions open now, the most ever open at once, and how many there were.
#[derive(Debug, Default)]
struct SessionCount {
    open: AtomicUsize,
    peak: AtomicUsize,
    total: AtomicUsize,
}

/// One open session, counted until the client says QUIT or the connection ends (whichever
/// comes first: a client is done once its QUIT is answered).
struct OpenSession<'a> {
    count: &'a SessionCount,
    ended: AtomicBool,
}

impl<'a> OpenSession<'a> {
    fn start(count: &'a SessionCount) -> Self {
        let open = count.open.fetch_add(1, Ordering::SeqCst) + 1;
        count.peak.fetch_max(open, Ordering::SeqCst);
        count.total.fetch_add(1, Ordering::SeqCst);
        Self {
            count,
            ended: AtomicBool::new(false),
        }
    }

    fn end(&self) {
        if !self.ended.swap(true, Ordering::SeqCst) {
            self.count.open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for OpenSession<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub async fn start(options: Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let sessions = Arc::new(SessionCount::default());
        let shared = Shared {
            options,
            received: received.clone(),
            arrived: arrived.clone(),
            sessions: sessions.clone(),
        };
        let task = tokio::spawn(async move {
            let shared = Arc::new(shared);
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    // A client that goes away mid-session is not the server's problem.
                    let _ = connection(tcp, &shared).await;
                });
            }
        });
        Self {
            port,
            received,
            arrived,
            sessions,
            task,
        }
    }

    /// The most sessions that were ever open at once.
    pub fn peak_sessions(&self) -> usize {
        self.sessions.peak.load(Ordering::SeqCst)
    }

    /// Sessions open now.
    pub fn open_sessions(&self) -> usize {
        self.sessions.open.load(Ordering::SeqCst)
    }

    /// Sessions (connections) so far.
    pub fn total_sessions(&self) -> usize {
        self.sessions.total.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Wait until `n` messages arrived (or `timeout` passes) and return them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.arrived.notified();
                if self.received.lock().unwrap().len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.received()
    }
}

struct Shared {
    options: Options,
    received: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    sessions: Arc<SessionCount>,
}

type IoResult<T> = std::io::Result<T>;

async fn connection(tcp: TcpStream, shared: &Shared) -> IoResult<()> {
    let open = OpenSession::start(&shared.sessions);
    if shared.options.silent {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return Ok(());
    }
    let acceptor = shared.options.tls.clone().map(TlsAcceptor::from);
    if shared.options.implicit_tls {
        let acceptor = acceptor.expect("implicit TLS needs a TLS configuration");
        let tls = acceptor.accept(tcp).await?;
        session(tls, true, true, shared, &open).await?;
        return Ok(());
    }
    if let Some(tcp) = session(tcp, false, true, shared, &open).await? {
        let acceptor = acceptor.expect("STARTTLS is only offered with a TLS configuration");
        let tls = acceptor.accept(tcp).await?;
        session(tls, true, false, shared, &open).await?;
    }
    Ok(())
}

/// Run one SMTP session on `stream`; returns the stream when the client asked for STARTTLS.
async fn session<S>(
    stream: S,
    tls: bool,
    greet: bool,
    shared: &Shared,
    open: &OpenSession<'_>,
) -> IoResult<Option<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut io = BufReader::new(stream);
    if greet {
        reply(&mut io, "220 localhost ESMTP regstack-test").await?;
    }
    let mut user: Option<String> = None;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    loop {
        let Some(line) = read_line(&mut io).await? else {
            return Ok(None);
        };
        let upper = line.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default();
        match verb {
            "EHLO" | "HELO" => {
                let mut lines = vec!["localhost greets you".to_owned(), "8BITMIME".to_owned()];
                if shared.options.tls.is_some() && !tls {
                    lines.push("STARTTLS".to_owned());
                }
                if shared.options.auth.is_some() {
                    lines.push("AUTH PLAIN LOGIN".to_owned());
                }
                lines.push("SIZE 10485760".to_owned());
                let last = lines.len() - 1;
                let text: Vec<String> = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                    .collect();
                reply(&mut io, &text.join("\r\n")).await?;
            }
            "STARTTLS" if shared.options.tls.is_some() && !tls => {
                reply(&mut io, "220 ready to start TLS").await?;
                return Ok(Some(io.into_inner()));
            }
            "AUTH" => {
                let parts: Vec<&str> = line.split(' ').collect();
                let mechanism = parts.get(1).map(|m| m.to_ascii_uppercase());
                let credentials = match mechanism.as_deref() {
                    Some("PLAIN") => {
                        let initial = match parts.get(2) {
                            Some(i) => (*i).to_owned(),
                            None => {
                                reply(&mut io, "334 ").await?;
                                read_line(&mut io).await?.unwrap_or_default()
                            }
                        };
                        let decoded = B64.decode(initial.trim()).unwrap_or_default();
                        let decoded = String::from_utf8_lossy(&decoded).into_owned();
                        let mut fields = decoded.split('\0').skip(1);
                        (
                            fields.next().unwrap_or_default().to_owned(),
                            fields.next().unwrap_or_default().to_owned(),
                        )
                    }
                    Some("LOGIN") => {
                        reply(&mut io, "334 VXNlcm5hbWU6").await?;
                        let u = read_line(&mut io).await?.unwrap_or_default();
                        reply(&mut io, "334 UGFzc3dvcmQ6").await?;
                        let p = read_line(&mut io).await?.unwrap_or_default();
                        let d = |s: &str| {
                            String::from_utf8_lossy(&B64.decode(s.trim()).unwrap_or_default())
                                .into_owned()
                        };
                        (d(&u), d(&p))
                    }
                    _ => {
                        reply(&mut io, "504 unrecognized authentication type").await?;
                        continue;
                    }
                };
                if shared.options.auth.as_ref() == Some(&credentials) {
                    user = Some(credentials.0);
                    reply(&mut io, "235 authentication succeeded").await?;
                } else {
                    reply(&mut io, "535 authentication credentials invalid").await?;
                }
            }
            "MAIL" => {
                if shared.options.auth.is_some() && user.is_none() {
                    reply(&mut io, "530 authentication required").await?;
                    continue;
                }
                mail_from = Some(angle(&line));
                rcpt_to.clear();
                reply(&mut io, "250 OK").await?;
            }
            "RCPT" => {
                rcpt_to.push(angle(&line));
                reply(&mut io, "250 OK").await?;
            }
            "DATA" => {
                reply(&mut io, "354 end data with <CR><LF>.<CR><LF>").await?;
                let mut data = String::new();
                loop {
                    let Some(l) = read_line(&mut io).await? else {
                        return Ok(None);
                    };
                    if l == "." {
                        break;
                    }
                    // Dot-stuffing (RFC 5321 §4.5.2): a leading dot was doubled.
                    let l = l.strip_prefix('.').unwrap_or(&l);
                    data.push_str(l);
                    data.push_str("\r\n");
                }
                if let Some(hold) = shared.options.hold {
                    tokio::time::sleep(hold).await;
                }
                shared.received.lock().unwrap().push(Received {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                    tls,
                    user: user.clone(),
                });
                shared.arrived.notify_waiters();
                reply(&mut io, "250 OK queued").await?;
            }
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                reply(&mut io, "250 OK").await?;
            }
            "NOOP" => reply(&mut io, "250 OK").await?,
            "QUIT" => {
                open.end();
                reply(&mut io, "221 bye").await?;
                return Ok(None);
            }
            _ => reply(&mut io, "502 command not implemented").await?,
        }
    }
}

/// The address between `<` and `>` of a MAIL/RCPT line.
fn angle(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_owned()
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    text: &str,
) -> IoResult<()> {
    let stream = io.get_mut();
    stream.write_all(text.as_bytes()).await?;
    stream.write_all(b"\r\n").await?;
    stream.flush().await
}

async fn read_line<S: AsyncRead + Unpin>(io: &mut BufReader<S>) -> IoResult<Option<String>> {
    let mut buf = Vec::new();
    if io.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}
