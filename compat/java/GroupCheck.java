import java.io.FileReader;
import java.io.FileWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Consumer groups with the official Java KafkaConsumer, for either group
 * protocol: "classic" (JoinGroup/SyncGroup/Heartbeat) or "consumer" (KIP-848,
 * ConsumerGroupHeartbeat), or "cooperative" (classic protocol with the CooperativeStickyAssignor).
 *
 *   GroupCheck split  PROTOCOL BOOTSTRAP TOPIC GROUP STATEFILE [RECORDS]
 *       creates TOPIC (4 partitions), produces RECORDS (explicit partition i%4), then
 *       - consumers A and B (group GROUP, manual commitSync after each batch) must split
 *         the partitions: disjoint, all covered (seen through ConsumerRebalanceListener);
 *       - A processes only part of its partitions and is closed; B must take over A's
 *         partitions and continue exactly at A's committed offsets;
 *       - group GROUP-g2 (one consumer) must also receive every record exactly once;
 *       - then RECORDS/4 more records are produced and the committed offsets of GROUP
 *         are written to STATEFILE (for `resume` after a broker restart).
 *   GroupCheck resume PROTOCOL BOOTSTRAP TOPIC GROUP STATEFILE
 *       a new consumer in GROUP sees the committed offsets from STATEFILE and reads
 *       exactly the records after them (nothing older, nothing missing).
 *   GroupCheck live-restart PROTOCOL BOOTSTRAP TOPIC GROUP DIR [RECORDS]
 *       a member reads and commits half of every partition, writes DIR/ready, keeps
 *       running while the shell restarts the broker, and after DIR/restarted reads the
 *       rest: every record, no committed record twice.
 *   GroupCheck bench  PROTOCOL BOOTSTRAP TOPIC GROUP [RECORDS]
 *       two consumers share TOPIC (4 partitions) and consume (throttled, committing);
 *       a third subscribes: prints a BENCH line with the time from its subscribe() to
 *       all three holding a disjoint, complete assignment. No committed record may be
 *       delivered twice.
 *
 * Throughout, a record whose offset the group has already committed must never be
 * delivered again to a member of that group; redelivery of records whose commit
 * failed (rebalance in progress) is legal and only reported.
 */
public class GroupCheck {
    static final int PARTITIONS = 4;
    static final long T0 = System.nanoTime();
    static final long WAIT_MS = Long.getLong("group.wait.ms", 60000);

    public static void main(String[] args) {
        Util.main("GroupCheck " + args[0] + " " + args[1], () -> {
            String mode = args[0];
            String protocol = args[1];
            Util.check(protocol.equals("classic") || protocol.equals("consumer") || protocol.equals("cooperative"),
                    "protocol must be classic|consumer|cooperative");
            switch (mode) {
                case "split":
                    split(protocol, args[2], args[3], args[4], args[5],
                            args.length > 6 ? Integer.parseInt(args[6]) : 4000);
                    break;
                case "resume":
                    resume(protocol, args[2], args[3], args[4], args[5]);
                    break;
                case "live-restart":
                    liveRestart(protocol, args[2], args[3], args[4], args[5],
                            args.length > 6 ? Integer.parseInt(args[6]) : 4000);
                    break;
                case "bench":
                    bench(protocol, args[2], args[3], args[4], args.length > 5 ? Integer.parseInt(args[5]) : 20000);
                    break;
                default:
                    throw new IllegalArgumentException("unknown mode " + mode);
            }
        });
    }

    static String ts() {
        return String.format("+%.3fs", (System.nanoTime() - T0) / 1e9);
    }

    static void log(String fmt, Object... args) {
        Util.info("%s " + fmt, prepend(ts(), args));
    }

    static Object[] prepend(Object first, Object[] rest) {
        Object[] all = new Object[rest.length + 1];
        all[0] = first;
        System.arraycopy(rest, 0, all, 1, rest.length);
        return all;
    }

    // ------------------------------------------------------------------ ledger

    /** What one group has seen and committed, shared by all its members. */
    static final class Ledger {
        final String group;
        final long[] committed = new long[PARTITIONS]; // highest offset committed so far (0 = none)
        // highest offset any commitSync asked for, acknowledged or not (a commit may be applied by
        // the coordinator before its response reaches the member, or when the response is lost)
        final long[] requested = new long[PARTITIONS];
        final Map<Long, Integer> deliveries = new HashMap<>();
        final List<String> violations = new ArrayList<>();
        long uncommittedRedeliveries = 0;

        Ledger(String group) {
            this.group = group;
        }

        static long key(int p, long o) {
            return ((long) p << 48) | o;
        }

        synchronized void delivered(Worker w, int p, long o) {
            if (!w.owns(p)) {
                violations.add(String.format("%s got record (p%d, o%d) of a partition not assigned to it (assignment %s)",
                        w.name, p, o, w.assignmentString()));
            }
            if (o < committed[p]) {
                violations.add(String.format("%s got (p%d, o%d) although group %s had committed offset %d for p%d",
                        w.name, p, o, group, committed[p], p));
            }
            int n = deliveries.merge(key(p, o), 1, Integer::sum);
            if (n > 1 && o >= committed[p]) {
                uncommittedRedeliveries++;
            }
        }

        synchronized void committed(int p, long next) {
            committed[p] = Math.max(committed[p], next);
        }

        synchronized long committedOf(int p) {
            return committed[p];
        }

        synchronized void requested(int p, long next) {
            requested[p] = Math.max(requested[p], next);
        }

        synchronized long requestedOf(int p) {
            return requested[p];
        }

        synchronized boolean allCommitted(long[] end) {
            for (int p = 0; p < PARTITIONS; p++) {
                if (committed[p] < end[p]) {
                    return false;
                }
            }
            return true;
        }

        /** Every record [0, end) delivered; optionally exactly once. */
        synchronized void checkComplete(long[] from, long[] end, boolean exactlyOnce) {
            check();
            for (int p = 0; p < PARTITIONS; p++) {
                for (long o = from[p]; o < end[p]; o++) {
                    Integer n = deliveries.get(key(p, o));
                    Util.check(n != null, "group %s: record (p%d, o%d) never delivered", group, p, o);
                    Util.check(!exactlyOnce || n == 1, "group %s: record (p%d, o%d) delivered %d times", group, p, o, n);
                }
            }
            if (uncommittedRedeliveries > 0) {
                log("group %s: %d uncommitted records were delivered again (legal: their commit had failed)",
                        group, uncommittedRedeliveries);
            }
        }

        synchronized void check() {
            if (!violations.isEmpty()) {
                throw new AssertionError(violations.size() + " violation(s), first ones: "
                        + violations.subList(0, Math.min(5, violations.size())));
            }
        }
    }

    // ------------------------------------------------------------------ worker

    /**
     * One KafkaConsumer on its own thread (the consumer is single-threaded), subscribed
     * with a rebalance listener. Processes records (ledger), then commitSync()s exactly the
     * processed offsets. While `gate` is closed, newly assigned partitions are paused, so
     * assignments can be checked before anything is consumed. `limit` caps how many records
     * it processes per partition (the rest of a batch is seeked back, so nothing unprocessed
     * is skipped, and the partition is paused).
     */
    static final class Worker implements Runnable, ConsumerRebalanceListener {
        final String name;
        final Properties props;
        final String topic;
        final Ledger ledger;
        final AtomicBoolean gate;
        volatile long limit;
        final long sleepPerBatchMs;
        final Thread thread;
        volatile boolean stop = false;
        volatile Throwable failure;
        volatile long subscribeNanos;
        volatile long processed = 0;
        private final Map<Integer, Long> perPartition = new HashMap<>();
        volatile int commitFailures = 0;
        private final Set<Integer> assignment = new TreeSet<>();
        final Map<Integer, Long> firstOffset = new TreeMap<>();
        final Map<Integer, Long> lastOffset = new TreeMap<>();
        final List<String> events = new ArrayList<>();
        private KafkaConsumer<String, String> consumer;

        Worker(String name, String protocol, String bootstrap, String group, String topic, Ledger ledger,
                AtomicBoolean gate, long limit, int maxPollRecords, long sleepPerBatchMs) {
            this.name = name;
            this.topic = topic;
            this.ledger = ledger;
            this.gate = gate;
            this.limit = limit;
            this.sleepPerBatchMs = sleepPerBatchMs;
            props = consumerProps(protocol, bootstrap, group, name);
            props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, maxPollRecords);
            thread = new Thread(this, name);
            thread.setDaemon(true);
        }

        Worker start() {
            thread.start();
            return this;
        }

        synchronized boolean owns(int p) {
            return assignment.contains(p);
        }

        synchronized Set<Integer> assignment() {
            return new TreeSet<>(assignment);
        }

        synchronized String assignmentString() {
            return assignment.toString();
        }

        synchronized void event(String what, Collection<TopicPartition> parts) {
            Set<Integer> ps = new TreeSet<>();
            for (TopicPartition tp : parts) {
                ps.add(tp.partition());
            }
            String e = String.format("%s %s %s %s -> %s", ts(), name, what, ps, assignment);
            events.add(e);
            Util.info("%s", e);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            synchronized (this) {
                for (TopicPartition tp : parts) {
                    assignment.add(tp.partition());
                }
            }
            event("assigned", parts);
            if (!gate.get() && !parts.isEmpty()) {
                consumer.pause(parts);
            }
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            synchronized (this) {
                for (TopicPartition tp : parts) {
                    assignment.remove(tp.partition());
                }
            }
            event("revoked", parts);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            synchronized (this) {
                for (TopicPartition tp : parts) {
                    assignment.remove(tp.partition());
                }
            }
            event("LOST", parts);
        }

        @Override
        public void run() {
            try {
                consumer = new KafkaConsumer<>(props);
                subscribeNanos = System.nanoTime();
                consumer.subscribe(List.of(topic), this);
                while (!stop) {
                    ConsumerRecords<String, String> recs;
                    try {
                        recs = consumer.poll(Duration.ofMillis(100));
                    } catch (IllegalStateException e) {
                        // kafka-clients' new (KIP-848) consumer can collect records it had buffered
                        // for a partition whose position awaits validation after a leader change
                        // (KAFKA-19589) and throw this from poll; its state is intact, so poll on.
                        if (!String.valueOf(e.getMessage()).contains("without a valid current position")) {
                            throw e;
                        }
                        Util.warn("%s: the client's poll threw \"%s\" after a leader change (KAFKA-19589); polling on",
                                name, e.getMessage());
                        continue;
                    }
                    if (gate.get() && !consumer.paused().isEmpty()) {
                        List<TopicPartition> resume = new ArrayList<>();
                        for (TopicPartition tp : consumer.paused()) {
                            if (count(tp.partition()) < limit) {
                                resume.add(tp);
                            }
                        }
                        consumer.resume(resume);
                    }
                    // Also with no records: a commit that failed during a rebalance is retried
                    // once it is over, or the last records would stay uncommitted forever.
                    process(recs);
                }
                log("%s: closing (processed %d records, %d failed commits)", name, processed, commitFailures);
                consumer.close(Duration.ofSeconds(30));
                log("%s: closed", name);
            } catch (Throwable t) {
                failure = t;
                log("%s: FAILED: %s", name, t);
                t.printStackTrace(System.out);
            }
        }

        synchronized long count(int p) {
            return perPartition.getOrDefault(p, 0L);
        }

        /** Processed `limit` records of each of these partitions. */
        synchronized boolean budgetUsed(Set<Integer> parts) {
            for (int p : parts) {
                if (count(p) < limit) {
                    return false;
                }
            }
            return true;
        }

        /** Processed offsets whose commit has not succeeded yet (retried on the next poll). */
        private final Map<TopicPartition, OffsetAndMetadata> uncommitted = new HashMap<>();

        private void process(ConsumerRecords<String, String> recs) throws InterruptedException {
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            Map<TopicPartition, Long> rewind = new HashMap<>();
            for (ConsumerRecord<String, String> r : recs) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                if (count(r.partition()) >= limit || rewind.containsKey(tp)) {
                    rewind.putIfAbsent(tp, r.offset());
                    continue;
                }
                String want = "v-" + r.partition() + "-" + r.offset();
                if (!r.value().startsWith(want + "-") && !r.value().equals(want)) {
                    synchronized (ledger) {
                        ledger.violations.add(String.format("%s: record (p%d, o%d) has value %s, expected %s",
                                name, r.partition(), r.offset(), r.value(), want));
                    }
                }
                ledger.delivered(this, r.partition(), r.offset());
                firstOffset.putIfAbsent(r.partition(), r.offset());
                lastOffset.put(r.partition(), r.offset());
                processed++;
                synchronized (this) {
                    perPartition.merge(r.partition(), 1L, Long::sum);
                }
                commit.put(tp, new OffsetAndMetadata(r.offset() + 1));
            }
            // budget used up: don't skip what we did not process, and stop fetching
            rewind.forEach(consumer::seek);
            List<TopicPartition> exhausted = new ArrayList<>();
            for (TopicPartition tp : consumer.assignment()) {
                if (count(tp.partition()) >= limit) {
                    exhausted.add(tp);
                }
            }
            consumer.pause(exhausted);
            if (sleepPerBatchMs > 0 && !recs.isEmpty()) {
                Thread.sleep(sleepPerBatchMs);
            }
            uncommitted.putAll(commit);
            uncommitted.keySet().retainAll(consumer.assignment());
            if (uncommitted.isEmpty()) {
                return;
            }
            commit = new HashMap<>(uncommitted);
            for (Map.Entry<TopicPartition, OffsetAndMetadata> e : commit.entrySet()) {
                ledger.requested(e.getKey().partition(), e.getValue().offset());
            }
            try {
                consumer.commitSync(commit, Duration.ofSeconds(30));
                for (Map.Entry<TopicPartition, OffsetAndMetadata> e : commit.entrySet()) {
                    ledger.committed(e.getKey().partition(), e.getValue().offset());
                }
                uncommitted.clear();
            } catch (CommitFailedException | RebalanceInProgressException e) {
                if (++commitFailures <= 3) {
                    log("%s: commitSync(%s) failed (legal during a rebalance, records may be redelivered): %s%s", name,
                            offsets(commit), e, commitFailures == 3 ? " (further failures only counted)" : "");
                }
            }
        }

        void stopAndJoin() throws InterruptedException {
            stop = true;
            thread.join(60000);
            Util.check(!thread.isAlive(), "%s did not close within 60s", name);
            rethrow();
        }

        void rethrow() {
            if (failure != null) {
                throw new AssertionError(name + " failed: " + failure, failure);
            }
        }
    }

    static String offsets(Map<TopicPartition, OffsetAndMetadata> m) {
        Map<Integer, Long> out = new TreeMap<>();
        m.forEach((tp, om) -> out.put(tp.partition(), om.offset()));
        return out.toString();
    }

    static Properties consumerProps(String protocol, String bootstrap, String group, String clientId) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        if (protocol.equals("cooperative")) {
            // classic protocol with incremental cooperative rebalancing (KIP-429)
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "classic");
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG,
                    org.apache.kafka.clients.consumer.CooperativeStickyAssignor.class.getName());
        } else {
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 30000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 60000);
        return p;
    }

    // ------------------------------------------------------------------ helpers

    static void waitFor(String what, long timeoutMs, List<Worker> workers, BooleanSupplier cond) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (!cond.getAsBoolean()) {
            for (Worker w : workers) {
                w.rethrow();
            }
            if (System.currentTimeMillis() > deadline) {
                StringBuilder sb = new StringBuilder();
                for (Worker w : workers) {
                    sb.append(String.format("%n  %s: assignment %s, processed %d, first %s, last %s", w.name,
                            w.assignment(), w.processed, w.firstOffset, w.lastOffset));
                }
                throw new AssertionError("timed out after " + timeoutMs + "ms waiting for " + what + sb);
            }
            Thread.sleep(10);
        }
    }

    /** Assignments of the workers are pairwise disjoint, all non-empty, and cover every partition. */
    static boolean splitComplete(List<Worker> workers) {
        Set<Integer> union = new HashSet<>();
        int total = 0;
        for (Worker w : workers) {
            Set<Integer> a = w.assignment();
            if (a.isEmpty()) {
                return false;
            }
            union.addAll(a);
            total += a.size();
        }
        return union.size() == PARTITIONS && total == PARTITIONS;
    }

    static void checkSplit(List<Worker> workers) {
        Set<Integer> seen = new HashSet<>();
        StringBuilder sb = new StringBuilder();
        int min = Integer.MAX_VALUE, max = 0;
        for (Worker w : workers) {
            Set<Integer> a = w.assignment();
            for (int p : a) {
                Util.check(seen.add(p), "partition %d assigned twice: %s", p, describe(workers));
            }
            min = Math.min(min, a.size());
            max = Math.max(max, a.size());
            sb.append(w.name).append('=').append(a).append(' ');
        }
        Util.check(seen.size() == PARTITIONS, "not every partition assigned: %s", describe(workers));
        if (max - min > 1) {
            Util.warn("unbalanced assignment over %d consumers: %s", workers.size(), sb);
        }
        log("assignment: %s", sb.toString().trim());
    }

    static String describe(List<Worker> workers) {
        StringBuilder sb = new StringBuilder();
        for (Worker w : workers) {
            sb.append(w.name).append('=').append(w.assignment()).append(' ');
        }
        return sb.toString().trim();
    }

    static long[] produce(String bootstrap, String topic, int records, String tag) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        long[] base = endOffsets(bootstrap, topic);
        long[] next = base.clone();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> fs = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                int part = i % PARTITIONS;
                // the value names the (partition, offset) it must land at, so consumers can check it
                String value = "v-" + part + "-" + next[part]++ + "-" + tag;
                fs.add(producer.send(new ProducerRecord<>(topic, part, "k" + i, value)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : fs) {
                f.get(60, SECONDS);
            }
        }
        long[] end = endOffsets(bootstrap, topic);
        for (int part = 0; part < PARTITIONS; part++) {
            Util.check(end[part] == next[part], "p%d: end offset %d after producing, expected %d", part, end[part],
                    next[part]);
        }
        log("produced %d records to %s, end offsets %s", records, topic, java.util.Arrays.toString(end));
        return end;
    }

    static long[] endOffsets(String bootstrap, String topic) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Map<TopicPartition, OffsetSpec> q = new HashMap<>();
            for (int p = 0; p < PARTITIONS; p++) {
                q.put(new TopicPartition(topic, p), OffsetSpec.latest());
            }
            var res = admin.listOffsets(q).all().get(30, SECONDS);
            long[] end = new long[PARTITIONS];
            for (int p = 0; p < PARTITIONS; p++) {
                end[p] = res.get(new TopicPartition(topic, p)).offset();
            }
            return end;
        }
    }

    static void createTopic(String bootstrap, String topic) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, PARTITIONS, null);
        }
        log("created %s (%d partitions)", topic, PARTITIONS);
    }

    // ------------------------------------------------------------------ split

    static void split(String protocol, String bootstrap, String topic, String group, String stateFile, int records)
            throws Exception {
        createTopic(bootstrap, topic);
        long[] end = produce(bootstrap, topic, records, "a");
        long[] zero = new long[PARTITIONS];

        // 1. A joins alone and gets everything (paused: nothing consumed yet)
        Ledger g = new Ledger(group);
        AtomicBoolean gate = new AtomicBoolean(false);
        // A processes only the first half of each of its partitions
        long half = end[0] / 2;
        Worker a = new Worker("A", protocol, bootstrap, group, topic, g, gate, half, 50, 0).start();
        waitFor("A to be assigned all partitions", WAIT_MS, List.of(a), () -> a.assignment().size() == PARTITIONS);
        log("A alone owns %s", a.assignment());

        // 2. B joins: the two must split the partitions (none twice, all covered)
        long tB = System.nanoTime();
        Worker b = new Worker("B", protocol, bootstrap, group, topic, g, gate, Long.MAX_VALUE, 50, 0).start();
        List<Worker> ab = List.of(a, b);
        waitFor("A and B to split the partitions", WAIT_MS, ab, () -> splitComplete(ab));
        log("A and B split the partitions %.0f ms after B started", (System.nanoTime() - tB) / 1e6);
        checkSplit(ab);
        Set<Integer> aParts = a.assignment();
        Set<Integer> bParts = b.assignment();

        // 3. consume: A up to its budget, B everything it owns; all committed
        gate.set(true);
        waitFor("A to process " + half + " records of each of its partitions and B to commit its partitions", WAIT_MS,
                ab, () -> {
            if (!a.budgetUsed(aParts)) {
                return false;
            }
            for (int p : bParts) {
                if (g.committedOf(p) < end[p]) {
                    return false;
                }
            }
            return true;
        });
        g.check();
        Util.check(a.assignment().equals(aParts) && b.assignment().equals(bParts),
                "assignment changed while both were consuming: %s (was A=%s B=%s)", describe(ab), aParts, bParts);
        long[] aCommitted = new long[PARTITIONS];
        for (int p : aParts) {
            aCommitted[p] = g.committedOf(p);
        }
        log("A processed %d records and committed %s on its partitions %s; closing A", a.processed,
                java.util.Arrays.toString(aCommitted), aParts);

        // 4. A leaves: B takes over A's partitions and continues at A's committed offsets
        long tClose = System.nanoTime();
        a.stopAndJoin();
        waitFor("B to own all partitions after A left", WAIT_MS, List.of(b),
                () -> b.assignment().size() == PARTITIONS);
        log("B owns all partitions %.0f ms after A started closing", (System.nanoTime() - tClose) / 1e6);
        waitFor("group " + group + " to commit every record", WAIT_MS, List.of(b), () -> g.allCommitted(end));
        for (int p : aParts) {
            Long first = b.firstOffset.get(p);
            Util.check(aCommitted[p] == half, "A committed offset %d on p%d, expected %d (what it processed)",
                    aCommitted[p], p, half);
            Util.check(first != null && first == aCommitted[p],
                    "B's first record on A's partition %d is offset %s, expected A's committed offset %d", p, first,
                    aCommitted[p]);
        }
        log("B continued on A's partitions %s at A's committed offsets: B's first offsets %s", aParts, b.firstOffset);
        g.checkComplete(zero, end, false);
        log("group %s: all %d records delivered, no committed record delivered twice", group, records);

        // 5. a second group reads everything too, independently of the first
        Ledger g2l = new Ledger(group + "-g2");
        Worker c = new Worker("C", protocol, bootstrap, group + "-g2", topic, g2l, new AtomicBoolean(true),
                Long.MAX_VALUE, 500, 0).start();
        waitFor("group " + group + "-g2 to commit every record", WAIT_MS, List.of(c), () -> g2l.allCommitted(end));
        g2l.checkComplete(zero, end, false);
        log("group %s-g2: all %d records delivered", group, records);
        b.stopAndJoin();
        c.stopAndJoin();
        g.check();
        g2l.check();

        // 6. more records for `resume` to find after the restart
        long[] end2 = produce(bootstrap, topic, records / 4, "b");
        Properties st = new Properties();
        for (int p = 0; p < PARTITIONS; p++) {
            st.setProperty("committed." + p, Long.toString(g.committedOf(p)));
            st.setProperty("end." + p, Long.toString(end2[p]));
        }
        try (FileWriter w = new FileWriter(stateFile)) {
            st.store(w, "GroupCheck split state");
        }
        log("state for resume: %s", st);
    }

    // ------------------------------------------------------------------ resume

    static void resume(String protocol, String bootstrap, String topic, String group, String stateFile)
            throws Exception {
        Properties st = new Properties();
        try (FileReader r = new FileReader(stateFile)) {
            st.load(r);
        }
        long[] committed = new long[PARTITIONS];
        long[] end = new long[PARTITIONS];
        Set<TopicPartition> tps = new HashSet<>();
        for (int p = 0; p < PARTITIONS; p++) {
            committed[p] = Long.parseLong(st.getProperty("committed." + p));
            end[p] = Long.parseLong(st.getProperty("end." + p));
            tps.add(new TopicPartition(topic, p));
        }
        long[] endNow = endOffsets(bootstrap, topic);
        Util.check(java.util.Arrays.equals(end, endNow), "end offsets after restart %s, expected %s",
                java.util.Arrays.toString(endNow), java.util.Arrays.toString(end));

        // committed offsets survived the restart (OffsetFetch through a group member)
        try (KafkaConsumer<String, String> probe = new KafkaConsumer<>(
                consumerProps(protocol, bootstrap, group, "probe"))) {
            Map<TopicPartition, OffsetAndMetadata> got = probe.committed(tps, Duration.ofSeconds(60));
            for (int p = 0; p < PARTITIONS; p++) {
                OffsetAndMetadata om = got.get(new TopicPartition(topic, p));
                Util.check(om != null && om.offset() == committed[p],
                        "after restart: committed offset of p%d is %s, expected %d", p, om, committed[p]);
            }
            log("after restart: committed offsets %s", offsets(got));
        }

        // a new member resumes exactly there
        Ledger g = new Ledger(group);
        for (int p = 0; p < PARTITIONS; p++) {
            g.committed(p, committed[p]);
        }
        Worker d = new Worker("D", protocol, bootstrap, group, topic, g, new AtomicBoolean(true), Long.MAX_VALUE, 500,
                0).start();
        waitFor("D (group " + group + ") to commit every new record", WAIT_MS, List.of(d), () -> g.allCommitted(end));
        for (int p = 0; p < PARTITIONS; p++) {
            Long first = d.firstOffset.get(p);
            Util.check(committed[p] == end[p] || (first != null && first == committed[p]),
                    "D's first record on p%d is offset %s, expected the committed offset %d", p, first, committed[p]);
        }
        d.stopAndJoin();
        g.checkComplete(committed, end, false);
        log("D resumed at the committed offsets %s and read up to %s", java.util.Arrays.toString(committed),
                java.util.Arrays.toString(end));
    }

    // ------------------------------------------------------------------ live restart

    /**
     * A member keeps running while the broker restarts: it reads the first half of every
     * partition and commits, writes DIR/ready, waits for DIR/restarted (the shell restarts
     * the broker in between), then reads the rest. No committed record may come again.
     */
    static void liveRestart(String protocol, String bootstrap, String topic, String group, String dir, int records)
            throws Exception {
        createTopic(bootstrap, topic);
        long[] end = produce(bootstrap, topic, records, "live");
        long half = end[0] / 2;
        Ledger g = new Ledger(group);
        Worker e = new Worker("E", protocol, bootstrap, group, topic, g, new AtomicBoolean(true), half, 50, 0)
                .start();
        Set<Integer> all = Set.of(0, 1, 2, 3);
        waitFor("E to read and commit the first half of every partition", WAIT_MS, List.of(e), () -> {
            if (!e.budgetUsed(all)) {
                return false;
            }
            for (int p = 0; p < PARTITIONS; p++) {
                if (g.committedOf(p) < half) {
                    return false;
                }
            }
            return true;
        });
        java.nio.file.Path ready = java.nio.file.Path.of(dir, "ready");
        java.nio.file.Path restarted = java.nio.file.Path.of(dir, "restarted");
        java.nio.file.Files.writeString(ready, "ready\n");
        log("E committed %d on every partition; waiting while the broker restarts", half);
        waitFor("the broker restart (" + restarted + ")", 120000, List.of(e),
                () -> java.nio.file.Files.exists(restarted));
        log("broker restarted; E reads the rest");
        e.limit = Long.MAX_VALUE;
        waitFor("E to read and commit the rest after the broker restart", 2 * WAIT_MS, List.of(e),
                () -> g.allCommitted(end));
        e.stopAndJoin();
        g.checkComplete(new long[PARTITIONS], end, false);
        log("E went on across the broker restart: all %d records, no committed record twice (%d failed commits, "
                + "%d uncommitted redeliveries)", records, e.commitFailures, g.uncommittedRedeliveries);
    }

    // ------------------------------------------------------------------ bench

    static void bench(String protocol, String bootstrap, String topic, String group, int records) throws Exception {
        createTopic(bootstrap, topic);
        long[] end = produce(bootstrap, topic, records, "bench");
        long[] zero = new long[PARTITIONS];
        Ledger g = new Ledger(group);
        AtomicBoolean open = new AtomicBoolean(true);
        // throttled so that consumption is still going on while the third member joins
        Worker w1 = new Worker("W1", protocol, bootstrap, group, topic, g, open, Long.MAX_VALUE, 10, 10).start();
        Worker w2 = new Worker("W2", protocol, bootstrap, group, topic, g, open, Long.MAX_VALUE, 10, 10).start();
        List<Worker> two = List.of(w1, w2);
        waitFor("W1 and W2 to split the partitions", WAIT_MS, two, () -> splitComplete(two));
        checkSplit(two);
        waitFor("W1 and W2 to consume " + records / 10 + " records", WAIT_MS, two,
                () -> w1.processed + w2.processed >= records / 10);
        Worker w3 = new Worker("W3", protocol, bootstrap, group, topic, g, open, Long.MAX_VALUE, 10, 10);
        List<Worker> three = List.of(w1, w2, w3);
        long consumedAtJoin = w1.processed + w2.processed;
        w3.start();
        waitFor("W1, W2, W3 to split the partitions", WAIT_MS, three, () -> splitComplete(three));
        long done = System.nanoTime();
        checkSplit(three);
        double ms = (done - w3.subscribeNanos) / 1e6;
        waitFor("group " + group + " to commit every record", 2 * WAIT_MS, three, () -> g.allCommitted(end));
        for (Worker w : three) {
            w.stopAndJoin();
        }
        g.checkComplete(zero, end, false);
        Util.info("BENCH group-rebalance-3 protocol=%s: %.0f ms from the third consumer's subscribe() to all three "
                + "assigned (%d of %d records consumed before; defaults: heartbeat/session from the client/broker; "
                + "%d uncommitted redeliveries, 0 committed)", protocol, ms, consumedAtJoin, records,
                g.uncommittedRedeliveries);
    }
}
