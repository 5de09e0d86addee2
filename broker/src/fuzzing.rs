//! The fuzz targets: the decoders a client or a peer reaches. The Kafka request decoder (every
//! API key and version, as `server/dispatch.rs` decodes), the record batch parser Produce runs
//! (`partition/batch.rs`) and the peer-transport decoder (`cluster/wire.rs`). Nothing may panic
//! or allocate what the input cannot justify.
//!
//! Two drivers call the same target functions: cargo-fuzz (libFuzzer, coverage guided, nightly;
//! `broker/fuzz`, run by `scripts/fuzz`) and, on stable in every `cargo test`, a deterministic
//! mutation fuzzer (bit flips, boundary bytes, truncations, huge varint lengths, splices of the
//! valid seeds). Inputs that once failed are files under `broker/fuzz/regressions/<target>/`,
//! replayed first by the unit tests.

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

/// The request decoding of `server::dispatch`: key and version off the front, then header and
/// body, for every key and version the codec knows.
pub fn decode_request(frame: &[u8]) {
    if frame.len() < 8 {
        return;
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let Ok(api_key) = ApiKey::try_from(raw_key) else {
        return;
    };
    let versions = api_key.valid_versions();
    if version < versions.min || version > versions.max {
        return;
    }
    let mut bytes = Bytes::copy_from_slice(frame);
    if RequestHeader::decode(&mut bytes, api_key.request_header_version(version)).is_ok() {
        let _ = RequestKind::decode(api_key, &mut bytes, version);
    }
}

/// The record batch parsing of Produce. Half the inputs get their first CRC fixed, so that the
/// checks behind it run too.
pub fn parse_record_batches(input: &[u8]) {
    let mut input = input.to_vec();
    if input.len() >= crate::partition::batch::HEADER_LEN && input[0] & 1 == 0 {
        if let Ok(header) = crate::partition::batch::parse_header(&input) {
            if header.size_bytes() <= input.len() {
                let crc = crc32c::crc32c(&input[21..header.size_bytes()]);
                input[17..21].copy_from_slice(&crc.to_be_bytes());
            }
        }
    }
    if let Ok(batches) = crate::partition::batch::split(&input) {
        let mut end = 0;
        for (at, header) in batches {
            assert_eq!(at, end, "batches are contiguous");
            end = at + header.size_bytes();
            assert!(header.record_count > 0);
        }
        assert_eq!(end, input.len(), "the batches cover the input exactly");
    }
}

/// A frame between nodes, read as a request and as a response.
pub fn decode_peer_frame(input: &[u8]) {
    use crate::cluster::wire::{self, Request, Response};
    let _ = wire::decode::<Request>(input);
    let _ = wire::decode::<Response>(input);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::wire::{self, Frame, Request, Response};
    use crate::metadata::commands::MetadataCommand;
    use crate::partition::batch;
    use crate::raft::{Command, Entry, TypeConfig};
    use openraft::raft::{AppendEntriesRequest, VoteRequest};
    use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};
    use std::time::{Duration, Instant};

    use bytes::BytesMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    /// Cases per target in a plain `cargo test` run.
    const CASES_DEFAULT: u64 = 20_000;

    struct Mutator {
        state: u64,
    }

    impl Mutator {
        fn new(seed: u64) -> Mutator {
            Mutator { state: seed | 1 }
        }

        /// xorshift64*: reproducible without a dependency.
        fn next(&mut self) -> u64 {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }

        /// One to four mutations of a random seed.
        fn mutant(&mut self, seeds: &[Vec<u8>]) -> Vec<u8> {
            let mut input = seeds[self.below(seeds.len())].clone();
            for _ in 0..1 + self.below(4) {
                self.mutate(&mut input, seeds);
            }
            input
        }

        fn mutate(&mut self, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
            const BOUNDARY: [u8; 6] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
            let at = self.below(input.len() + 1).min(input.len());
            match self.below(6) {
                0 if at < input.len() => input[at] ^= 1 << self.below(8),
                1 if at < input.len() => input[at] = BOUNDARY[self.below(BOUNDARY.len())],
                2 => input.truncate(at),
                // A varint or an i32 length claiming a huge count.
                3 => drop(input.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f])),
                4 => drop(input.splice(at..at, [0x7f, 0xff, 0xff, 0xff])),
                _ => {
                    let other = &seeds[self.below(seeds.len())];
                    let from = self.below(other.len());
                    input.splice(at..at, other[from..].iter().copied());
                }
            }
        }
    }

    /// Inputs that once failed `target` (files under broker/fuzz/regressions/<target>/).
    fn regressions(target: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/regressions")
            .join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut inputs: Vec<(std::path::PathBuf, Vec<u8>)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .map(|p| {
                let bytes = std::fs::read(&p).expect("a regression input is readable");
                (p, bytes)
            })
            .collect();
        inputs.sort();
        inputs.into_iter().map(|(_, bytes)| bytes).collect()
    }

    /// Runs `check` on the regressions, then on mutants of `seeds` for the budget.
    fn fuzz(target: &str, seeds: &[Vec<u8>], mut check: impl FnMut(&[u8])) {
        assert!(!seeds.is_empty());
        for input in regressions(target) {
            check(&input);
        }
        let budget = std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_secs);
        let started = Instant::now();
        let mut mutator = Mutator::new(0x9e37_79b9_7f4a_7c15);
        let mut cases: u64 = 0;
        loop {
            let done = match budget {
                Some(budget) => started.elapsed() >= budget,
                None => cases >= CASES_DEFAULT,
            };
            if done {
                break;
            }
            let input = mutator.mutant(seeds);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&input)));
            assert!(outcome.is_ok(), "{target}: panicked on {input:02x?}");
            cases += 1;
        }
        eprintln!(
            "fuzz {target}: {cases} cases in {:.1} s, no finding",
            started.elapsed().as_secs_f64()
        );
    }

    /// A frame of a default request of every supported API at every version.
    fn request_seeds() -> Vec<Vec<u8>> {
        let mut seeds = Vec::new();
        for spec in crate::handlers::SUPPORTED {
            let Some(request) = crate::handlers::default_request(spec.key) else {
                continue;
            };
            for version in spec.min..=spec.max {
                let header = RequestHeader::default()
                    .with_request_api_key(spec.key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7)
                    .with_client_id(Some(StrBytes::from_static_str("fuzz")));
                let mut frame = BytesMut::new();
                let encoded = header
                    .encode(&mut frame, spec.key.request_header_version(version))
                    .and_then(|_| request.encode(&mut frame, version));
                if encoded.is_ok() {
                    seeds.push(frame.to_vec());
                }
            }
        }
        seeds
    }

    #[test]
    fn request_decoder() {
        let seeds = request_seeds();
        let versions: usize = crate::handlers::SUPPORTED
            .iter()
            .map(|spec| (spec.max - spec.min + 1) as usize)
            .sum();
        assert_eq!(seeds.len(), versions, "a seed for every key and version");
        for seed in &seeds {
            decode_request(seed);
        }
        fuzz("request_decoder", &seeds, decode_request);
    }

    fn record_batch_seeds() -> Vec<Vec<u8>> {
        let one = batch::tests::sample_batch(3, 7, 0);
        let two = [one.clone(), batch::tests::sample_batch(1, -1, -1)].concat();
        vec![one, two]
    }

    #[test]
    fn record_batch_parser() {
        fuzz(
            "record_batch_parser",
            &record_batch_seeds(),
            parse_record_batches,
        );
    }

    fn peer_seeds() -> Vec<Vec<u8>> {
        let log_id = |index| LogId::new(CommittedLeaderId::new(3, 2), index);
        let entry = |index, payload| Entry {
            log_id: log_id(index),
            payload,
        };
        let append = AppendEntriesRequest::<TypeConfig> {
            vote: Vote::new_committed(3, 2),
            prev_log_id: Some(log_id(41)),
            entries: vec![
                entry(
                    42,
                    EntryPayload::Normal(Command::Append(Bytes::from_static(b"batch"))),
                ),
                entry(
                    43,
                    EntryPayload::Normal(Command::Metadata(MetadataCommand::DeleteTopic {
                        name: "t".into(),
                    })),
                ),
                entry(44, EntryPayload::Blank),
            ],
            leader_commit: Some(log_id(41)),
        };
        let requests = vec![
            Request::AppendEntries {
                group: 9,
                rpc: append,
            },
            Request::Vote {
                group: 1,
                rpc: VoteRequest::new(Vote::new(4, 1), Some(log_id(7))),
            },
            Request::Leadership {
                group: 3,
                to: Some(2),
                lag_max_ms: 10,
                timeout_ms: 100,
            },
            Request::DescribeQuorum,
        ];
        let mut seeds: Vec<Vec<u8>> = requests
            .into_iter()
            .map(|body| wire::encode(&Frame { id: 7, body }).unwrap().to_vec())
            .collect();
        for body in [Response::NotLeader, Response::Malformed("why".into())] {
            seeds.push(wire::encode(&Frame { id: 8, body }).unwrap().to_vec());
        }
        seeds
    }

    #[test]
    fn peer_transport_decoder() {
        fuzz("peer_transport_decoder", &peer_seeds(), decode_peer_frame);
    }

    /// Writes every target's seeds as cargo-fuzz's starting corpus (`scripts/fuzz` runs it):
    /// FUZZ_CORPUS_DIR/<target>/seed-N.
    #[test]
    #[ignore = "run by scripts/fuzz"]
    fn write_seed_corpus() {
        let root = std::path::PathBuf::from(
            std::env::var("FUZZ_CORPUS_DIR").expect("FUZZ_CORPUS_DIR names the corpus root"),
        );
        for (target, seeds) in [
            ("request_decoder", request_seeds()),
            ("record_batch_parser", record_batch_seeds()),
            ("peer_transport_decoder", peer_seeds()),
        ] {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
            }
        }
    }
}
