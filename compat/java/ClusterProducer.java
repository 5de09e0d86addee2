import java.io.BufferedWriter;
import java.io.FileWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Continuous producer for the cluster fault checks: idempotent, acks=all, retries unbounded,
 * one partition, sequence-numbered values ("seq-N-" padded to SIZE bytes), sent at a fixed rate
 * until COUNT records were sent, SECONDS passed or STOP_FILE exists; then it waits for every
 * outstanding record to be acknowledged or failed, at most delivery.timeout.ms + 30 s (records
 * still open then fail the run: "neither acknowledged nor failed").
 *
 * Every ACKNOWLEDGED record is appended to ACKFILE as "seq partition offset send_ms ack_ms"
 * (wall-clock ms; send_ms = when send() was called). Every failed record goes to ACKFILE.errors
 * as "seq send_ms error_ms retriable ExceptionClass message", and the first 10 are printed.
 * A progress line every 5 s.
 *
 * Usage: ClusterProducer BOOTSTRAP TOPIC PARTITION ACKFILE [key=value ...]
 *   count=1000000  seconds=60  rate=500 (records/s; 0 = as fast as send() goes)  start_seq=0
 *   size=100  linger_ms=1  delivery_timeout_ms=120000  request_timeout_ms=10000
 *   max_block_ms=60000  stop_file=PATH  idempotence=true (false: plain acks=all producer, same retries)
 *   errors=none|retriable|any   (default none)
 *       none:      any failed record fails the run (exit 1)
 *       retriable: failures are allowed if they are all RetriableExceptions (exit 1 otherwise)
 *       any:       failures are only reported
 *   expect_acks=0|1  (default 1: at least one record must be acknowledged)
 * Last line: "ClusterProducer: sent=.. acked=.. failed=.. retriable=.. ..." then PASS / FAIL.
 */
public class ClusterProducer {
    public static void main(String[] args) {
        Util.main("ClusterProducer", () -> run(args));
    }

    static void run(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        int partition = Integer.parseInt(args[2]);
        Path ackFile = Path.of(args[3]);
        Map<String, String> o = new HashMap<>(Map.of("count", "1000000", "seconds", "60", "rate", "500",
                "start_seq", "0", "size", "100", "linger_ms", "1", "delivery_timeout_ms", "120000",
                "request_timeout_ms", "10000", "errors", "none", "expect_acks", "1"));
        o.put("max_block_ms", "60000");
        o.put("idempotence", "true");
        for (int i = 4; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            Util.check(eq > 0, "argument %s is not key=value", args[i]);
            o.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        long count = Long.parseLong(o.get("count"));
        long seconds = Long.parseLong(o.get("seconds"));
        double rate = Double.parseDouble(o.get("rate"));
        long startSeq = Long.parseLong(o.get("start_seq"));
        int size = Integer.parseInt(o.get("size"));
        String errors = o.get("errors");
        Util.check(errors.equals("none") || errors.equals("retriable") || errors.equals("any"),
                "errors= must be none|retriable|any");
        Path stopFile = o.containsKey("stop_file") ? Path.of(o.get("stop_file")) : null;

        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "cluster-producer");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.parseBoolean(o.get("idempotence")));
        p.put(ProducerConfig.RETRIES_CONFIG, Integer.MAX_VALUE);
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        p.put(ProducerConfig.LINGER_MS_CONFIG, Integer.parseInt(o.get("linger_ms")));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Integer.parseInt(o.get("request_timeout_ms")));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Integer.parseInt(o.get("delivery_timeout_ms")));
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.parseLong(o.get("max_block_ms")));
        p.put(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, 100);
        p.put(ProducerConfig.RETRY_BACKOFF_MAX_MS_CONFIG, 1000);
        p.put(ProducerConfig.RECONNECT_BACKOFF_MS_CONFIG, 50);
        p.put(ProducerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 1000);
        p.put(ProducerConfig.METADATA_MAX_AGE_CONFIG, 30000);

        AtomicLong acked = new AtomicLong();
        AtomicLong failed = new AtomicLong();
        AtomicLong retriableFailed = new AtomicLong();
        AtomicLong firstErrorMs = new AtomicLong(0);
        AtomicLong lastErrorMs = new AtomicLong(0);
        AtomicLong firstAckMs = new AtomicLong(0);
        AtomicLong lastAckMs = new AtomicLong(0);
        AtomicLong maxAckGapMs = new AtomicLong(0);
        AtomicLong maxAckGapAt = new AtomicLong(0);
        AtomicLong lastOffset = new AtomicLong(-1);
        AtomicLong orderViolations = new AtomicLong();
        Map<String, Long> errorClasses = new HashMap<>();
        long sent = 0;
        long t0 = System.nanoTime();
        long startMs = System.currentTimeMillis();
        AtomicLong unresolved = new AtomicLong();
        AtomicBoolean closing = new AtomicBoolean(false);
        long deliveryTimeoutMs = Long.parseLong(o.get("delivery_timeout_ms"));
        try (BufferedWriter acks = new BufferedWriter(new FileWriter(ackFile.toFile(), true));
             BufferedWriter errs = new BufferedWriter(new FileWriter(ackFile + ".errors", true))) {
            KafkaProducer<String, String> producer =
                    new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
            Util.info("ClusterProducer: %s partition %d, rate %s/s, count %d, %d s, seq from %d, %s", topic,
                    partition, o.get("rate"), count, seconds, startSeq, o);
            long end = t0 + seconds * 1_000_000_000L;
            long nextProgress = System.currentTimeMillis() + 5000;
            for (long i = 0; i < count; i++) {
                long now = System.nanoTime();
                if (rate > 0) {
                    long scheduled = t0 + (long) (i * 1e9 / rate);
                    while (now < scheduled) {
                        LockSupport.parkNanos(scheduled - now);
                        now = System.nanoTime();
                    }
                }
                if (now >= end || (stopFile != null && (i & 63) == 0 && Files.exists(stopFile))) {
                    break;
                }
                long seq = startSeq + i;
                StringBuilder v = new StringBuilder("seq-").append(seq).append('-');
                while (v.length() < size) {
                    v.append('x');
                }
                long sendMs = System.currentTimeMillis();
                producer.send(new ProducerRecord<>(topic, partition, null, v.toString()), (RecordMetadata md, Exception e) -> {
                    long t = System.currentTimeMillis();
                    synchronized (acks) {
                        try {
                            if (e == null) {
                                acked.incrementAndGet();
                                firstAckMs.compareAndSet(0, t);
                                long prev = lastAckMs.getAndSet(t);
                                if (prev > 0 && t - prev > maxAckGapMs.get()) {
                                    maxAckGapMs.set(t - prev);
                                    maxAckGapAt.set(prev);
                                }
                                if (md.offset() <= lastOffset.get()) {
                                    Util.info("ERROR seq %d acknowledged at offset %d, not after the previous ack's offset %d",
                                            seq, md.offset(), lastOffset.get());
                                    orderViolations.incrementAndGet();
                                }
                                lastOffset.set(md.offset());
                                acks.write(seq + " " + md.partition() + " " + md.offset() + " " + sendMs + " " + t + "\n");
                                acks.flush();
                            } else if (closing.get()) {
                                // failed by the forced close below: the client never completed it
                                unresolved.incrementAndGet();
                            } else {
                                long n = failed.incrementAndGet();
                                boolean retriable = e instanceof RetriableException;
                                if (retriable) {
                                    retriableFailed.incrementAndGet();
                                }
                                firstErrorMs.compareAndSet(0, t);
                                lastErrorMs.set(t);
                                errorClasses.merge(e.getClass().getSimpleName() + (retriable ? "(retriable)" : ""), 1L,
                                        Long::sum);
                                String msg = String.valueOf(e.getMessage()).replace('\n', ' ');
                                errs.write(seq + " " + sendMs + " " + t + " " + retriable + " " + e.getClass().getName()
                                        + " " + msg + "\n");
                                errs.flush();
                                if (n <= 10) {
                                    Util.info("ERROR at %d ms (+%d ms): seq %d sent at %d: %s%s", t, t - startMs, seq,
                                            sendMs, e, n == 10 ? " (further errors only counted)" : "");
                                }
                            }
                        } catch (IOException io) {
                            throw new RuntimeException(io);
                        }
                    }
                });
                sent++;
                if (System.currentTimeMillis() >= nextProgress) {
                    nextProgress += 5000;
                    Util.info("progress at %d ms: sent %d acked %d failed %d", System.currentTimeMillis(), sent,
                            acked.get(), failed.get());
                }
            }
            Util.info("sent %d records; waiting until each is acknowledged or failed (at most delivery.timeout.ms + 30 s)", sent);
            // Like flush(), but bounded: every record must be acknowledged or failed within
            // delivery.timeout.ms (+30 s slack); what is still open then is forcibly failed.
            long waitUntil = System.currentTimeMillis() + deliveryTimeoutMs + 30_000;
            while (acked.get() + failed.get() < sent && System.currentTimeMillis() < waitUntil) {
                Thread.sleep(20);
            }
            long open = sent - acked.get() - failed.get();
            if (open > 0) {
                Util.info("ERROR %d records neither acknowledged nor failed %d ms after the last send "
                        + "(delivery.timeout.ms=%d): the client is stuck (e.g. waiting for InitProducerId); closing it "
                        + "forcibly", open, deliveryTimeoutMs + 30_000, deliveryTimeoutMs);
                closing.set(true);
            }
            producer.close(Duration.ofSeconds(open > 0 ? 0 : 30));
        }
        String summary = errorClasses.toString(); // the producer is closed: no more callbacks
        Util.info("ClusterProducer: sent=%d acked=%d failed=%d retriable=%d first_ack_ms=%d last_ack_ms=%d "
                        + "max_ack_gap_ms=%d (after the ack at %d) first_error_ms=%d last_error_ms=%d errors=%s", sent,
                acked.get(), failed.get(), retriableFailed.get(), firstAckMs.get(), lastAckMs.get(), maxAckGapMs.get(),
                maxAckGapAt.get(), firstErrorMs.get(), lastErrorMs.get(), summary);
        Util.check(orderViolations.get() == 0, "%d acks at an offset not after the previous ack's offset",
                orderViolations.get());
        Util.check(unresolved.get() == 0 && acked.get() + failed.get() >= sent,
                "%d of %d records were neither acknowledged nor failed within delivery.timeout.ms + 30 s",
                sent - acked.get() - failed.get(), sent);
        if (errors.equals("none")) {
            Util.check(failed.get() == 0, "%d records failed (errors=none)", failed.get());
        } else if (errors.equals("retriable")) {
            Util.check(failed.get() == retriableFailed.get(), "%d records failed with a non-retriable error: %s",
                    failed.get() - retriableFailed.get(), summary);
        }
        if (o.get("expect_acks").equals("1")) {
            Util.check(acked.get() > 0, "no record was acknowledged");
        }
    }
}
