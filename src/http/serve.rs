//! The connection loop: HTTP/1 over TCP with the limits `axum::serve` lacks, so that idle,
//! trickling or piled-up sockets cannot use up the service's connection slots or its file
//! descriptors.
//!
//! - At most `http_max_connections` connections are served at once; past that, new ones wait in
//!   the listen backlog until one ends (they are not refused).
//! - At most `http_max_connections_per_address` of them come from one client (its TCP peer
//!   address: an IPv4 address, or an IPv6 /64, never `X-Forwarded-For`); a connection past that is
//!   closed at once, so that one client cannot take the slots every other client needs.
//! - A connection waiting for a request (just opened, or after its last response) is closed
//!   unless a whole request head arrives within `min(http_header_read_timeout,
//!   http_idle_timeout)` seconds. This is hyper's header-read timeout, which starts when the
//!   connection starts waiting for a head (not at its first byte): one timer bounds both the idle
//!   connection and the slow-loris head.
//! - A request in flight is not cut by these; the request timeout of `envelope`
//!   (`http_request_timeout`) bounds it, its body's arrival included (the handler reads the body).
//! - A response whose writing stalls (the client reads nothing) for `http_request_timeout`
//!   seconds fails, and the connection is closed: hyper bounds no write, so a client that never
//!   reads would otherwise keep its slots for good.
//!
//! Handlers get the peer address as `ConnectInfo<SocketAddr>`, as with axum's connect-info service.
//! A graceful shutdown stops accepting, lets requests in flight finish, closes idle connections
//! and waits for every connection to end.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

use crate::config::Config;

/// The per-connection limits (from the `http_*` configuration keys).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest wait for a whole request head, from when the connection starts waiting for one.
    pub request_wait: Duration,
    pub max_connections: u32,
    pub max_connections_per_address: u32,
    /// Longest a write may wait for the client to read.
    pub write_stall: Duration,
}

impl Limits {
    pub fn of(config: &Config) -> Limits {
        Limits {
            request_wait: Duration::from_secs(
                config
                    .http_header_read_timeout
                    .min(config.http_idle_timeout),
            ),
            max_connections: config.http_max_connections,
            max_connections_per_address: config.max_connections_per_address(),
            write_stall: Duration::from_secs(config.http_request_timeout),
        }
    }
}

/// Whose connections count together: an IPv4 address (an IPv4-mapped IPv6 one included), or an
/// IPv6 /64 (one host usually holds a whole /64).
fn client_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}

/// The connections open per client. At most one entry per open connection.
struct PerClient {
    open: Mutex<HashMap<IpAddr, u32>>,
    max: u32,
}

/// One admitted connection of a client; its count goes down when it is dropped.
struct ClientSlot {
    table: Arc<PerClient>,
    client: IpAddr,
}

impl PerClient {
    fn new(max: u32) -> Arc<PerClient> {
        Arc::new(PerClient {
            open: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// A slot for one more connection of `address`'s client, unless it holds its maximum.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<ClientSlot> {
        let client = client_of(address);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(client).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            table: self.clone(),
            client,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.client) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.client);
            }
        }
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
    let per_client = PerClient::new(limits.max_connections_per_address);
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
        let Some(client_slot) = per_client.admit(peer.ip()) else {
            // Closed at once (the global slot goes back with it): one client past its share
            // costs the others nothing. Not logged above DEBUG: a flood would flood the logs.
            tracing::debug!(peer = %peer.ip(), "connection closed: too many from this client");
            drop(stream);
            continue;
        };
        let router = router.clone();
        let stopping = stopping.clone();
        tokio::spawn(async move {
            connection(stream, peer, router, limits, stopping).await;
            drop(client_slot);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends.
    let _ = slots.acquire_many(limits.max_connections).await;
}

/// One connection: hyper's HTTP/1 with its header-read timeout, until it ends or the server
/// drains.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request)
    });
    let serving = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_wait)
        .serve_connection(
            TokioIo::new(WriteStallLimit::new(stream, limits.write_stall)),
            service,
        );
    tokio::pin!(serving);
    let ended = tokio::select! {
        ended = serving.as_mut() => ended,
        _ = stopping.changed() => {
            serving.as_mut().graceful_shutdown();
            serving.await
        }
    };
    if let Err(error) = ended {
        tracing::debug!(%error, "connection ended");
    }
}

/// A stream whose writes may wait at most `limit` for the peer to read: past that, the write
/// fails with `TimedOut` and hyper closes the connection. Any progress restarts the wait.
struct WriteStallLimit {
    inner: TcpStream,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl WriteStallLimit {
    fn new(inner: TcpStream, limit: Duration) -> Self {
        WriteStallLimit {
            inner,
            limit,
            stalled: None,
        }
    }

    /// The answer to a write that made progress (`Ready`) or must wait (`Pending`).
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err({
                // Closed with a reset: the unsent answers are dropped, not kept in the kernel
                // for as long as the client keeps its end open.
                let _ = socket2::SockRef::from(&self.inner).set_linger(Some(Duration::ZERO));
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing for too long",
                )
            })),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for WriteStallLimit {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteStallLimit {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.progress(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::{client_of, PerClient};

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(client_of(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_of(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            client_of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            client_of(ip("2001:db8:1:2::9"))
        );
        assert_ne!(client_of(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
    }

    #[test]
    fn each_client_holds_at_most_its_maximum_and_gets_slots_back() {
        let table = PerClient::new(2);
        let first = table.admit(ip("192.0.2.1")).expect("first");
        let second = table.admit(ip("::ffff:192.0.2.1")).expect("second");
        assert!(table.admit(ip("192.0.2.1")).is_none(), "a third");
        assert!(table.admit(ip("192.0.2.2")).is_some(), "another client");
        drop(first);
        let third = table.admit(ip("192.0.2.1")).expect("a slot came back");
        drop((second, third));
        assert!(table.open.lock().expect("lock").is_empty(), "no entry kept");
    }
}
