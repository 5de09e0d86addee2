import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.LogDirDescription;
import org.apache.kafka.clients.admin.ReplicaInfo;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Log compaction (issue 18) with the official Java client.
 *
 * <pre>
 *   CompactionCheck BOOTSTRAP TOPIC KEYS UPDATES DATA_DIR SEGMENT_MS DELETE_RETENTION_MS
 * </pre>
 *
 * Creates TOPIC (2 partitions, cleanup.policy=compact, segment.ms=SEGMENT_MS,
 * delete.retention.ms=DELETE_RETENTION_MS, min.cleanable.dirty.ratio=0.01,
 * min.compaction.lag.ms=0), produces UPDATES rounds of KEYS keys (lz4, idempotent, acks=all),
 * then tombstones for every tenth key, waits SEGMENT_MS and produces one record to each
 * partition so that everything before it leaves the active segment. Then, reading each
 * partition from the beginning:
 *   1. once compacted: exactly one record per key, the latest value (a tombstone for every
 *      tenth key), offsets strictly increasing with gaps, the log start offset still 0, a
 *      fetch at an offset inside a removed range answers the next record;
 *   2. after DELETE_RETENTION_MS and new updates of other keys (Kafka cleans a log again only
 *      once it is dirty again): the tombstones are gone, every live key still there.
 * The partitions' sizes (DescribeLogDirs) and the data dir's bytes on disk are printed
 * before and after and must fall.
 */
public final class CompactionCheck {
    private CompactionCheck() {}

    public static void main(String[] args) {
        Util.main("CompactionCheck", () -> {
            Util.check(args.length == 7, "usage: CompactionCheck BOOTSTRAP TOPIC KEYS UPDATES DATA_DIR SEGMENT_MS DELETE_RETENTION_MS");
            run(args[0], args[1], Integer.parseInt(args[2]), Integer.parseInt(args[3]), Path.of(args[4]),
                    Long.parseLong(args[5]), Long.parseLong(args[6]));
        });
    }

    static final int PARTITIONS = 2;

    static void run(String bootstrap, String topic, int keys, int updates, Path dataDir, long segmentMs,
            long deleteRetentionMs) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, PARTITIONS, Map.of(
                    "cleanup.policy", "compact",
                    "segment.ms", Long.toString(segmentMs),
                    "delete.retention.ms", Long.toString(deleteRetentionMs),
                    "min.cleanable.dirty.ratio", "0.01",
                    "min.compaction.lag.ms", "0"));
            long t0 = System.nanoTime();
            produce(bootstrap, topic, keys, updates);
            Util.info("produced %d keys x %d updates + %d tombstones in %.1fs", keys, updates, keys / 10,
                    (System.nanoTime() - t0) / 1e9);
            long logicalBefore = logicalBytes(admin, topic);
            long diskBefore = diskBytes(dataDir);
            Util.info("before compaction: partitions %d bytes (DescribeLogDirs), data dir %d bytes on disk",
                    logicalBefore, diskBefore);

            // Past the active segment: a record more than segment.ms after its first batch.
            Thread.sleep(segmentMs + 500);
            Map<Integer, Long> rollOffsets = roll(bootstrap, topic);

            long compactedAt = System.nanoTime();
            Map<String, String> expected = expected(keys, updates, true);
            waitFor("one record per key", 60_000, () -> compactedTo(read(bootstrap, topic, rollOffsets), expected));
            Log compacted = read(bootstrap, topic, rollOffsets);
            Util.info("compacted in %.1fs: %d records, %d gaps", (System.nanoTime() - compactedAt) / 1e9,
                    compacted.records, compacted.gaps);
            Util.check(compacted.records == keys, "%d records read, expected one per key (%d)", compacted.records, keys);
            Util.check(compacted.gaps > 0, "no gap in the offsets");
            checkSeekIntoGap(bootstrap, topic, compacted);
            checkLogStart(bootstrap, topic);

            // Tombstones go in the first pass after delete.retention.ms has passed since the pass
            // that kept them. Kafka's cleaner only passes over a log that is dirty again, so
            // updates of other keys follow (read() stops before them), rolled out of the active
            // segment as before.
            Thread.sleep(deleteRetentionMs + 500);
            dirty(bootstrap, topic, keys);
            Thread.sleep(segmentMs + 500);
            roll(bootstrap, topic);
            Map<String, String> live = expected(keys, updates, false);
            waitFor("tombstones removed", 60_000,
                    () -> compactedTo(read(bootstrap, topic, rollOffsets), live));
            Log cleaned = read(bootstrap, topic, rollOffsets);
            Util.check(cleaned.records == keys - keys / 10, "%d records after the tombstones went, expected %d",
                    cleaned.records, keys - keys / 10);
            Util.info("tombstones removed %.1fs after the first pass: %d live records",
                    (System.nanoTime() - compactedAt) / 1e9, cleaned.records);

            long logicalAfter = logicalBytes(admin, topic);
            long diskAfter = waitForDisk(dataDir, diskBefore);
            Util.info("after compaction: partitions %d bytes (DescribeLogDirs), data dir %d bytes on disk",
                    logicalAfter, diskAfter);
            Util.info("BENCH compaction: partitions %d -> %d bytes, disk %d -> %d bytes", logicalBefore,
                    logicalAfter, diskBefore, diskAfter);
            Util.check(logicalAfter * 10 < logicalBefore, "partition size %d -> %d: not a tenth", logicalBefore, logicalAfter);
            Util.check(diskAfter < diskBefore, "bytes on disk did not fall: %d -> %d", diskBefore, diskAfter);
        }
    }

    static void produce(String bootstrap, String topic, int keys, int updates) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            Future<RecordMetadata> last = null;
            for (int round = 0; round < updates; round++) {
                for (int key = 0; key < keys; key++) {
                    last = producer.send(new ProducerRecord<>(topic, key(key), value(key, round)));
                }
            }
            for (int key = 0; key < keys; key += 10) {
                last = producer.send(new ProducerRecord<>(topic, key(key), null));
            }
            producer.flush();
            last.get(60, TimeUnit.SECONDS);
        }
    }

    /** One record per partition, more than segment.ms after the rest: returns its offsets. */
    static Map<Integer, Long> roll(String bootstrap, String topic) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        Map<Integer, Long> offsets = new HashMap<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            for (int partition = 0; partition < PARTITIONS; partition++) {
                RecordMetadata meta = producer.send(new ProducerRecord<>(topic, partition, "roll-" + partition, "roll"))
                        .get(30, TimeUnit.SECONDS);
                offsets.put(partition, meta.offset());
            }
        }
        return offsets;
    }

    /**
     * Updates of one key per partition, together a tenth of the live keys' bytes: enough for
     * min.cleanable.dirty.ratio (0.01) to make the log dirty again.
     */
    static void dirty(String bootstrap, String topic, int keys) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            Future<RecordMetadata> last = null;
            for (int i = 0; i < keys / 10; i++) {
                for (int partition = 0; partition < PARTITIONS; partition++) {
                    last = producer.send(new ProducerRecord<>(topic, partition, "dirty-" + partition, value(i, 0)));
                }
            }
            producer.flush();
            last.get(60, TimeUnit.SECONDS);
        }
    }

    static String key(int key) {
        return "key-" + key;
    }

    static String value(int key, int round) {
        return "value-" + key + "-round-" + round + "-padding-padding-padding";
    }

    static Map<String, String> expected(int keys, int updates, boolean withTombstones) {
        Map<String, String> out = new HashMap<>();
        for (int key = 0; key < keys; key++) {
            if (key % 10 != 0) {
                out.put(key(key), value(key, updates - 1));
            } else if (withTombstones) {
                out.put(key(key), null);
            }
        }
        return out;
    }

    /** Every partition from the beginning up to its roll record (excluded). */
    static final class Log {
        final Map<String, String> latest = new HashMap<>();
        final Map<TopicPartition, List<Long>> offsets = new HashMap<>();
        int records;
        int gaps;
        boolean duplicateKey;
    }

    static boolean compactedTo(Log log, Map<String, String> expected) {
        return !log.duplicateKey && log.latest.equals(expected);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    static Log read(String bootstrap, String topic, Map<Integer, Long> rollOffsets) {
        Log log = new Log();
        try (KafkaConsumer<String, String> consumer = consumer(bootstrap)) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (int p = 0; p < PARTITIONS; p++) {
                partitions.add(new TopicPartition(topic, p));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> lastOffset = new HashMap<>();
            long deadline = System.currentTimeMillis() + 30_000;
            while (partitions.stream().anyMatch(tp -> consumer.position(tp) < rollOffsets.get(tp.partition()))) {
                Util.check(System.currentTimeMillis() < deadline, "reading %s from the beginning took over 30 s", topic);
                ConsumerRecords<String, String> polled = consumer.poll(Duration.ofMillis(500));
                for (ConsumerRecord<String, String> r : polled) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    if (r.offset() >= rollOffsets.get(r.partition())) {
                        continue;
                    }
                    Long previous = lastOffset.put(tp, r.offset());
                    Util.check(previous == null || r.offset() > previous, "%s: offset %d after %d", tp, r.offset(), previous);
                    if (previous != null && r.offset() > previous + 1) {
                        log.gaps++;
                    }
                    log.offsets.computeIfAbsent(tp, k -> new ArrayList<>()).add(r.offset());
                    log.duplicateKey |= log.latest.containsKey(r.key());
                    log.latest.put(r.key(), r.value());
                    log.records++;
                }
            }
        }
        return log;
    }

    /** A fetch at an offset compaction removed answers the next record kept (Kafka's behaviour). */
    static void checkSeekIntoGap(String bootstrap, String topic, Log log) {
        for (Map.Entry<TopicPartition, List<Long>> e : log.offsets.entrySet()) {
            List<Long> offsets = e.getValue();
            for (int i = 1; i < offsets.size(); i++) {
                if (offsets.get(i) > offsets.get(i - 1) + 1) {
                    long removed = offsets.get(i - 1) + 1;
                    try (KafkaConsumer<String, String> consumer = consumer(bootstrap)) {
                        consumer.assign(List.of(e.getKey()));
                        consumer.seek(e.getKey(), removed);
                        ConsumerRecords<String, String> polled = ConsumerRecords.empty();
                        long deadline = System.currentTimeMillis() + 15_000;
                        while (polled.isEmpty() && System.currentTimeMillis() < deadline) {
                            polled = consumer.poll(Duration.ofMillis(500));
                        }
                        Util.check(!polled.isEmpty(), "%s: nothing read from removed offset %d", e.getKey(), removed);
                        long first = polled.iterator().next().offset();
                        Util.check(first == offsets.get(i), "%s: a fetch at removed offset %d answered %d, not the next record %d",
                                e.getKey(), removed, first, offsets.get(i));
                        Util.info("%s: a fetch at removed offset %d answers the next record, %d", e.getKey(), removed, first);
                    }
                    return;
                }
            }
        }
    }

    /** Compaction never moves the log start offset (ListOffsets EARLIEST). */
    static void checkLogStart(String bootstrap, String topic) {
        try (KafkaConsumer<String, String> consumer = consumer(bootstrap)) {
            List<TopicPartition> partitions = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
            Map<TopicPartition, Long> earliest = consumer.beginningOffsets(partitions);
            for (Map.Entry<TopicPartition, Long> e : earliest.entrySet()) {
                Util.check(e.getValue() == 0, "%s: log start offset %d after compaction, expected 0", e.getKey(), e.getValue());
            }
        }
    }

    static long logicalBytes(Admin admin, String topic) throws Exception {
        long total = 0;
        Map<Integer, Map<String, LogDirDescription>> dirs = admin.describeLogDirs(List.of(1)).allDescriptions()
                .get(30, TimeUnit.SECONDS);
        for (Map<String, LogDirDescription> byDir : dirs.values()) {
            for (LogDirDescription dir : byDir.values()) {
                for (Map.Entry<TopicPartition, ReplicaInfo> e : dir.replicaInfos().entrySet()) {
                    if (e.getKey().topic().equals(topic)) {
                        total += e.getValue().size();
                    }
                }
            }
        }
        return total;
    }

    static long diskBytes(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> {
                try {
                    return Files.size(f);
                } catch (IOException e) {
                    return 0; // deleted while walking (RocksDB compaction)
                }
            }).sum();
        }
    }

    /** RocksDB frees the files of removed batches when its compaction passes: wait for it. */
    static long waitForDisk(Path dir, long before) throws Exception {
        long deadline = System.currentTimeMillis() + 30_000;
        long now = diskBytes(dir);
        while (now >= before / 2 && System.currentTimeMillis() < deadline) {
            Thread.sleep(500);
            now = diskBytes(dir);
        }
        return now;
    }

    interface Condition {
        boolean holds() throws Exception;
    }

    static void waitFor(String what, long timeoutMs, Condition condition) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!condition.holds()) {
            Util.check(System.currentTimeMillis() < deadline, "timed out after %d ms waiting for: %s", timeoutMs, what);
            Thread.sleep(500);
        }
    }
}
