//! The bytes of a snapshot, as openraft sends and receives them.
//!
//! A partition snapshot carries the records its log still retains, which can be large, while
//! openraft asks every group for its current snapshot at startup only to learn its metadata.
//! So the bytes can be produced lazily: on the first read or seek, which happens only when a
//! snapshot is really sent to a follower.

use std::io::{self, Cursor, SeekFrom};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

type Produce = Box<dyn FnOnce() -> io::Result<Vec<u8>> + Send>;

pub struct SnapshotData {
    bytes: Cursor<Vec<u8>>,
    produce: Option<Produce>,
}

impl SnapshotData {
    pub fn ready(bytes: Vec<u8>) -> SnapshotData {
        SnapshotData {
            bytes: Cursor::new(bytes),
            produce: None,
        }
    }

    /// Bytes that `produce` makes on first use.
    pub fn lazy(produce: impl FnOnce() -> io::Result<Vec<u8>> + Send + 'static) -> SnapshotData {
        SnapshotData {
            bytes: Cursor::new(Vec::new()),
            produce: Some(Box::new(produce)),
        }
    }

    pub fn into_bytes(mut self) -> io::Result<Vec<u8>> {
        self.materialize()?;
        Ok(self.bytes.into_inner())
    }

    fn materialize(&mut self) -> io::Result<()> {
        if let Some(produce) = self.produce.take() {
            self.bytes = Cursor::new(produce()?);
        }
        Ok(())
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.materialize() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.bytes).poll_read(cx, buf)
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.materialize()?;
        Pin::new(&mut this.bytes).start_seek(position)
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Pin::new(&mut self.get_mut().bytes).poll_complete(cx)
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(error) = this.materialize() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.bytes).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().bytes).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().bytes).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncSeekExt};

    #[tokio::test]
    async fn produces_on_first_seek_only() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let mut data = SnapshotData::lazy(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(b"records".to_vec())
        });
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(data.seek(SeekFrom::End(0)).await.unwrap(), 7);
        data.seek(SeekFrom::Start(2)).await.unwrap();
        let mut rest = String::new();
        data.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "cords");
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_production_is_an_io_error() {
        let mut data = SnapshotData::lazy(|| Err(io::Error::other("log purged meanwhile")));
        assert!(data.seek(SeekFrom::End(0)).await.is_err());
    }
}
