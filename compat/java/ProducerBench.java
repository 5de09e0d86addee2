import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Throughput benchmark with the official Java client (informational, like
 * kafka-producer-perf-test): RECORDS x SIZE-byte random values, no keys,
 * producer defaults (idempotent, acks=all) plus linger.ms / batch.size given
 * on the command line; then a group-less consumer reads them all back.
 *
 * Usage: ProducerBench BOOTSTRAP [RECORDS=200000] [SIZE=1024] [PARTITIONS=3] [LINGER_MS=5] [BATCH_SIZE=65536]
 */
public class ProducerBench {
    public static void main(String[] args) {
        Util.main("ProducerBench", () -> run(args));
    }

    static void run(String[] args) throws Exception {
        String bootstrap = args[0];
        int records = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
        int size = args.length > 2 ? Integer.parseInt(args[2]) : 1024;
        int partitions = args.length > 3 ? Integer.parseInt(args[3]) : 3;
        int linger = args.length > 4 ? Integer.parseInt(args[4]) : 5;
        int batch = args.length > 5 ? Integer.parseInt(args[5]) : 65536;
        String topic = "bench-java-" + Long.toHexString(System.nanoTime());
        try (Admin admin = Util.admin(bootstrap)) {
            Util.createTopic(admin, topic, partitions, null);
        }

        byte[] value = new byte[size];
        new Random(42).nextBytes(value);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.LINGER_MS_CONFIG, linger);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, batch);
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, 256L << 20);
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> error = new AtomicReference<>();
        long t0 = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> producer =
                     new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < records; i++) {
                producer.send(new ProducerRecord<>(topic, i % partitions, null, value), (md, e) -> {
                    if (e != null) {
                        error.compareAndSet(null, e);
                    } else {
                        acked.incrementAndGet();
                    }
                });
            }
            producer.flush();
        }
        double produceSecs = (System.nanoTime() - t0) / 1e9;
        Util.check(error.get() == null, "send failed: %s", error.get());
        Util.check(acked.get() == records, "%d of %d acknowledged", acked.get(), records);

        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10000);
        c.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 << 20);
        c.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 16 << 20);
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        long consumed = 0;
        long bytes = 0;
        t0 = System.nanoTime();
        try (KafkaConsumer<byte[], byte[]> consumer =
                     new KafkaConsumer<>(c, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.currentTimeMillis() + 120_000;
            while (consumed < records) {
                Util.check(System.currentTimeMillis() < deadline, "consumed only %d of %d in 120s", consumed, records);
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    consumed++;
                    bytes += r.value().length;
                }
            }
        }
        double consumeSecs = (System.nanoTime() - t0) / 1e9;
        Util.check(bytes == (long) records * size, "consumed %d bytes, expected %d", bytes, (long) records * size);
        double mb = (double) records * size / 1e6;
        Util.info("BENCH java kafka-clients 4.3.1: %d x %d B, %d partitions, idempotent acks=all linger.ms=%d "
                        + "batch.size=%d: produce %.1f MB/s (%.0f msg/s, %.2fs), consume %.1f MB/s (%.0f msg/s, %.2fs)",
                records, size, partitions, linger, batch, mb / produceSecs, records / produceSecs, produceSecs,
                mb / consumeSecs, records / consumeSecs, consumeSecs);
    }
}
