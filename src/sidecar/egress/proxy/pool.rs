//! Pooled upstream connections (issue 21): an HTTP/1.1 connection the
//! proxy opened for one of the agent's requests is kept, once its answer
//! was read to the end, for the agent's next request (in the same tunnel
//! or another) that has the same key:
//!
//! - the route that let the request through (the whole route: host,
//!   ports, paths, methods, credential reference, allowlist — a changed or
//!   revoked route never gets its connections back),
//! - the address the SSRF guard checked and connected to (or the
//!   operator's upstream proxy),
//! - the name TLS was verified for (SNI) and the port the agent asked
//!   for (a tunnel through the operator's proxy is opened to that host
//!   and port: its URL alone does not say where it goes), and TLS or not,
//! - the credential that was injected (its exact header value).
//!
//! The SSRF check runs for every request before the pool is looked at; a
//! pooled connection is taken only for an address that check just kept,
//! and every new connection is made to such an address. The pool belongs
//! to one proxy (`serve`), which is one bottle's sidecar process: nothing
//! is shared between bottles. It is bounded (idle connections per key and
//! in all) and an idle connection is dropped after `PoolLimits::idle`, when
//! its route is no longer in the table, or as soon as the upstream closed
//! it.

use super::{Body, BoxError};
use crate::policy::routes::{Route, Table};
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How many idle upstream connections a proxy keeps, and for how long.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    /// Idle connections per key (0: no pooling, a connection per request).
    pub per_key: usize,
    /// Idle connections in all.
    pub total: usize,
    /// An idle connection older than this is closed.
    pub idle: Duration,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            per_key: 8,
            total: 64,
            idle: Duration::from_secs(30),
        }
    }
}

/// Where a connection goes: the address the SSRF guard kept, or a tunnel
/// through the operator's upstream proxy (by its URL).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) enum Via {
    Direct(SocketAddr),
    Proxy(String),
}

/// What a pooled connection may be used for again: exactly this.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub route: Route,
    pub via: Via,
    /// The name the upstream's certificate was verified for (the host the
    /// agent asked for), also for plain http.
    pub sni: String,
    /// The port the agent asked for: with `Via::Proxy` the connection's
    /// far end is `sni:port` (the CONNECT target), which the proxy's URL
    /// does not name; a route with several ports must never send a
    /// request for one port down a tunnel to another.
    pub port: u16,
    pub tls: bool,
    /// The injected `Authorization` value (none for a route without one).
    pub credential: Option<HeaderValue>,
}

/// Resolves a name to addresses (the system resolver; tests put in their
/// own).
pub(super) type Resolve = Arc<
    dyn Fn(String, u16) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<IpAddr>>>
        + Send
        + Sync,
>;

fn system_resolver() -> Resolve {
    Arc::new(|host, port| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .map(|sa: SocketAddr| sa.ip())
                .collect())
        })
    })
}

struct Parked {
    sender: SendRequest<Body>,
    since: Instant,
}

/// One proxy's upstream connections: the idle ones by key, the resolver,
/// and counts (new connections, reuses) for the log and tests.
pub(super) struct Upstreams {
    limits: PoolLimits,
    idle: Mutex<HashMap<Key, Vec<Parked>>>,
    pub(super) resolve: Resolve,
    opened: AtomicU64,
    reused: AtomicU64,
}

impl Upstreams {
    pub(super) fn new(limits: PoolLimits) -> Upstreams {
        Upstreams::with_resolver(limits, system_resolver())
    }

    pub(super) fn with_resolver(limits: PoolLimits, resolve: Resolve) -> Upstreams {
        Upstreams {
            limits,
            idle: Mutex::new(HashMap::new()),
            resolve,
            opened: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<Parked>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection for `key` that is still open and ready (the most
    /// recently parked first); closed or expired ones are dropped on the
    /// way.
    pub(super) fn take(&self, key: &Key) -> Option<SendRequest<Body>> {
        let mut idle = self.lock();
        let list = idle.get_mut(key)?;
        let mut found = None;
        while let Some(p) = list.pop() {
            if p.sender.is_closed() || p.since.elapsed() >= self.limits.idle {
                continue;
            }
            if p.sender.is_ready() {
                found = Some(p.sender);
                break;
            }
        }
        if list.is_empty() {
            idle.remove(key);
        }
        if found.is_some() {
            self.reused.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// Keeps a ready connection for `key` (within the limits: the oldest
    /// idle one makes room).
    fn put(&self, key: Key, sender: SendRequest<Body>) {
        if self.limits.per_key == 0 || self.limits.total == 0 || sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        let total: usize = idle.values().map(Vec::len).sum();
        let mine = idle.get(&key).map_or(0, Vec::len);
        if mine >= self.limits.per_key {
            // This key's oldest makes room.
            if let Some(v) = idle.get_mut(&key) {
                v.remove(0);
            }
        } else if total >= self.limits.total {
            // The oldest of all makes room.
            let oldest = idle
                .iter()
                .filter_map(|(k, v)| v.first().map(|p| (k.clone(), p.since)))
                .min_by_key(|(_, since)| *since)
                .map(|(k, _)| k);
            if let Some(k) = oldest {
                if let Some(v) = idle.get_mut(&k) {
                    v.remove(0);
                    if v.is_empty() {
                        idle.remove(&k);
                    }
                }
            }
        }
        let list = idle.entry(key).or_default();
        list.push(Parked {
            sender,
            since: Instant::now(),
        });
    }

    /// A connection was opened (counted).
    pub(super) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops idle connections that expired, that the upstream closed, or
    /// whose route is no longer in `table`.
    pub(super) fn prune(&self, table: &Table) {
        let mut idle = self.lock();
        idle.retain(|key, list| {
            if !table.routes.contains(&key.route) {
                return false;
            }
            list.retain(|p| !p.sender.is_closed() && p.since.elapsed() < self.limits.idle);
            !list.is_empty()
        });
    }

    /// Idle connections kept now.
    #[cfg(test)]
    pub(super) fn idle_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    /// Idle connections kept now whose upstream already closed them.
    #[cfg(test)]
    pub(super) fn idle_closed(&self) -> usize {
        self.lock()
            .values()
            .flatten()
            .filter(|p| p.sender.is_closed())
            .count()
    }

    /// (connections opened, requests sent on a pooled one).
    #[cfg(test)]
    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.opened.load(Ordering::Relaxed),
            self.reused.load(Ordering::Relaxed),
        )
    }
}

/// Prunes `ups` every second against the live table, while the proxy
/// lives.
pub(super) async fn reaper(ups: std::sync::Weak<Upstreams>, eg: Arc<super::Egress>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(ups) = ups.upgrade() else {
            return;
        };
        ups.prune(&eg.table());
    }
}

/// Where an answer's connection goes once the answer was read to the end.
struct Park {
    ups: Arc<Upstreams>,
    key: Key,
    sender: SendRequest<Body>,
}

impl Park {
    /// Parks the connection when it is ready for another request (an
    /// answer with `Connection: close`, or one the agent's side abandoned,
    /// never is).
    fn park(self) {
        let Park {
            ups,
            key,
            mut sender,
        } = self;
        if sender.is_ready() {
            ups.put(key, sender);
            return;
        }
        tokio::spawn(async move {
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(5), sender.ready()).await {
                ups.put(key, sender);
            }
        });
    }
}

/// An upstream answer's body that parks its connection when it ended; a
/// body dropped before its end closes the connection (it cannot carry
/// another request).
pub(super) struct PooledBody {
    inner: Incoming,
    park: Mutex<Option<Park>>,
}

impl PooledBody {
    /// `inner` as the module's body type, parking its connection at its end.
    pub(super) fn boxed(
        inner: Incoming,
        ups: Arc<Upstreams>,
        key: Key,
        sender: SendRequest<Body>,
    ) -> Body {
        use http_body_util::BodyExt;
        let body = PooledBody {
            inner,
            park: Mutex::new(Some(Park { ups, key, sender })),
        };
        if hyper::body::Body::is_end_stream(&body.inner) {
            body.ended();
        }
        body.boxed()
    }

    fn ended(&self) {
        let park = self.park.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = park {
            p.park();
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match polled {
            Poll::Ready(None) => {
                self.ended();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                if self.inner.is_end_stream() {
                    self.ended();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                // The connection is broken: never parked.
                if let Ok(mut p) = self.park.lock() {
                    p.take();
                }
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
