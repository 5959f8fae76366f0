//! The connection loop: HTTP/1 over TCP with the limits `axum::serve` lacks, so that idle or
//! trickling sockets cannot use up the service's file descriptors.
//!
//! - At most `http_max_connections` connections are served at once; past that, new ones wait in
//!   the listen backlog until one ends (they are not refused).
//! - A connection with no request in flight on which nothing arrives for `http_idle_timeout`
//!   seconds (after it opens, or after its last response) is closed.
//! - Once the first byte of a request head has arrived, the whole head must arrive within
//!   `http_header_read_timeout` seconds, else the connection is closed (slow-loris).
//! - A request in flight is never cut by these limits (the request timeout of `envelope` bounds it).
//!
//! Handlers get the peer address as `ConnectInfo<SocketAddr>`, as with axum's connect-info service.
//! A graceful shutdown stops accepting, lets requests in flight finish, closes idle connections
//! and waits for every connection to end.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::Config;

/// The per-connection limits (from the `http_*` configuration keys).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: u32,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(config.http_header_read_timeout),
            idle_timeout: Duration::from_secs(config.http_idle_timeout),
            max_connections: config.http_max_connections,
        }
    }
}

/// Where a connection stands, for its watchdog.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// No request in flight and nothing received since this instant.
    Idle(Instant),
    /// A request head began to arrive at this instant.
    Head(Instant),
    /// Requests in flight.
    Busy(usize),
}

struct Activity(Mutex<Phase>);

impl Activity {
    fn new() -> Activity {
        Activity(Mutex::new(Phase::Idle(Instant::now())))
    }

    fn update(&self, change: impl FnOnce(Phase) -> Phase) {
        let mut phase = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *phase = change(*phase);
    }

    fn phase(&self) -> Phase {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn received(&self) {
        self.update(|phase| match phase {
            Phase::Idle(_) => Phase::Head(Instant::now()),
            other => other,
        });
    }

    /// Bytes of a response leaving: the connection is not idle yet.
    fn sent(&self) {
        self.update(|phase| match phase {
            Phase::Idle(_) => Phase::Idle(Instant::now()),
            other => other,
        });
    }

    fn request_started(&self) {
        self.update(|phase| match phase {
            Phase::Busy(n) => Phase::Busy(n.saturating_add(1)),
            _ => Phase::Busy(1),
        });
    }

    fn request_ended(&self) {
        self.update(|phase| match phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            _ => Phase::Idle(Instant::now()),
        });
    }

    /// When the connection is to be closed unless something happens first; `None` while a
    /// request is in flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.phase() {
            Phase::Idle(since) => Some(since + limits.idle_timeout),
            Phase::Head(since) => Some(since + limits.header_read_timeout),
            Phase::Busy(_) => None,
        }
    }
}

/// Marks a request in flight for as long as its response future lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> InFlight {
        activity.request_started();
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// The socket, telling the watchdog when bytes move.
struct Tracked {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.received();
        }
        poll
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.sent();
        }
        poll
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.sent();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `signal` completes, then drains (see the module).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    signal: impl Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(signal);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before it was accepted: wait a
                    // little rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let router = router.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, limits, stopping).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends.
    let _ = slots.acquire_many(limits.max_connections).await;
}

/// One connection, under its watchdog.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked {
        stream,
        activity: activity.clone(),
    });
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let mut request = request;
            request.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = InFlight::start(activity.clone());
            let response = router.clone().oneshot(request);
            async move {
                let response = response.await;
                drop(in_flight);
                response
            }
        })
    };
    let serving = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(serving);
    let mut draining = false;
    loop {
        // While a request is in flight, look again after the shorter limit.
        let wake = activity.deadline(&limits).unwrap_or_else(|| {
            Instant::now() + limits.idle_timeout.min(limits.header_read_timeout)
        });
        tokio::select! {
            ended = serving.as_mut() => {
                if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended");
                }
                return;
            }
            () = tokio::time::sleep_until(wake) => {
                if activity.deadline(&limits).is_some_and(|deadline| deadline <= Instant::now()) {
                    // Idle, or a head too slow to arrive: no request is lost by closing.
                    return;
                }
            }
            _ = stopping.changed(), if !draining => {
                draining = true;
                serving.as_mut().graceful_shutdown();
            }
        }
    }
}
