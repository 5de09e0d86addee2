import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Kafka Streams 4.3.1 word count for compat/check-streams.sh (compiled with compat/java/Util.java
 * against all of Kafka's libs):
 *   WordCount produce BOOTSTRAP INPUT OUTPUT FROM TO
 *       creates INPUT (3 partitions) and OUTPUT (2) if missing, then sends lines FROM..TO-1 of the
 *       fixed text (idempotent producer, acks=all)
 *   WordCount run BOOTSTRAP APP_ID INPUT OUTPUT STATE_DIR
 *       the application: lines -> words -> groupBy(word) (repartition topic) -> count() in the
 *       store "counts" (changelog topic) -> OUTPUT as word -> count (Long); at_least_once
 *       (or STREAMS_GUARANTEE=exactly_once_v2), commit.interval.ms=200; runs until SIGTERM
 *       (clean close) or SIGKILL
 *   WordCount verify BOOTSTRAP APP_ID INPUT OUTPUT LINES SECONDS
 *       waits (bounded) until both hold: the latest OUTPUT value of every word is its exact count
 *       in lines 0..LINES-1 (no other words), and the group APP_ID has committed the end offset of
 *       every INPUT and repartition partition (so everything was processed, its changelog and
 *       output writes acknowledged, and nothing is left to reprocess). Also checks the internal
 *       topics (under exactly_once_v2 OUTPUT is read read_committed and only INPUT's offsets are
 *       required committed): one APP_ID-...-repartition (cleanup.policy=delete) and one APP_ID-...-changelog
 *       (cleanup.policy=compact), each with INPUT's partition count.
 */
public class WordCount {
    static final int INPUT_PARTITIONS = 3;
    static final int OUTPUT_PARTITIONS = 2;
    static final String[] VOCABULARY = (
            "kafka broker topic partition offset leader replica record batch producer consumer group "
            + "commit fetch stream table store changelog repartition window join aggregate count "
            + "raft log segment index snapshot compaction retention coordinator member rebalance "
            + "heartbeat session transaction idempotent sequence epoch fence metadata cluster node "
            + "controller quorum vote term follower").split(" ");

    /** Line i of the text: 1 to 12 words of the vocabulary, spread unevenly, some repeated. */
    static String line(long i) {
        int n = (int) (1 + (i * 7 + i / 13) % 12);
        StringBuilder b = new StringBuilder();
        for (int j = 0; j < n; j++) {
            int w = (int) ((i * 31 + (long) j * j * 17 + i / 5) % VOCABULARY.length);
            if (j > 0) {
                b.append(j % 3 == 0 ? "  " : " ");
            }
            b.append(VOCABULARY[w]);
        }
        return b.toString();
    }

    static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        for (String w : line.toLowerCase().split("\\s+")) {
            if (!w.isEmpty()) {
                out.add(w);
            }
        }
        return out;
    }

    static Map<String, Long> expected(long lines) {
        Map<String, Long> m = new TreeMap<>();
        for (long i = 0; i < lines; i++) {
            for (String w : words(line(i))) {
                m.merge(w, 1L, Long::sum);
            }
        }
        return m;
    }

    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "produce" -> Util.main("WordCount produce", () -> produce(args[1], args[2], args[3],
                    Long.parseLong(args[4]), Long.parseLong(args[5])));
            case "run" -> run(args[1], args[2], args[3], args[4], args[5], guarantee());
            case "verify" -> Util.main("WordCount verify", () -> verify(args[1], args[2], args[3], args[4],
                    Long.parseLong(args[5]), Integer.parseInt(args[6]), guarantee()));
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    /** processing.guarantee from STREAMS_GUARANTEE: at_least_once (default) or exactly_once_v2. */
    static String guarantee() {
        String g = System.getenv().getOrDefault("STREAMS_GUARANTEE", StreamsConfig.AT_LEAST_ONCE);
        Util.check(g.equals(StreamsConfig.AT_LEAST_ONCE) || g.equals(StreamsConfig.EXACTLY_ONCE_V2),
                "STREAMS_GUARANTEE=%s: at_least_once or exactly_once_v2", g);
        return g;
    }

    static void produce(String bootstrap, String input, String output, long from, long to) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            Set<String> have = admin.listTopics().names().get(30, SECONDS);
            if (!have.contains(input)) {
                Util.createTopic(admin, input, INPUT_PARTITIONS, null);
            }
            if (!have.contains(output)) {
                Util.createTopic(admin, output, OUTPUT_PARTITIONS, null);
            }
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        try (KafkaProducer<String, String> producer =
                new KafkaProducer<>(p, new StringSerializer(), new StringSerializer())) {
            // STREAMS_PRODUCE_LINES_PER_S paces the lines so that a crash can land mid-batch.
            long perSecond = Long.parseLong(System.getenv().getOrDefault("STREAMS_PRODUCE_LINES_PER_S", "0"));
            long start = System.nanoTime();
            for (long i = from; i < to; i++) {
                if (perSecond > 0 && (i - from) % 100 == 0) {
                    long due = start + (i - from) * 1_000_000_000L / perSecond;
                    Thread.sleep(Math.max(0, (due - System.nanoTime()) / 1_000_000));
                }
                producer.send(new ProducerRecord<>(input, "line-" + i, line(i)), (md, e) -> {
                    if (e != null) {
                        System.err.println("send failed: " + e);
                        Runtime.getRuntime().halt(1);
                    }
                });
            }
            producer.flush();
        }
        Util.info("produced lines %d..%d to %s", from, to - 1, input);
    }

    static void run(String bootstrap, String appId, String input, String output, String stateDir, String guarantee)
            throws Exception {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 200);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        // A SIGKILLed member stays in the (classic) group until its session times out, and the
        // restarted app's rebalance waits for that: the broker's minimum instead of 45 s.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 6000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 1500);

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(WordCount::words)
                .groupBy((key, word) -> word)
                .count(Materialized.as("counts"))
                .toStream()
                .to(output, Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(builder.build(), p);
        CountDownLatch done = new CountDownLatch(1);
        streams.setStateListener((now, before) -> {
            Util.info("STATE %s -> %s", before, now);
            if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) {
                done.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.err.println("stream thread failed: " + e);
            e.printStackTrace();
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            streams.close(Duration.ofSeconds(30));
            done.countDown();
        }));
        streams.start();
        done.await();
        if (streams.state() == KafkaStreams.State.ERROR) {
            Runtime.getRuntime().halt(1);
        }
    }

    static void verify(String bootstrap, String appId, String input, String output, long lines, int seconds,
            String guarantee) throws Exception {
        boolean exactlyOnce = guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2);
        Map<String, Long> want = expected(lines);
        Map<String, Long> got = new TreeMap<>();
        long deadline = System.currentTimeMillis() + seconds * 1000L;
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        if (exactlyOnce) {
            // Output of aborted transactions (a killed app's) must not count.
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        }
        try (Admin admin = Util.admin(bootstrap);
                KafkaConsumer<String, Long> consumer =
                        new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer())) {
            List<TopicPartition> outParts = new ArrayList<>();
            for (int i = 0; i < OUTPUT_PARTITIONS; i++) {
                outParts.add(new TopicPartition(output, i));
            }
            consumer.assign(outParts);
            consumer.seekToBeginning(outParts);
            String lag = "";
            String repartition = null;
            long outputRecords = 0;
            while (true) {
                for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(500))) {
                    got.put(r.key(), r.value());
                    outputRecords++;
                }
                if (repartition == null) {
                    repartition = internalTopic(admin, appId, "-repartition", false);
                }
                if (repartition != null) {
                    // Under exactly_once_v2 the repartition topic ends with a transaction marker
                    // that Streams commits past only when it next processes something there.
                    lag = exactlyOnce ? lag(admin, appId, List.of(input)) : lag(admin, appId, List.of(input, repartition));
                    if (lag.isEmpty() && got.equals(want)) {
                        break;
                    }
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new AssertionError(String.format("after %ds: %s; output (%d records read) differs: %s",
                            seconds, repartition == null ? "no repartition topic" : "uncommitted: " + lag,
                            outputRecords, diff(want, got)));
                }
            }
            long total = want.values().stream().mapToLong(Long::longValue).sum();
            Util.info("output: the exact counts of %d words (%d occurrences in %d lines), from %d output records; "
                    + "everything committed", want.size(), total, lines, outputRecords);
            String changelog = internalTopic(admin, appId, "-changelog", true);
            checkInternal(admin, repartition, "delete");
            checkInternal(admin, changelog, "compact");
            Util.info("internal topics: %s (cleanup.policy=delete), %s (cleanup.policy=compact), %d partitions each",
                    repartition, changelog, INPUT_PARTITIONS);
        }
    }

    /** The one topic named APP_ID-...SUFFIX (null if none yet, unless required). */
    static String internalTopic(Admin admin, String appId, String suffix, boolean required) throws Exception {
        Set<String> found = admin.listTopics().names().get(30, SECONDS).stream()
                .filter(t -> t.startsWith(appId + "-") && t.endsWith(suffix))
                .collect(Collectors.toCollection(TreeSet::new));
        Util.check(found.size() <= 1 && (!required || found.size() == 1),
                "expected one topic %s-...%s, found %s", appId, suffix, found);
        return found.isEmpty() ? null : found.iterator().next();
    }

    static void checkInternal(Admin admin, String topic, String cleanupPolicy) throws Exception {
        TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, SECONDS).get(topic);
        Util.check(d.partitions().size() == INPUT_PARTITIONS, "%s has %d partitions, expected %d", topic,
                d.partitions().size(), INPUT_PARTITIONS);
        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config c = admin.describeConfigs(List.of(res)).all().get(30, SECONDS).get(res);
        String policy = c.get("cleanup.policy") == null ? null : c.get("cleanup.policy").value();
        Util.check(cleanupPolicy.equals(policy), "%s: cleanup.policy=%s, expected %s", topic, policy, cleanupPolicy);
    }

    /**
     * "" when the group APP_ID has committed the end offset of every partition of TOPICS (INPUT
     * and the repartition topic), else what is missing. Committed offsets are read before the end offsets: a
     * committed input offset equal to the later end offset means every input record was
     * processed and its repartition records acknowledged before that commit, so they are below
     * the repartition end offset read afterwards.
     */
    static String lag(Admin admin, String appId, List<String> topics) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> committed =
                admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get(30, SECONDS);
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (String t : topics) {
            for (int i = 0; i < INPUT_PARTITIONS; i++) {
                latest.put(new TopicPartition(t, i), OffsetSpec.latest());
            }
        }
        StringBuilder b = new StringBuilder();
        admin.listOffsets(latest).all().get(30, SECONDS).entrySet().stream()
                .sorted(Map.Entry.comparingByKey((x, y) -> x.toString().compareTo(y.toString())))
                .forEach(e -> {
                    OffsetAndMetadata c = committed.get(e.getKey());
                    long end = e.getValue().offset();
                    if (end > 0 && (c == null || c.offset() != end)) {
                        b.append(String.format("%s committed %s of %d; ", e.getKey(),
                                c == null ? "nothing" : Long.toString(c.offset()), end));
                    }
                });
        return b.toString();
    }

    static String diff(Map<String, Long> want, Map<String, Long> got) {
        Set<String> keys = new TreeSet<>(want.keySet());
        keys.addAll(got.keySet());
        StringBuilder b = new StringBuilder();
        int n = 0;
        for (String k : keys) {
            if (!java.util.Objects.equals(want.get(k), got.get(k))) {
                if (n++ < 12) {
                    b.append(String.format("%s=%s (expected %s) ", k, got.get(k), want.get(k)));
                }
            }
        }
        return n + " words: " + b;
    }
}
