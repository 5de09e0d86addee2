//! Baseline for `scripts/bench`: a loopback TCP sink receiving the same bytes a producer sends.
//! One thread writes `--chunk-bytes` chunks (the size of a produce request) to 127.0.0.1 for
//! `--seconds`, another reads and discards them; both in this process, as the broker and the
//! client share this machine's cores. Prints one `BENCH tcp ...` line with MB/s received.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value_t = 65536)]
    chunk_bytes: u32,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

/// Receive buffer of the sink (the broker reads whole frames; 1 MiB is generous).
const SINK_BUFFER_BYTES: usize = 1 << 20;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.chunk_bytes >= 1 && args.chunk_bytes <= 64 << 20,
        "chunk bytes"
    );
    anyhow::ensure!(args.seconds >= 1 && args.seconds <= 600, "seconds");
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let sink = thread::spawn(move || -> std::io::Result<(u64, Duration)> {
        let (mut stream, _) = listener.accept()?;
        let mut buffer = vec![0u8; SINK_BUFFER_BYTES];
        let mut received = 0u64;
        let started = Instant::now();
        loop {
            let read = stream.read(&mut buffer)?;
            if read == 0 {
                return Ok((received, started.elapsed()));
            }
            received += read as u64;
        }
    });
    let sent = send(address, &args)?;
    let (received, elapsed) = sink.join().expect("sink thread panicked")?;
    assert_eq!(sent, received, "the sink received every byte sent");
    let seconds = elapsed.as_secs_f64();
    println!(
        "BENCH tcp chunk_bytes={} seconds={:.2} bytes={} mb_s={:.1}",
        args.chunk_bytes,
        seconds,
        received,
        received as f64 / seconds / 1e6
    );
    Ok(())
}

fn send(address: std::net::SocketAddr, args: &Args) -> std::io::Result<u64> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_nodelay(true)?;
    let chunk: Vec<u8> = (0..args.chunk_bytes)
        .map(|i| b'A' + (i % 26) as u8)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut sent = 0u64;
    while Instant::now() < deadline {
        for _ in 0..16 {
            stream.write_all(&chunk)?;
            sent += chunk.len() as u64;
        }
    }
    stream.shutdown(std::net::Shutdown::Write)?;
    Ok(sent)
}
