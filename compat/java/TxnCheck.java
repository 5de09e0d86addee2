import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Transactions with the official Java client.
 *
 * <pre>
 *   TxnCheck commit-abort BOOTSTRAP TOPIC
 *       a transactional producer commits, aborts, commits; a read_committed consumer sees only
 *       the committed records (in order), a read_uncommitted one all of them; an open
 *       transaction holds the last stable offset (read_committed end offset) back until it
 *       commits
 *   TxnCheck fence BOOTSTRAP TOPIC
 *       a second producer with the same transactional.id fences the first: the first one's
 *       commit fails with ProducerFencedException, its open transaction is aborted, the second
 *       one's records are the only ones read_committed sees
 *   TxnCheck timeout BOOTSTRAP TOPIC
 *       transaction.timeout.ms above transaction.max.timeout.ms is refused at initTransactions;
 *       a transaction left open past its 2 s timeout is aborted by the coordinator: its
 *       records never become visible to read_committed, the last stable offset moves past
 *       them, and the producer's late commit fails (fenced)
 *   TxnCheck hold BOOTSTRAP TOPIC STOPFILE
 *       keeps a transaction open (3 records flushed to partition 0, transactional id
 *       txn-hold-TOPIC), printing OPEN once it is, until STOPFILE exists (60 s at most),
 *       then commits
 *   TxnCheck failover BOOTSTRAP TOPIC DIR
 *       on a cluster: a committed transaction, then one left open (records flushed to two
 *       partitions of replication factor 3) while the caller SIGKILLs its coordinator (written
 *       to DIR/coordinator, DIR/ready once open; the caller touches DIR/killed); the producer
 *       then writes more records to the same transaction and commits. The transaction commits
 *       or aborts as a whole: read_committed consumers see all of its records or none, and a
 *       later transaction commits through the new coordinator
 *   TxnCheck ctp-input BOOTSTRAP TOPIC RECORDS | ctp-app BOOTSTRAP TOPIC |
 *           ctp-verify BOOTSTRAP TOPIC RECORDS
 *       the pieces of a consume-transform-produce app the caller SIGKILLs mid-way and restarts:
 *       ctp-input writes RECORDS inputs; ctp-app (transactional id txn-ctpk-TOPIC) transforms
 *       them, a transaction of at most 50 records with sendOffsetsToTransaction at a time
 *       (paced: ~30 ms apart; PROGRESS once the first one committed), until the group committed
 *       the input's end; ctp-verify: read_committed output holds each input exactly once
 *   TxnCheck ctp BOOTSTRAP TOPIC RECORDS
 *       consume-transform-produce: a read_committed group consumer, a transactional producer,
 *       sendOffsetsToTransaction; every third transaction is aborted and the consumer rewinds
 *       to the committed offsets. The output holds each input exactly once, and the group's
 *       committed offsets are the input's end offsets
 * </pre>
 */
public final class TxnCheck {
    private TxnCheck() {}

    public static void main(String[] args) {
        Util.main("TxnCheck " + (args.length > 0 ? args[0] : ""), () -> {
            Util.check(args.length >= 3, "usage: TxnCheck commit-abort|fence|ctp BOOTSTRAP TOPIC ...");
            switch (args[0]) {
                case "commit-abort":
                    commitAbort(args[1], args[2]);
                    break;
                case "fence":
                    fence(args[1], args[2]);
                    break;
                case "timeout":
                    timeout(args[1], args[2]);
                    break;
                case "hold":
                    hold(args[1], args[2], java.nio.file.Path.of(args[3]));
                    break;
                case "failover":
                    failover(args[1], args[2], java.nio.file.Path.of(args[3]));
                    break;
                case "ctp-input":
                    ctpInput(args[1], args[2], Integer.parseInt(args[3]));
                    break;
                case "ctp-app":
                    ctpApp(args[1], args[2]);
                    break;
                case "ctp-verify":
                    ctpVerify(args[1], args[2], Integer.parseInt(args[3]));
                    break;
                case "ctp":
                    ctp(args[1], args[2], Integer.parseInt(args[3]));
                    break;
                default:
                    throw new IllegalArgumentException(args[0]);
            }
        });
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, String isolation, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class);
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 50);
            // A SIGKILLed member (ctp-app) holds its partitions until its session times out:
            // the broker's minimum, not 45 s.
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 6000);
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1500);
        }
        return new KafkaConsumer<>(p);
    }

    static List<TopicPartition> partitions(String topic, int count) {
        List<TopicPartition> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(new TopicPartition(topic, i));
        }
        return out;
    }

    /** Every value up to the consumer's end offsets (its isolation level's), per partition in order. */
    static Map<Integer, List<String>> readAll(String bootstrap, String topic, int count, String isolation) {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, isolation, null)) {
            List<TopicPartition> tps = partitions(topic, count);
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            Map<Integer, List<String>> seen = new HashMap<>();
            long deadline = System.currentTimeMillis() + 30000;
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                Util.check(System.currentTimeMillis() < deadline, "%s read stuck at %s, end %s", isolation,
                        positions(c, tps), end);
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    seen.computeIfAbsent(r.partition(), k -> new ArrayList<>()).add(r.value());
                }
            }
            return seen;
        }
    }

    static Map<TopicPartition, Long> positions(KafkaConsumer<?, ?> c, Collection<TopicPartition> tps) {
        Map<TopicPartition, Long> out = new HashMap<>();
        tps.forEach(tp -> out.put(tp, c.position(tp)));
        return out;
    }

    static Map<TopicPartition, Long> endOffsets(String bootstrap, String topic, int count, String isolation) {
        try (KafkaConsumer<String, String> c = consumer(bootstrap, isolation, null)) {
            return c.endOffsets(partitions(topic, count));
        }
    }

    static void send(KafkaProducer<String, String> p, String topic, String prefix, int from, int to) {
        for (int i = from; i < to; i++) {
            p.send(new ProducerRecord<>(topic, i % 2, "k" + i, prefix + i));
        }
    }

    /** The values `prefix from..to` as the two partitions hold them (even to 0, odd to 1). */
    static void expect(Map<Integer, List<String>> want, String prefix, int from, int to) {
        for (int i = from; i < to; i++) {
            want.computeIfAbsent(i % 2, k -> new ArrayList<>()).add(prefix + i);
        }
    }

    static void commitAbort(String bootstrap, String topic) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 2, null);
        }
        Map<Integer, List<String>> committed = new HashMap<>();
        Map<Integer, List<String>> all = new HashMap<>();
        try (KafkaProducer<String, String> p = producer(bootstrap, "txn-commit-abort-" + topic)) {
            p.initTransactions();
            p.beginTransaction();
            send(p, topic, "c", 0, 10);
            p.commitTransaction();
            expect(committed, "c", 0, 10);
            expect(all, "c", 0, 10);
            p.beginTransaction();
            send(p, topic, "a", 0, 10);
            p.flush();
            p.abortTransaction();
            expect(all, "a", 0, 10);
            p.beginTransaction();
            send(p, topic, "c", 10, 16);
            p.commitTransaction();
            expect(committed, "c", 10, 16);
            expect(all, "c", 10, 16);
            Util.info("committed 16, aborted 10");

            Map<Integer, List<String>> readCommitted = readAll(bootstrap, topic, 2, "read_committed");
            Util.check(readCommitted.equals(committed), "read_committed saw %s, committed was %s", readCommitted,
                    committed);
            Map<Integer, List<String>> readUncommitted = readAll(bootstrap, topic, 2, "read_uncommitted");
            Util.check(readUncommitted.equals(all), "read_uncommitted saw %s, produced was %s", readUncommitted, all);
            Util.info("read_committed: only the 16 committed records; read_uncommitted: all 26");

            // An open transaction holds the last stable offset back.
            Map<TopicPartition, Long> stableBefore = endOffsets(bootstrap, topic, 2, "read_committed");
            p.beginTransaction();
            send(p, topic, "o", 0, 4);
            p.flush();
            Map<TopicPartition, Long> stableOpen = endOffsets(bootstrap, topic, 2, "read_committed");
            Map<TopicPartition, Long> highOpen = endOffsets(bootstrap, topic, 2, "read_uncommitted");
            Util.check(stableOpen.equals(stableBefore), "LSO moved during an open transaction: %s -> %s",
                    stableBefore, stableOpen);
            for (TopicPartition tp : highOpen.keySet()) {
                Util.check(highOpen.get(tp) == stableOpen.get(tp) + 2,
                        "%s: high watermark %d, last stable offset %d: expected 2 open records between", tp,
                        highOpen.get(tp), stableOpen.get(tp));
            }
            Util.check(readAll(bootstrap, topic, 2, "read_committed").equals(committed),
                    "read_committed saw records of the open transaction");
            p.commitTransaction();
            expect(committed, "o", 0, 4);
            Map<TopicPartition, Long> stableAfter = endOffsets(bootstrap, topic, 2, "read_committed");
            Map<TopicPartition, Long> highAfter = endOffsets(bootstrap, topic, 2, "read_uncommitted");
            Util.check(stableAfter.equals(highAfter), "after the commit LSO %s != high watermark %s", stableAfter,
                    highAfter);
            Util.check(readAll(bootstrap, topic, 2, "read_committed").equals(committed),
                    "read_committed after the last commit differs from %s", committed);
            Util.info("open transaction: LSO %s held below high watermark %s until the commit", stableOpen, highOpen);
        }
    }

    static void fence(String bootstrap, String topic) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 2, null);
        }
        String id = "txn-fence-" + topic;
        KafkaProducer<String, String> zombie = producer(bootstrap, id);
        zombie.initTransactions();
        zombie.beginTransaction();
        send(zombie, topic, "z", 0, 6);
        zombie.flush();
        Map<Integer, List<String>> committed = new HashMap<>();
        try (KafkaProducer<String, String> p = producer(bootstrap, id)) {
            p.initTransactions();
            Util.info("second producer initialized: the first is fenced");
            try {
                zombie.commitTransaction();
                throw new AssertionError("the fenced producer committed");
            } catch (ProducerFencedException | InvalidProducerEpochException e) {
                Util.info("fenced producer's commit: %s", e.getClass().getSimpleName());
            } catch (KafkaException e) {
                Util.check(e.getCause() instanceof ProducerFencedException, "unexpected %s", e);
            }
            zombie.close(Duration.ofSeconds(5));
            p.beginTransaction();
            send(p, topic, "p", 0, 6);
            p.commitTransaction();
            expect(committed, "p", 0, 6);
        }
        Map<Integer, List<String>> read = readAll(bootstrap, topic, 2, "read_committed");
        Util.check(read.equals(committed), "read_committed saw %s, expected only %s", read, committed);
        Map<Integer, List<String>> raw = readAll(bootstrap, topic, 2, "read_uncommitted");
        int rawCount = raw.values().stream().mapToInt(List::size).sum();
        Util.check(rawCount == 12, "read_uncommitted saw %d records, expected the zombie's 6 and 6 committed", rawCount);
        Util.info("the zombie's 6 records aborted, the new producer's 6 committed");
    }

    static KafkaProducer<String, String> producer(String bootstrap, String transactionalId, int timeoutMs) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, timeoutMs);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        return new KafkaProducer<>(p);
    }

    static void timeout(String bootstrap, String topic) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 2, null);
        }
        try (KafkaProducer<String, String> p = producer(bootstrap, "txn-too-long-" + topic, 3_600_000)) {
            p.initTransactions();
            throw new AssertionError("a transaction.timeout.ms of 1 h was accepted (max 15 min)");
        } catch (KafkaException e) {
            // INVALID_TRANSACTION_TIMEOUT, which the 4.3 client reports as "Unexpected error"
            // with the error's message.
            Util.check(String.valueOf(e.getMessage()).contains("transaction.max.timeout.ms"),
                    "initTransactions with a 1 h timeout: %s", e);
            Util.info("transaction.timeout.ms 3600000: %s", e.getMessage());
        }
        Map<TopicPartition, Long> before = endOffsets(bootstrap, topic, 2, "read_committed");
        KafkaProducer<String, String> p = producer(bootstrap, "txn-expire-" + topic, 2000);
        p.initTransactions();
        p.beginTransaction();
        send(p, topic, "x", 0, 4);
        p.flush();
        long deadline = System.currentTimeMillis() + 20000;
        Map<TopicPartition, Long> stable;
        Map<TopicPartition, Long> high;
        while (true) {
            stable = endOffsets(bootstrap, topic, 2, "read_committed");
            high = endOffsets(bootstrap, topic, 2, "read_uncommitted");
            if (stable.equals(high)) {
                break;
            }
            Util.check(System.currentTimeMillis() < deadline, "the expired transaction was not aborted: LSO %s, HW %s",
                    stable, high);
            TimeUnit.MILLISECONDS.sleep(200);
        }
        for (TopicPartition tp : high.keySet()) {
            // 2 records and the ABORT marker on each partition.
            Util.check(high.get(tp) == before.get(tp) + 3, "%s: end %d, expected %d + 3", tp, high.get(tp),
                    before.get(tp));
        }
        Util.check(readAll(bootstrap, topic, 2, "read_committed").isEmpty(),
                "read_committed saw records of the expired transaction");
        try {
            p.commitTransaction();
            throw new AssertionError("the expired transaction committed");
        } catch (KafkaException e) {
            Util.info("late commit of the expired transaction: %s", e.getClass().getSimpleName());
        }
        p.close(Duration.ofSeconds(5));
        Util.info("expired after 2 s: aborted by the coordinator, LSO = high watermark %s", high);
    }

    static void hold(String bootstrap, String topic, java.nio.file.Path stop) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 1, null);
        }
        try (KafkaProducer<String, String> p = producer(bootstrap, "txn-hold-" + topic)) {
            p.initTransactions();
            p.beginTransaction();
            for (int i = 0; i < 3; i++) {
                p.send(new ProducerRecord<>(topic, 0, null, "h" + i));
            }
            p.flush();
            Util.info("OPEN");
            long deadline = System.currentTimeMillis() + 60000;
            while (!java.nio.file.Files.exists(stop) && System.currentTimeMillis() < deadline) {
                TimeUnit.MILLISECONDS.sleep(100);
            }
            p.commitTransaction();
        }
    }

    static void failover(String bootstrap, String topic, java.nio.file.Path dir) throws Exception {
        String id = "txn-failover-" + topic;
        try (Admin admin = Util.admin(bootstrap)) {
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(topic, 2, (short) 3))).all()
                    .get(30, TimeUnit.SECONDS);
            Map<Integer, List<String>> committed = new HashMap<>();
            KafkaProducer<String, String> p = producer(bootstrap, id);
            p.initTransactions();
            p.beginTransaction();
            send(p, topic, "a", 0, 20);
            p.commitTransaction();
            expect(committed, "a", 0, 20);

            p.beginTransaction();
            send(p, topic, "b", 0, 20);
            p.flush();
            int coordinator = admin.describeTransactions(List.of(id)).description(id).get(30, TimeUnit.SECONDS)
                    .coordinatorId();
            java.nio.file.Files.writeString(dir.resolve("coordinator"), Integer.toString(coordinator));
            java.nio.file.Files.createFile(dir.resolve("ready"));
            Util.info("transaction open with 20 records, coordinator %d", coordinator);
            long deadline = System.currentTimeMillis() + 60000;
            while (!java.nio.file.Files.exists(dir.resolve("killed"))) {
                Util.check(System.currentTimeMillis() < deadline, "the coordinator was not killed within 60 s");
                TimeUnit.MILLISECONDS.sleep(50);
            }
            String outcome;
            try {
                send(p, topic, "b", 20, 40);
                p.commitTransaction();
                outcome = "committed";
                expect(committed, "b", 0, 40);
            } catch (KafkaException e) {
                // Kafka's contract: a transaction that cannot commit is aborted as a whole.
                Util.info("commit after the coordinator's death failed: %s", e);
                outcome = "aborted";
                try {
                    p.abortTransaction();
                } catch (KafkaException fatal) {
                    Util.info("abort failed too (%s): a new producer fences this one", fatal);
                }
                p.close(Duration.ofSeconds(5));
                p = producer(bootstrap, id);
                p.initTransactions();
            }
            Util.info("OUTCOME %s", outcome);
            p.beginTransaction();
            send(p, topic, "c", 0, 20);
            p.commitTransaction();
            expect(committed, "c", 0, 20);
            p.close(Duration.ofSeconds(5));
            int after = admin.describeTransactions(List.of(id)).description(id).get(30, TimeUnit.SECONDS)
                    .coordinatorId();
            Util.info("a later transaction committed through coordinator %d", after);

            Map<Integer, List<String>> read = readAll(bootstrap, topic, 2, "read_committed");
            Util.check(read.equals(committed), "read_committed saw %s, expected %s (transaction %s)", read, committed,
                    outcome);
            Util.info("read_committed: every record of the committed transactions and none of an aborted one");
        }
    }

    /** The input topic (3 partitions) with RECORDS values v0.., and the output topic (2). */
    static void ctpInput(String bootstrap, String topic, int records) throws Exception {
        String output = topic + "-out";
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 3, null);
            Util.createTopic(admin, output, 2, null);
        }
        Properties plain = new Properties();
        plain.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        plain.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        plain.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        try (KafkaProducer<String, String> p = new KafkaProducer<>(plain)) {
            for (int i = 0; i < records; i++) {
                p.send(new ProducerRecord<>(topic, i % 3, null, "v" + i));
            }
        }
    }

    /** Whether the group has committed the input's end offsets. */
    static boolean ctpDone(KafkaConsumer<String, String> c, List<TopicPartition> inputs,
            Map<TopicPartition, Long> end) {
        Map<TopicPartition, OffsetAndMetadata> done = c.committed(Set.copyOf(inputs));
        return inputs.stream().allMatch(tp -> done.get(tp) != null && done.get(tp).offset() == end.get(tp));
    }

    /** One transaction: the batch upper-cased to the output, the consumer's offsets with it. */
    static void ctpTransform(KafkaProducer<String, String> p, KafkaConsumer<String, String> c, String output,
            ConsumerRecords<String, String> batch) {
        p.beginTransaction();
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (ConsumerRecord<String, String> r : batch) {
            p.send(new ProducerRecord<>(output, r.value().hashCode() & 1, null, r.value().toUpperCase()));
            offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
        }
        p.sendOffsetsToTransaction(offsets, c.groupMetadata());
    }

    static void ctpApp(String bootstrap, String topic) throws Exception {
        List<TopicPartition> inputs = partitions(topic, 3);
        int transactions = 0;
        try (KafkaConsumer<String, String> c = consumer(bootstrap, "read_committed", "ctpk-" + topic);
                KafkaProducer<String, String> p = producer(bootstrap, "txn-ctpk-" + topic)) {
            // Fences a killed predecessor and aborts its open transaction.
            p.initTransactions();
            c.subscribe(List.of(topic));
            Map<TopicPartition, Long> end = c.endOffsets(inputs);
            long deadline = System.currentTimeMillis() + 90000;
            while (!ctpDone(c, inputs, end)) {
                Util.check(System.currentTimeMillis() < deadline, "consume-transform-produce stuck");
                ConsumerRecords<String, String> batch = c.poll(Duration.ofMillis(200));
                if (batch.isEmpty()) {
                    continue;
                }
                ctpTransform(p, c, topic + "-out", batch);
                p.commitTransaction();
                if (transactions++ == 0) {
                    Util.info("PROGRESS");
                }
                TimeUnit.MILLISECONDS.sleep(30);
            }
        }
        Util.info("%d transactions committed, the group is at the input's end", transactions);
    }

    /** read_committed output: each input exactly once. */
    static void ctpVerify(String bootstrap, String topic, int records) {
        Map<Integer, List<String>> out = readAll(bootstrap, topic + "-out", 2, "read_committed");
        Set<String> seen = new TreeSet<>();
        int total = 0;
        for (List<String> values : out.values()) {
            for (String v : values) {
                Util.check(seen.add(v), "output %s appears twice", v);
                total++;
            }
        }
        Util.check(total == records, "output holds %d records, input %d", total, records);
        for (int i = 0; i < records; i++) {
            Util.check(seen.contains("V" + i), "output lacks V%d", i);
        }
        Util.info("read_committed output: each of %d inputs exactly once", records);
    }

    static void ctp(String bootstrap, String topic, int records) throws Exception {
        String output = topic + "-out";
        String group = "ctp-" + topic;
        ctpInput(bootstrap, topic, records);
        List<TopicPartition> inputs = partitions(topic, 3);
        int transactions = 0;
        int aborted = 0;
        try (KafkaConsumer<String, String> c = consumer(bootstrap, "read_committed", group);
                KafkaProducer<String, String> p = producer(bootstrap, "txn-ctp-" + topic)) {
            p.initTransactions();
            c.subscribe(List.of(topic));
            Map<TopicPartition, Long> end = c.endOffsets(inputs);
            long deadline = System.currentTimeMillis() + 60000;
            while (!ctpDone(c, inputs, end)) {
                Util.check(System.currentTimeMillis() < deadline, "consume-transform-produce stuck at %s of %s",
                        c.committed(Set.copyOf(inputs)), end);
                ConsumerRecords<String, String> batch = c.poll(Duration.ofMillis(200));
                if (batch.isEmpty()) {
                    continue;
                }
                ctpTransform(p, c, output, batch);
                transactions++;
                if (transactions % 3 == 1) {
                    // Flushed first, so the aborted output is in the log (and must be skipped).
                    p.flush();
                    p.abortTransaction();
                    aborted++;
                    // Rewind to what the group committed: the aborted batch is processed again.
                    Map<TopicPartition, OffsetAndMetadata> committed = c.committed(c.assignment());
                    for (TopicPartition tp : c.assignment()) {
                        OffsetAndMetadata at = committed.get(tp);
                        if (at != null) {
                            c.seek(tp, at.offset());
                        } else {
                            c.seekToBeginning(List.of(tp));
                        }
                    }
                } else {
                    p.commitTransaction();
                }
            }
        }
        ctpVerify(bootstrap, topic, records);
        Map<Integer, List<String>> raw = readAll(bootstrap, output, 2, "read_uncommitted");
        int rawCount = raw.values().stream().mapToInt(List::size).sum();
        Util.check(rawCount > records, "read_uncommitted saw no aborted output (%d records)", rawCount);
        Util.info("%d transactions (%d aborted and redone): each of %d inputs once in the output (%d raw)",
                transactions, aborted, records, rawCount);
    }
}
