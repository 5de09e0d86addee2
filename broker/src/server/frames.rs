//! Reads length-prefixed request frames. Each frame's size is taken from the broker-wide request
//! memory budget (queued.max.request.bytes) before its body is buffered, and given back when its
//! response has been written: when the budget is spent, connections stop being read (as Kafka's
//! memory pool mutes them) instead of the broker buffering without bound.

use std::io;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Read-ahead when no frame is being assembled: many small requests per read.
const READ_CHUNK: usize = 64 * 1024;

/// The bytes every connection's unanswered requests may hold together.
pub struct RequestBudget {
    /// None: unbounded (queued.max.request.bytes = -1).
    permits: Option<Arc<Semaphore>>,
    total: u32,
}

/// A frame's share of the budget, released on drop.
pub struct Reservation {
    _permit: Option<OwnedSemaphorePermit>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        crate::metrics::request_bytes_queued(-(self.bytes as i64));
    }
}

impl RequestBudget {
    pub fn new(bytes: Option<u64>) -> RequestBudget {
        match bytes {
            None => RequestBudget {
                permits: None,
                total: 0,
            },
            Some(bytes) => {
                let total = bytes.clamp(1, u64::from(u32::MAX)) as u32;
                let total = total.min(Semaphore::MAX_PERMITS as u32);
                RequestBudget {
                    permits: Some(Arc::new(Semaphore::new(total as usize))),
                    total,
                }
            }
        }
    }

    /// Waits until `len` bytes are free. A frame larger than the whole budget waits for all of
    /// it, so one large request still goes through on an idle broker (as Kafka's pool does).
    async fn reserve(&self, len: usize) -> Reservation {
        let permit = match &self.permits {
            None => None,
            Some(permits) => {
                let want = len.min(self.total as usize) as u32;
                let permit = permits
                    .clone()
                    .acquire_many_owned(want)
                    .await
                    .expect("the budget's semaphore is never closed");
                Some(permit)
            }
        };
        // Counted once granted (a cancelled wait holds nothing).
        crate::metrics::request_bytes_queued(len as i64);
        Reservation {
            _permit: permit,
            bytes: len as u64,
        }
    }

    /// Bytes currently reserved by unanswered requests.
    pub fn in_use(&self) -> u64 {
        match &self.permits {
            None => 0,
            Some(permits) => u64::from(self.total) - permits.available_permits() as u64,
        }
    }
}

pub struct Frame {
    pub bytes: Bytes,
    pub reservation: Reservation,
}

pub struct FrameReader<R> {
    read: R,
    buf: BytesMut,
    max_len: usize,
    budget: Arc<RequestBudget>,
    /// Taken for the frame being assembled; kept across cancelled calls.
    reserved: Option<Reservation>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(read: R, max_len: usize, budget: Arc<RequestBudget>) -> FrameReader<R> {
        FrameReader {
            read,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_len,
            budget,
            reserved: None,
        }
    }

    /// The next frame without its length prefix; None at a clean end of stream. Cancel safe:
    /// bytes read and budget taken stay for the next call.
    pub async fn next(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                // Checked before any allocation: a negative i32 reads as a huge u32 and fails too.
                if len > self.max_len {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "frame of {len} bytes exceeds socket.request.max.bytes {}",
                            self.max_len
                        ),
                    ));
                }
                if self.reserved.is_none() {
                    self.reserved = Some(self.budget.reserve(len).await);
                }
                if self.buf.len() >= 4 + len {
                    self.buf.advance(4);
                    let bytes = self.buf.split_to(len).freeze();
                    let reservation = self.reserved.take().expect("reserved above");
                    return Ok(Some(Frame { bytes, reservation }));
                }
                self.buf.reserve(4 + len - self.buf.len());
            } else if self.buf.capacity() - self.buf.len() < 4 {
                self.buf.reserve(READ_CHUNK);
            }
            if self.read.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a frame",
                    ))
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(body);
        out
    }

    #[tokio::test]
    async fn reads_frames_split_and_joined_across_reads() {
        let (mut tx, rx) = tokio::io::duplex(7);
        let budget = Arc::new(RequestBudget::new(None));
        let mut reader = FrameReader::new(rx, 1024, budget);
        tokio::spawn(async move {
            let mut bytes = frame(b"hello world");
            bytes.extend(frame(b""));
            bytes.extend(frame(&[9u8; 300]));
            tx.write_all(&bytes).await.unwrap();
        });
        assert_eq!(
            reader.next().await.unwrap().unwrap().bytes,
            &b"hello world"[..]
        );
        assert!(reader.next().await.unwrap().unwrap().bytes.is_empty());
        assert_eq!(reader.next().await.unwrap().unwrap().bytes, &[9u8; 300][..]);
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_and_truncated_frames_are_errors() {
        let budget = Arc::new(RequestBudget::new(None));
        let mut reader = FrameReader::new(&[0xff, 0xff, 0xff, 0xff][..], 1024, budget.clone());
        assert_eq!(
            reader.next().await.err().unwrap().kind(),
            io::ErrorKind::InvalidData
        );
        let truncated = [&frame(b"abcdef")[..7]].concat();
        let mut reader = FrameReader::new(&truncated[..], 1024, budget);
        assert_eq!(
            reader.next().await.err().unwrap().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[tokio::test]
    async fn a_spent_budget_holds_the_next_frame_until_a_reservation_is_dropped() {
        let budget = Arc::new(RequestBudget::new(Some(100)));
        let bytes = [frame(&[1u8; 80]), frame(&[2u8; 80]), frame(&[3u8; 500])].concat();
        let mut reader = FrameReader::new(&bytes[..], 1024, budget.clone());
        let first = reader.next().await.unwrap().unwrap();
        assert_eq!(budget.in_use(), 80);
        let second = tokio::time::timeout(Duration::from_millis(100), reader.next()).await;
        assert!(second.is_err(), "80 + 80 bytes exceed the budget of 100");
        drop(first);
        let second = reader.next().await.unwrap().unwrap();
        assert_eq!(second.bytes, &[2u8; 80][..]);
        drop(second);
        // Larger than the whole budget: waits for all of it, then goes through.
        let third = reader.next().await.unwrap().unwrap();
        assert_eq!(third.bytes.len(), 500);
        assert_eq!(budget.in_use(), 100);
        drop(third);
        assert_eq!(budget.in_use(), 0);
    }
}
