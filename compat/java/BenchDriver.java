import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Benchmark driver for scripts/bench, with the official Java client.
 *
 * Produces SIZE-byte values (no keys; random uppercase letters like kafka-producer-perf-test,
 * from a pool of 1024 distinct values so compression sees realistic, not repeated, data) to a
 * fresh topic for SECONDS, either as fast as the client can (rate=0) or at a fixed offered load
 * (rate=records/s, paced against a schedule). Produce latency is per record, from the send
 * (scheduled send time when paced, so a stalled client is not hidden) to the acknowledgement;
 * percentiles come from sorting every sample. Then (consume=1) a group-less consumer reads the
 * records back from the beginning. The first warmup_s seconds (JIT compilation, connection setup)
 * are produced but left out of the produce figures; the measured window is the next SECONDS.
 *
 * Usage: BenchDriver key=value ...  (bootstrap, topic, partitions=8, size=1024, acks=all,
 *   compression=none, seconds=10, rate=0, linger_ms=5, batch_bytes=65536, consume=1,
 *   max_bytes=0 (stop after this much payload), stride=1 (records per partition in a row),
 *   create=1, warmup_s=2, delivery_timeout_ms=300000, label=)
 * Prints one line: BENCH produce label=... key=value ...
 */
public class BenchDriver {
    public static void main(String[] args) {
        Util.main("BenchDriver", () -> run(parse(args)));
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> o = new HashMap<>(Map.of("partitions", "8", "size", "1024", "acks", "all",
                "compression", "none", "seconds", "10", "rate", "0", "linger_ms", "5",
                "batch_bytes", "65536", "consume", "1", "max_bytes", "0"));
        o.put("stride", "1");
        o.put("create", "1");
        o.put("label", "");
        o.put("warmup_s", "2");
        o.put("delivery_timeout_ms", "300000");
        for (String a : args) {
            int eq = a.indexOf('=');
            Util.check(eq > 0, "argument %s is not key=value", a);
            o.put(a.substring(0, eq), a.substring(eq + 1));
        }
        Util.check(o.containsKey("bootstrap") && o.containsKey("topic"), "bootstrap= and topic= are required");
        return o;
    }

    /** Latency samples in microseconds, appended only by the producer's I/O thread. */
    static final class Samples {
        int[] micros = new int[1 << 20];
        int count;

        void add(long nanos) {
            if (count == micros.length) {
                micros = Arrays.copyOf(micros, micros.length * 2);
            }
            micros[count++] = (int) Math.min(Integer.MAX_VALUE, nanos / 1000);
        }
    }

    static void run(Map<String, String> o) throws Exception {
        String bootstrap = o.get("bootstrap");
        String topic = o.get("topic");
        int partitions = Integer.parseInt(o.get("partitions"));
        int size = Integer.parseInt(o.get("size"));
        try (Admin admin = Util.admin(bootstrap)) {
            if (o.get("create").equals("1")) {
                Util.createTopic(admin, topic, partitions, null);
            }
            awaitLeaders(admin, topic, partitions);
        }
        byte[][] values = new byte[1024][size];
        Random random = new Random(42);
        for (byte[] v : values) {
            for (int i = 0; i < size; i++) {
                v[i] = (byte) ('A' + random.nextInt(26));
            }
        }
        Samples samples = new Samples();
        Map<String, Double> producerMetrics = new HashMap<>();
        long[] produced = produce(o, topic, partitions, values, samples, producerMetrics);
        long records = produced[0];
        double produceSecs = produced[1] / 1e9;
        long total = produced[2];
        int[] sorted = Arrays.copyOf(samples.micros, samples.count);
        Arrays.sort(sorted);
        double consumeSecs = o.get("consume").equals("1") ? consume(bootstrap, topic, partitions, total, size) : 0;
        double mb = (double) records * size / 1e6;
        Util.info("BENCH produce label=%s topic=%s partitions=%d size=%d acks=%s compression=%s rate=%s linger_ms=%s "
                        + "batch_bytes=%s seconds=%.2f records=%d records_s=%.0f mb_s=%.2f p50_ms=%.2f p99_ms=%.2f "
                        + "p999_ms=%.2f max_ms=%.2f batch_size_avg=%.0f compression_rate=%.3f request_latency_avg_ms=%.2f "
                        + "consume_seconds=%.2f consume_mb_s=%.2f warmup_s=%s records_total=%d",
                o.get("label"), topic, partitions, size, o.get("acks"), o.get("compression"), o.get("rate"),
                o.get("linger_ms"), o.get("batch_bytes"), produceSecs, records, records / produceSecs,
                mb / produceSecs, pct(sorted, 0.5), pct(sorted, 0.99), pct(sorted, 0.999), pct(sorted, 1.0),
                producerMetrics.getOrDefault("batch-size-avg", 0.0),
                producerMetrics.getOrDefault("compression-rate-avg", 0.0),
                producerMetrics.getOrDefault("request-latency-avg", 0.0),
                consumeSecs, consumeSecs > 0 ? (double) total * size / 1e6 / consumeSecs : 0.0, o.get("warmup_s"), total);
    }

    /**
     * Until every partition's leader answers ListOffsets, i.e. hosts the partition. An idempotent
     * producer that starts while a fresh partition is still being created can lose its first
     * request for good: it fails with NOT_LEADER_OR_FOLLOWER, the next one is appended, and every
     * retry of the first then gets OUT_OF_ORDER_SEQUENCE_NUMBER (KAFKA-15591; Apache Kafka 4.3.1
     * with log.flush.interval.messages=1 creates 64 partitions slowly enough to hit it).
     */
    static void awaitLeaders(Admin admin, String topic, int partitions) throws Exception {
        Map<TopicPartition, OffsetSpec> all = new HashMap<>();
        for (int i = 0; i < partitions; i++) {
            all.put(new TopicPartition(topic, i), OffsetSpec.latest());
        }
        long deadline = System.currentTimeMillis() + 120_000;
        while (true) {
            try {
                admin.listOffsets(all).all().get(30, TimeUnit.SECONDS);
                return;
            } catch (ExecutionException e) {
                Util.check(System.currentTimeMillis() < deadline, "%s not readable on every partition in 120 s: %s",
                        topic, e.getCause());
                Thread.sleep(100);
            }
        }
    }

    static double pct(int[] sorted, double fraction) {
        if (sorted.length == 0) {
            return 0;
        }
        int rank = (int) Math.ceil(sorted.length * fraction);
        return sorted[Math.max(1, Math.min(rank, sorted.length)) - 1] / 1000.0;
    }

    /**
     * Returns {acknowledged records sent after the warm-up, nanoseconds from the end of the warm-up
     * to the last ack, all acknowledged records}.
     */
    static long[] produce(Map<String, String> o, String topic, int partitions, byte[][] values, Samples samples,
                          Map<String, Double> metricsOut) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.get("bootstrap"));
        p.put(ProducerConfig.ACKS_CONFIG, o.get("acks"));
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, o.get("acks").equals("all"));
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, o.get("compression"));
        p.put(ProducerConfig.LINGER_MS_CONFIG, Integer.parseInt(o.get("linger_ms")));
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.parseInt(o.get("batch_bytes")));
        // A slow target (Apache Kafka flushing every append) may need minutes to drain the
        // 32 MB buffer; the default 120 s would expire records instead of measuring it.
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Integer.parseInt(o.get("delivery_timeout_ms")));
        double rate = Double.parseDouble(o.get("rate"));
        long seconds = Long.parseLong(o.get("seconds"));
        long maxBytes = Long.parseLong(o.get("max_bytes"));
        int stride = Integer.parseInt(o.get("stride"));
        int size = values[0].length;
        AtomicLong acked = new AtomicLong();
        AtomicLong ackedMeasured = new AtomicLong();
        long warmupNanos = (long) (Double.parseDouble(o.get("warmup_s")) * 1e9);
        AtomicReference<Exception> error = new AtomicReference<>();
        long t0;
        long lastAck;
        long warmEnd;
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.partitionsFor(topic); // metadata before the clock starts
            t0 = System.nanoTime();
            warmEnd = t0 + warmupNanos;
            final long measuredFrom = warmEnd;
            long end = warmEnd + seconds * 1_000_000_000L;
            AtomicLong lastAckNanos = new AtomicLong(warmEnd);
            for (long i = 0; ; i++) {
                long now = System.nanoTime();
                long scheduled = now;
                if (rate > 0) {
                    scheduled = t0 + (long) (i * 1e9 / rate);
                    while (now < scheduled) {
                        LockSupport.parkNanos(scheduled - now);
                        now = System.nanoTime();
                    }
                }
                if (now >= end || (maxBytes > 0 && i * size >= maxBytes)) {
                    break;
                }
                final long sentAt = scheduled;
                int partition = (int) ((i / stride) % partitions);
                producer.send(new ProducerRecord<>(topic, partition, null, values[(int) (i & 1023)]), (md, e) -> {
                    long t = System.nanoTime();
                    if (e != null) {
                        error.compareAndSet(null, e);
                    } else {
                        acked.incrementAndGet();
                        if (sentAt >= measuredFrom) {
                            samples.add(t - sentAt);
                            ackedMeasured.incrementAndGet();
                            lastAckNanos.set(t);
                        }
                    }
                });
            }
            producer.flush();
            lastAck = lastAckNanos.get();
            for (Map.Entry<MetricName, ? extends Metric> m : producer.metrics().entrySet()) {
                if (m.getKey().group().equals("producer-metrics") && m.getValue().metricValue() instanceof Double d) {
                    metricsOut.put(m.getKey().name(), d);
                }
            }
        }
        Util.check(error.get() == null, "send failed: %s", error.get());
        return new long[] {ackedMeasured.get(), lastAck - warmEnd, acked.get()};
    }

    /** Reads every produced record back; returns seconds from the first fetch to the last record. */
    static double consume(String bootstrap, String topic, int partitions, long records, int size) {
        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10000);
        c.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 << 20);
        c.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 8 << 20);
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        long consumed = 0;
        long bytes = 0;
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            for (TopicPartition tp : tps) {
                consumer.position(tp); // connection and ListOffsets before the clock starts
            }
            long t0 = System.nanoTime();
            long deadline = System.currentTimeMillis() + 300_000;
            while (consumed < records) {
                Util.check(System.currentTimeMillis() < deadline, "consumed only %d of %d in 300s", consumed, records);
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    consumed++;
                    bytes += r.value().length;
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            Util.check(bytes == records * size, "consumed %d bytes, expected %d", bytes, records * size);
            return secs;
        }
    }
}
