import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Produce with the official Java producer (DEFAULT settings: idempotent,
 * acks=all, 5 in flight), one producer and one 3-partition topic per
 * compression codec (gzip, snappy, lz4, zstd), then read everything back with
 * a group-less KafkaConsumer (assign + seekToBeginning) and compare exactly:
 * per-partition order and offsets, keys, values, headers, timestamps, nulls.
 * Then: seek to the middle, offsetsForTimes, out-of-range reset to earliest,
 * records larger than the consumer's fetch size limits, and acks=0 / acks=1.
 *
 * Usage: ProduceConsumeCheck BOOTSTRAP [TOTAL_RECORDS=10000]
 */
public class ProduceConsumeCheck {
    static final String[] CODECS = {"gzip", "snappy", "lz4", "zstd"};
    static final int PARTITIONS = 3;

    /** What we sent, and where the broker said it landed. */
    record Sent(byte[] key, byte[] value, List<Header> headers, long timestamp) {}

    public static void main(String[] args) {
        Util.main("ProduceConsumeCheck", () -> run(args[0], args.length > 1 ? Integer.parseInt(args[1]) : 10000));
    }

    static void run(String bootstrap, int total) throws Exception {
        String suffix = Long.toHexString(System.nanoTime());
        int perCodec = total / CODECS.length;
        long baseTs = System.currentTimeMillis() - 60_000;

        // expected.get(tp).get(offset) = record
        Map<TopicPartition, TreeMap<Long, Sent>> expected = new HashMap<>();

        try (Admin admin = Util.admin(bootstrap)) {
            for (String codec : CODECS) {
                Util.createTopic(admin, topic(codec, suffix), PARTITIONS, null);
            }
        }

        for (String codec : CODECS) {
            String topic = topic(codec, suffix);
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, codec);
            p.put(ProducerConfig.CLIENT_ID_CONFIG, "kbroker-compat-producer-" + codec);
            p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 60000);
            // Everything else stays at the client defaults on purpose
            // (enable.idempotence=true, acks=all, max.in.flight=5).
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            List<Sent> sent = new ArrayList<>();
            long t0 = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> producer =
                         new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                for (int i = 0; i < perCodec; i++) {
                    Sent s = makeRecord(codec, i, baseTs + i);
                    sent.add(s);
                    futures.add(producer.send(new ProducerRecord<>(topic, null, s.timestamp(), s.key(), s.value(),
                            s.headers())));
                }
                producer.flush();
                for (int i = 0; i < perCodec; i++) {
                    RecordMetadata md = futures.get(i).get(); // throws if the send failed
                    TopicPartition tp = new TopicPartition(md.topic(), md.partition());
                    Sent prev = expected.computeIfAbsent(tp, k -> new TreeMap<>()).put(md.offset(), sent.get(i));
                    Util.check(prev == null, "%s: two records acknowledged at offset %d", tp, md.offset());
                }
            }
            Util.info("produced %d records to %s (compression %s) in %.2fs", perCodec, topic, codec,
                    (System.nanoTime() - t0) / 1e9);
        }

        // Offsets must be dense from 0 in each partition: a fresh topic, no
        // transactions, so nothing else may occupy an offset.
        for (var e : expected.entrySet()) {
            long want = 0;
            for (long off : e.getValue().keySet()) {
                Util.check(off == want, "%s: acknowledged offsets not dense: got %d, expected %d", e.getKey(), off,
                        want);
                want++;
            }
        }

        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false); // no group.id: assign() only
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "kbroker-compat-consumer");
        c.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 64 * 1024); // force several fetches
        List<TopicPartition> tps = new ArrayList<>();
        for (String codec : CODECS) {
            for (int i = 0; i < PARTITIONS; i++) {
                tps.add(new TopicPartition(topic(codec, suffix), i));
            }
        }
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(tps);
            Map<TopicPartition, Long> end = consumer.endOffsets(tps, Duration.ofSeconds(30));
            Map<TopicPartition, Long> begin = consumer.beginningOffsets(tps, Duration.ofSeconds(30));
            for (TopicPartition tp : tps) {
                int n = expected.containsKey(tp) ? expected.get(tp).size() : 0;
                Util.check(begin.get(tp) == 0, "%s: beginningOffsets=%d, expected 0", tp, begin.get(tp));
                Util.check(end.get(tp) == n, "%s: endOffsets=%d, expected %d", tp, end.get(tp), n);
            }

            // 1) everything from the beginning
            consumer.seekToBeginning(tps);
            Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> got = readUntil(consumer, end, 60_000);
            int count = 0;
            for (TopicPartition tp : tps) {
                TreeMap<Long, Sent> want = expected.getOrDefault(tp, new TreeMap<>());
                List<ConsumerRecord<byte[], byte[]>> recs = got.getOrDefault(tp, List.of());
                Util.check(recs.size() == want.size(), "%s: consumed %d records, expected %d", tp, recs.size(),
                        want.size());
                int i = 0;
                for (var e : want.entrySet()) {
                    compare(tp, e.getKey(), e.getValue(), recs.get(i++));
                }
                count += recs.size();
            }
            Util.check(count == perCodec * CODECS.length, "consumed %d records in total, expected %d", count,
                    perCodec * CODECS.length);
            Util.info("consumed and verified %d records from %d partitions (assign + seekToBeginning)", count,
                    tps.size());

            // 2) seek into the middle of every non-empty partition and read to the end again
            Map<TopicPartition, Long> mid = new HashMap<>();
            for (TopicPartition tp : tps) {
                long m = end.get(tp) / 2;
                consumer.seek(tp, m);
                mid.put(tp, m);
            }
            got = readUntil(consumer, end, 60_000);
            for (TopicPartition tp : tps) {
                List<ConsumerRecord<byte[], byte[]>> recs = got.getOrDefault(tp, List.of());
                Util.check(recs.size() == end.get(tp) - mid.get(tp), "%s: after seek(%d) got %d records, expected %d",
                        tp, mid.get(tp), recs.size(), end.get(tp) - mid.get(tp));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    compare(tp, r.offset(), expected.get(tp).get(r.offset()), r);
                }
            }
            Util.info("seek(middle) re-read verified");

            // 3) offsetsForTimes (ListOffsets by timestamp): timestamps grow
            // with the record number, so within a partition the answer is the
            // first offset whose timestamp is >= the query.
            Map<TopicPartition, Long> query = new HashMap<>();
            Map<TopicPartition, Long> want = new HashMap<>();
            for (TopicPartition tp : tps) {
                TreeMap<Long, Sent> recs = expected.get(tp);
                if (recs == null || recs.isEmpty()) {
                    continue;
                }
                Sent s = recs.get((long) recs.size() / 3);
                query.put(tp, s.timestamp());
                want.put(tp, (long) recs.size() / 3);
            }
            var found = consumer.offsetsForTimes(query, Duration.ofSeconds(30));
            for (TopicPartition tp : query.keySet()) {
                var o = found.get(tp);
                Util.check(o != null && o.offset() == want.get(tp) && o.timestamp() == query.get(tp),
                        "%s: offsetsForTimes(%d) = %s, expected offset %d", tp, query.get(tp), o, want.get(tp));
            }
            Util.info("offsetsForTimes verified on %d partitions", query.size());

            // 4) out of range: seek past the end; with auto.offset.reset=earliest
            // the broker's OFFSET_OUT_OF_RANGE must send the consumer back to 0.
            TopicPartition tp0 = tps.get(0);
            consumer.assign(List.of(tp0));
            consumer.seek(tp0, end.get(tp0) + 1000);
            ConsumerRecord<byte[], byte[]> first = null;
            long deadline = System.currentTimeMillis() + 30_000;
            while (first == null) {
                Util.check(System.currentTimeMillis() < deadline,
                        "%s: no records 30s after seeking past the end (position %d)", tp0, consumer.position(tp0));
                var recs = consumer.poll(Duration.ofMillis(500)).records(tp0);
                if (!recs.isEmpty()) {
                    first = recs.get(0);
                }
            }
            Util.check(first.offset() == 0, "%s: after out-of-range reset got offset %d, expected 0", tp0,
                    first.offset());
            Util.info("out-of-range seek reset to earliest verified");
        }

        largeRecords(bootstrap, suffix);
        acksModes(bootstrap, suffix);
    }

    /**
     * Non-default acks: acks=0 (the broker must NOT answer: a stray response
     * breaks the client's connection and loses records) and acks=1, both
     * without idempotence, on one topic; then everything must be there once, each
     * producer's records in the order it sent them.
     */
    static void acksModes(String bootstrap, String suffix) throws Exception {
        String topic = "pc-acks-" + suffix;
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 1, null);
        }
        int n = 1000;
        List<String> sent = new ArrayList<>();
        for (String acks : new String[] {"0", "1"}) {
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ProducerConfig.ACKS_CONFIG, acks);
            p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, false);
            p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 1); // keep order
            p.put(ProducerConfig.LINGER_MS_CONFIG, 1);
            p.put(ProducerConfig.BATCH_SIZE_CONFIG, 2048); // many small requests
            try (KafkaProducer<byte[], byte[]> producer =
                         new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    String v = "acks" + acks + "-" + i;
                    sent.add(v);
                    fs.add(producer.send(new ProducerRecord<>(topic, 0, null, v.getBytes(StandardCharsets.UTF_8))));
                }
                producer.flush();
                for (Future<RecordMetadata> f : fs) {
                    f.get(); // acks=0 completes without an offset; an error still surfaces here
                }
            }
        }
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            long end = consumer.endOffsets(List.of(tp), Duration.ofSeconds(30)).get(tp);
            Util.check(end == sent.size(), "%s: end offset %d after %d acks=0 + %d acks=1 records", tp, end, n, n);
            consumer.seekToBeginning(List.of(tp));
            var got = readUntil(consumer, Map.of(tp, end), 60_000).getOrDefault(tp, List.of());
            // Each producer's records in its order. Between the two producers there is no
            // order: the acks=0 one's last requests may still be queued in the broker when
            // the acks=1 one's first arrive on another connection (seen with Apache Kafka).
            for (String acks : new String[] {"0", "1"}) {
                String prefix = "acks" + acks + "-";
                List<String> want = sent.stream().filter(v -> v.startsWith(prefix)).toList();
                List<String> have = got.stream()
                        .map(r -> new String(r.value(), StandardCharsets.UTF_8))
                        .filter(v -> v.startsWith(prefix))
                        .toList();
                Util.check(have.equals(want), "%s: acks=%s records %d read, %d sent, or out of order",
                        tp, acks, have.size(), want.size());
            }
        }
        Util.info("acks=0 and acks=1 (non-idempotent) producers verified");
    }

    /**
     * Records bigger than the consumer's max.partition.fetch.bytes (64 KiB
     * here): the broker must still return the first batch whole (KIP-74).
     */
    static void largeRecords(String bootstrap, String suffix) throws Exception {
        String topic = "pc-large-" + suffix;
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, 1, null);
        }
        java.util.Random rnd = new java.util.Random(7);
        List<byte[]> values = new ArrayList<>();
        for (int size : new int[] {300_000, 700_000, 10, 900_000}) {
            byte[] v = new byte[size];
            rnd.nextBytes(v);
            values.add(v);
        }
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (byte[] v : values) {
                producer.send(new ProducerRecord<>(topic, 0, null, v)).get();
            }
        }
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 64 * 1024);
        c.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 * 1024);
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToBeginning(List.of(tp));
            var got = readUntil(consumer, Map.of(tp, (long) values.size()), 60_000).getOrDefault(tp, List.of());
            Util.check(got.size() == values.size(), "%s: consumed %d large records, expected %d", tp, got.size(),
                    values.size());
            for (int i = 0; i < values.size(); i++) {
                Util.check(got.get(i).offset() == i && Arrays.equals(got.get(i).value(), values.get(i)),
                        "%s: large record %d differs (offset %d, %d bytes, expected %d bytes)", tp, i,
                        got.get(i).offset(), got.get(i).value() == null ? -1 : got.get(i).value().length,
                        values.get(i).length);
            }
        }
        Util.info("large records (300 KB, 700 KB, 900 KB) past a 64 KiB fetch limit verified");
    }

    static String topic(String codec, String suffix) {
        return "pc-" + codec + "-" + suffix;
    }

    /**
     * Deterministic variety: some null keys, some null values, some headers
     * (including a duplicate header key and a null header value), varying
     * value sizes with both compressible and incompressible content.
     */
    static Sent makeRecord(String codec, int i, long ts) {
        byte[] key = (i % 7 == 3) ? null : ("key-" + (i % 50)).getBytes(StandardCharsets.UTF_8);
        byte[] value = null;
        if (i % 11 != 5) {
            StringBuilder sb = new StringBuilder("value-" + codec + "-" + i + "-");
            long x = i * 2654435761L;
            int len = (i * 37) % 700;
            for (int j = 0; j < len; j++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                sb.append(j % 3 == 0 ? (char) ('a' + (int) ((x >>> 33) % 26)) : 'z');
            }
            value = sb.toString().getBytes(StandardCharsets.UTF_8);
        }
        List<Header> headers = new ArrayList<>();
        if (i % 5 == 0) {
            headers.add(new RecordHeader("h1", ("hv-" + i).getBytes(StandardCharsets.UTF_8)));
            headers.add(new RecordHeader("h-null", null));
            headers.add(new RecordHeader("h1", "dup".getBytes(StandardCharsets.UTF_8)));
        }
        if (i % 13 == 0) {
            headers.add(new RecordHeader("bin", new byte[] {0, 1, 2, (byte) 0xff}));
        }
        return new Sent(key, value, headers, ts);
    }

    static Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> readUntil(
            KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end, long timeoutMs) {
        Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> got = new HashMap<>();
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            boolean done = true;
            for (TopicPartition tp : end.keySet()) {
                if (consumer.position(tp, Duration.ofSeconds(30)) < end.get(tp)) {
                    done = false;
                    break;
                }
            }
            if (done) {
                return got;
            }
            Util.check(System.currentTimeMillis() < deadline, "timed out reading; positions %s, end %s",
                    positions(consumer, end), end);
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
                got.computeIfAbsent(new TopicPartition(r.topic(), r.partition()), k -> new ArrayList<>()).add(r);
            }
        }
    }

    static Map<TopicPartition, Long> positions(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
        Map<TopicPartition, Long> m = new HashMap<>();
        for (TopicPartition tp : end.keySet()) {
            m.put(tp, consumer.position(tp));
        }
        return m;
    }

    static void compare(TopicPartition tp, long offset, Sent want, ConsumerRecord<byte[], byte[]> got) {
        String where = tp + "@" + offset;
        Util.check(want != null, "%s: consumed a record that was never acknowledged", where);
        Util.check(got.offset() == offset, "%s: consumed offset %d", where, got.offset());
        Util.check(Arrays.equals(want.key(), got.key()), "%s: key %s != %s", where, str(got.key()), str(want.key()));
        Util.check(Arrays.equals(want.value(), got.value()), "%s: value %s != %s", where, str(got.value()),
                str(want.value()));
        Util.check(got.timestampType() == TimestampType.CREATE_TIME, "%s: timestampType %s", where,
                got.timestampType());
        Util.check(got.timestamp() == want.timestamp(), "%s: timestamp %d != %d", where, got.timestamp(),
                want.timestamp());
        Header[] gh = got.headers().toArray();
        Util.check(gh.length == want.headers().size(), "%s: %d headers, expected %d", where, gh.length,
                want.headers().size());
        for (int i = 0; i < gh.length; i++) {
            Header w = want.headers().get(i);
            Util.check(Objects.equals(gh[i].key(), w.key()) && Arrays.equals(gh[i].value(), w.value()),
                    "%s: header[%d] %s=%s, expected %s=%s", where, i, gh[i].key(), str(gh[i].value()), w.key(),
                    str(w.value()));
        }
    }

    static String str(byte[] b) {
        if (b == null) {
            return "null";
        }
        String s = new String(b, StandardCharsets.UTF_8);
        return s.length() > 60 ? "\"" + s.substring(0, 60) + "...\"(" + b.length + "B)" : "\"" + s + "\"";
    }
}
