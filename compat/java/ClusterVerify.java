import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Checks a partition written by ClusterProducer against its ack files.
 *
 * Usage: ClusterVerify BOOTSTRAP TOPIC PARTITION ACKFILE [ACKFILE ...]
 *
 * Reads the partition from the beginning to its current end offset (group-less consumer,
 * read_uncommitted) and checks that
 *   - the ack files themselves are sane: no seq acknowledged twice, no two seqs acknowledged
 *     at the same offset;
 *   - every acknowledged seq is in the log exactly once, at the offset it was acknowledged at;
 *   - the seqs in the log are strictly ascending (so in send order and without duplicates;
 *     records whose send failed may be there or not: their outcome was unknown to the client);
 *   - the log starts at offset 0 and has no gaps in what is read.
 * Prints "ClusterVerify: PASS ..." or exits 1 with the first problems.
 * Knobs: -Dverify.seconds=120 (read deadline); -Dverify.at.least.once=FROM-TO[,FROM-TO...]:
 * seq ranges written by a non-idempotent producer (idempotence=false), whose UNacknowledged
 * records may be in the log several times and out of order (acknowledged ones never are).
 */
public class ClusterVerify {
    public static void main(String[] args) {
        Util.main("ClusterVerify", () -> run(args));
    }

    static final List<long[]> AT_LEAST_ONCE = new ArrayList<>();

    static boolean atLeastOnce(long seq) {
        for (long[] r : AT_LEAST_ONCE) {
            if (seq >= r[0] && seq <= r[1]) {
                return true;
            }
        }
        return false;
    }

    static void run(String[] args) throws Exception {
        for (String r : System.getProperty("verify.at.least.once", "").split(",")) {
            if (!r.isBlank()) {
                String[] ft = r.trim().split("-");
                AT_LEAST_ONCE.add(new long[] {Long.parseLong(ft[0]), Long.parseLong(ft[1])});
            }
        }
        String bootstrap = args[0];
        String topic = args[1];
        int partition = Integer.parseInt(args[2]);
        TopicPartition tp = new TopicPartition(topic, partition);
        long seconds = Long.getLong("verify.seconds", 120);

        Map<Long, Long> ackedOffset = new HashMap<>(); // seq -> acked offset
        Map<Long, Long> seqAt = new HashMap<>();       // acked offset -> seq
        List<String> problems = new ArrayList<>();
        for (int i = 3; i < args.length; i++) {
            for (String line : Files.readAllLines(Path.of(args[i]))) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.trim().split(" ");
                long seq = Long.parseLong(f[0]);
                int part = Integer.parseInt(f[1]);
                long off = Long.parseLong(f[2]);
                if (part != partition) {
                    problems.add(String.format("%s: seq %d acked on partition %d, not %d", args[i], seq, part, partition));
                    continue;
                }
                Long prev = ackedOffset.put(seq, off);
                if (prev != null) {
                    problems.add(String.format("seq %d acknowledged twice (offsets %d and %d)", seq, prev, off));
                }
                Long other = seqAt.put(off, seq);
                if (other != null && other != seq) {
                    problems.add(String.format("offset %d acknowledged for two records: seq %d and seq %d", off, other, seq));
                }
            }
        }
        long maxAckedOffset = seqAt.keySet().stream().mapToLong(Long::longValue).max().orElse(-1);
        Util.info("ClusterVerify: %d acknowledged records in %d ack file(s), highest acked offset %d", ackedOffset.size(),
                args.length - 3, maxAckedOffset);

        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "cluster-verify");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10000);
        c.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 60000);
        c.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 1000);
        long deadline = System.currentTimeMillis() + seconds * 1000;
        long inLog = 0;
        long unacked = 0;
        long lastSeq = Long.MIN_VALUE;
        long expectOffset = 0;
        Map<Long, Long> found = new HashMap<>(); // acked seq -> offset found at
        TreeMap<Long, String> unackedSample = new TreeMap<>();
        long begin;
        long end;
        try (KafkaConsumer<String, String> consumer =
                     new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer())) {
            consumer.assign(List.of(tp));
            begin = consumer.beginningOffsets(Set.of(tp), Duration.ofSeconds(60)).get(tp);
            end = consumer.endOffsets(Set.of(tp), Duration.ofSeconds(60)).get(tp);
            Util.info("ClusterVerify: %s log [%d, %d)", tp, begin, end);
            if (begin != 0) {
                problems.add("log start offset is " + begin + ", expected 0");
            }
            if (end <= maxAckedOffset) {
                problems.add(String.format("end offset %d, but offset %d was acknowledged", end, maxAckedOffset));
            }
            consumer.seekToBeginning(List.of(tp));
            expectOffset = begin;
            while (expectOffset < end && problems.size() < 50) {
                Util.check(System.currentTimeMillis() < deadline, "read only up to offset %d of %d within %ds",
                        expectOffset, end, seconds);
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    if (r.offset() >= end) {
                        continue;
                    }
                    if (r.offset() != expectOffset) {
                        problems.add(String.format("offset %d follows offset %d (gap or repeat)", r.offset(),
                                expectOffset - 1));
                    }
                    expectOffset = r.offset() + 1;
                    inLog++;
                    String v = r.value();
                    long seq;
                    try {
                        seq = Long.parseLong(v.substring(4, v.indexOf('-', 4)));
                        Util.check(v.startsWith("seq-"), "bad prefix");
                    } catch (RuntimeException e) {
                        problems.add(String.format("offset %d: value %.40s is not a ClusterProducer record", r.offset(), v));
                        continue;
                    }
                    Long ackedHere = ackedOffset.get(seq);
                    if (ackedHere == null && atLeastOnce(seq)) {
                        // a non-idempotent producer's unacknowledged record: retries may have
                        // written it more than once, and out of order
                        unacked++;
                        if (unackedSample.size() < 5) {
                            unackedSample.put(r.offset(), "seq " + seq);
                        }
                        continue;
                    }
                    if (seq <= lastSeq) {
                        problems.add(String.format("offset %d: seq %d after seq %d (%s)", r.offset(), seq, lastSeq,
                                found.containsKey(seq) || seq == lastSeq ? "DUPLICATE" : "out of order"));
                    }
                    lastSeq = Math.max(lastSeq, seq);
                    Long acked = ackedOffset.get(seq);
                    if (acked == null) {
                        unacked++;
                        if (unackedSample.size() < 5) {
                            unackedSample.put(r.offset(), "seq " + seq);
                        }
                        continue;
                    }
                    Long dup = found.put(seq, r.offset());
                    if (dup != null) {
                        problems.add(String.format("acknowledged seq %d is in the log twice: offsets %d and %d", seq,
                                dup, r.offset()));
                    }
                    if (acked != r.offset()) {
                        problems.add(String.format("acknowledged seq %d was acked at offset %d but is at offset %d",
                                seq, acked, r.offset()));
                    }
                }
            }
        }
        long missing = 0;
        for (Map.Entry<Long, Long> e : new TreeMap<>(ackedOffset).entrySet()) {
            if (!found.containsKey(e.getKey())) {
                if (++missing <= 10) {
                    problems.add(String.format("acknowledged seq %d (offset %d) is MISSING from the log", e.getKey(),
                            e.getValue()));
                }
            }
        }
        if (missing > 10) {
            problems.add((missing - 10) + " more acknowledged records missing");
        }
        if (!problems.isEmpty()) {
            throw new AssertionError(problems.size() + " problem(s) in " + tp + " (" + inLog + " records read of ["
                    + begin + ", " + end + ")), first ones:\n  " + String.join("\n  ",
                    problems.subList(0, Math.min(20, problems.size()))));
        }
        Util.info("ClusterVerify: PASS %s: %d records in [%d, %d); all %d acknowledged records present exactly once "
                        + "at their acked offsets, seqs strictly ascending; %d unacknowledged records present%s", tp,
                inLog, begin, end, ackedOffset.size(), unacked, unacked > 0 ? " (e.g. " + unackedSample + ")" : "");
    }
}
