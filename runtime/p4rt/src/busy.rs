//! Busy polling: keeping a thread awake for a moment while an answer or a
//! request is due on loopback.
//!
//! A P4Runtime round trip on one machine is short (about 100 µs) but
//! crosses two threads: the client's and the server's. When the waiting
//! thread goes to sleep in `epoll_wait`, the other side's socket write must
//! wake it, and on a virtual machine a sleeping thread (or an idle virtual
//! CPU) takes tens of microseconds to run again: a large share of the round
//! trip. For a short time after it last had work, a task wrapped here asks
//! its runtime to poll it again at once instead; the runtime looks at its
//! sockets (a non-blocking `epoll_wait`) between two polls, so the answer is
//! read as soon as it is there. After the budget the task waits as any
//! other, so an idle connection costs nothing.
//!
//! A budget of zero turns busy polling off, and a process that may run on
//! one CPU only never busy-polls. It trades CPU time for latency: a waiting
//! client, or a server between a controller's requests, keeps one CPU busy
//! for up to the budget, yielding it at every turn to any other thread
//! ready to run there.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The budget of the client's unary calls and the server's connections
/// unless told otherwise: long enough for a Write's answer from a switch on
/// the same machine that is busy with other work, and for a controller's
/// next request after an answer (measured with the intercept bench of
/// `fairshare-controller`; see BENCHMARKS.md).
pub const DEFAULT_BUDGET: Duration = Duration::from_millis(1);

/// Whether this process may run on more than one CPU (its affinity and
/// cgroup quota allow it): on one CPU a thread polling for an answer only
/// takes time from the thread that is to send it, so nothing busy-polls.
fn several_cpus() -> bool {
    static SEVERAL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SEVERAL.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
}

/// Asks the runtime to poll the current task again once it has looked at
/// its sockets and timers (what `tokio::task::yield_now` does).
///
/// The thread also yields its CPU to any other thread that is ready to run
/// there, the other side of the exchange above all: where both share one
/// CPU, spinning without that would hold back the very answer awaited.
fn poll_again(cx: &mut Context<'_>) {
    std::thread::yield_now();
    let mut again = std::pin::pin!(tokio::task::yield_now());
    // A fresh yield is always pending: it has registered the task to be
    // polled again, which is all that is wanted of it.
    let _ = again.as_mut().poll(cx);
}

/// A future that, while pending, keeps its task polled for up to `budget`
/// from its first poll (see the module docs).
pub struct BusyPoll<F> {
    inner: Pin<Box<F>>,
    since: Option<Instant>,
    budget: Duration,
}

/// Busy-polls `inner` for up to `budget`.
pub fn busy_poll<F: Future>(inner: F, budget: Duration) -> BusyPoll<F> {
    BusyPoll {
        inner: Box::pin(inner),
        since: None,
        budget,
    }
}

impl<F: Future> Future for BusyPoll<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if let Poll::Ready(out) = self.inner.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        if !self.budget.is_zero() && several_cpus() {
            let now = Instant::now();
            let since = *self.since.get_or_insert(now);
            if now.duration_since(since) < self.budget {
                poll_again(cx);
            }
        }
        Poll::Pending
    }
}

/// A connection whose reader keeps polling for up to `budget` after the
/// connection last read or wrote something (see the module docs): a server
/// answering a controller is ready for its next request at once.
pub struct BusyIo<T> {
    io: T,
    last: Instant,
    budget: Duration,
}

impl<T> BusyIo<T> {
    /// Wraps `io`, busy-polling for up to `budget` after each read or
    /// write.
    pub fn new(io: T, budget: Duration) -> BusyIo<T> {
        BusyIo {
            io,
            last: Instant::now(),
            budget,
        }
    }

    fn active(&mut self) {
        if !self.budget.is_zero() {
            self.last = Instant::now();
        }
    }

    fn idle(&self, cx: &mut Context<'_>) {
        if !self.budget.is_zero() && self.last.elapsed() < self.budget && several_cpus() {
            poll_again(cx);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for BusyIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(r) => {
                self.active();
                Poll::Ready(r)
            }
            Poll::Pending => {
                self.idle(cx);
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for BusyIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.active();
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.active();
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl<T: tonic::transport::server::Connected> tonic::transport::server::Connected for BusyIo<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// Counts the wake-ups it is given.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        (count, waker)
    }

    #[test]
    fn a_pending_future_is_polled_again_within_the_budget_and_not_after() {
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut f = busy_poll(std::future::pending::<()>(), Duration::from_millis(200));
        let mut f = Pin::new(&mut f);
        assert!(f.as_mut().poll(&mut cx).is_pending());
        // Outside a runtime the request to poll again is a wake-up (none
        // where the process has one CPU only).
        let asked = usize::from(several_cpus());
        assert_eq!(count.0.load(Ordering::SeqCst), asked);
        std::thread::sleep(Duration::from_millis(250));
        assert!(f.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            asked,
            "no wake-up after the budget"
        );
    }

    #[test]
    fn a_zero_budget_never_asks_to_be_polled_again() {
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut f = busy_poll(std::future::pending::<()>(), Duration::ZERO);
        assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn the_answer_comes_through_unchanged() {
        let (_, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let mut f = busy_poll(std::future::ready(42), DEFAULT_BUDGET);
        assert_eq!(Pin::new(&mut f).poll(&mut cx), Poll::Ready(42));
    }

    #[tokio::test]
    async fn a_busy_connection_reads_what_arrives_after_it_went_idle() {
        let (a, b) = tokio::io::duplex(64);
        let mut a = BusyIo::new(a, Duration::from_millis(50));
        let mut b = BusyIo::new(b, Duration::ZERO);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 5];
            tokio::io::AsyncReadExt::read_exact(&mut a, &mut buf)
                .await
                .map(|_| buf)
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        tokio::io::AsyncWriteExt::write_all(&mut b, b"hello")
            .await
            .expect("the other end takes the bytes");
        let read = reader.await.expect("the reader finishes");
        assert_eq!(&read.expect("the reader reads"), b"hello");
    }

    #[test]
    fn an_idle_connection_stops_asking_after_the_budget() {
        let (count, waker) = counting();
        let mut cx = Context::from_waker(&waker);
        let (a, _b) = tokio::io::duplex(64);
        let mut a = BusyIo::new(a, Duration::from_millis(200));
        let mut buf = [0u8; 4];
        let mut rb = ReadBuf::new(&mut buf);
        assert!(Pin::new(&mut a).poll_read(&mut cx, &mut rb).is_pending());
        let asked = usize::from(several_cpus());
        assert_eq!(count.0.load(Ordering::SeqCst), asked);
        std::thread::sleep(Duration::from_millis(250));
        assert!(Pin::new(&mut a).poll_read(&mut cx, &mut rb).is_pending());
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            asked,
            "no wake-up after the budget"
        );
    }
}
