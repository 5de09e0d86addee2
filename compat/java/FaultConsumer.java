import java.io.BufferedWriter;
import java.io.FileWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * The consumer of the network fault suite (compat/netfaults.sh): reads one partition written by
 * ClusterProducer while faults come and go, as a consumer in group GROUP with
 * auto.offset.reset=none, so any OFFSET_OUT_OF_RANGE, a log truncation it notices, or a lost
 * committed offset ends the run with that exception instead of a silent reset.
 *
 * It commits offset 0 for the group first (auto.offset.reset=none needs a committed offset),
 * then reads from the committed position, commits every second (failures of a commit during a
 * fault are counted, not fatal), and writes every record as "offset seq" to OUTFILE. The offsets
 * it sees must go up by exactly one each time: a repeat or a step back is what a consumer would
 * see if the high watermark went back; a gap would be a lost record. Once STOP_FILE exists it
 * reads up to the partition's end offset at that moment, commits, re-reads the group's committed
 * offset (it must be that end offset), and exits.
 *
 * Usage: FaultConsumer BOOTSTRAP TOPIC PARTITION OUTFILE GROUP STOP_FILE [SECONDS (300)]
 * Last line: "FaultConsumer: read=.. commits=.. commit_failures=.. max_poll_gap_ms=.." then PASS/FAIL.
 */
public class FaultConsumer {
    public static void main(String[] args) {
        Util.main("FaultConsumer", () -> run(args));
    }

    static void run(String[] args) throws Exception {
        String bootstrap = args[0];
        TopicPartition tp = new TopicPartition(args[1], Integer.parseInt(args[2]));
        Path out = Path.of(args[3]);
        String group = args[4];
        Path stopFile = Path.of(args[5]);
        long seconds = args.length > 6 ? Long.parseLong(args[6]) : 300;
        long deadline = System.currentTimeMillis() + seconds * 1000;

        Properties c = new Properties();
        c.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        c.put(ConsumerConfig.CLIENT_ID_CONFIG, "fault-consumer");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "none");
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        c.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10000);
        c.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 60000);
        c.put(ConsumerConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 1000);
        c.put(ConsumerConfig.METADATA_MAX_AGE_CONFIG, 5000);

        long read = 0;
        long commits = 0;
        long commitFailures = 0;
        long maxGap = 0;
        try (KafkaConsumer<String, String> consumer =
                     new KafkaConsumer<>(c, new StringDeserializer(), new StringDeserializer());
             BufferedWriter w = new BufferedWriter(new FileWriter(out.toFile()))) {
            consumer.assign(List.of(tp));
            consumer.commitSync(Map.of(tp, new OffsetAndMetadata(0)), Duration.ofSeconds(60));
            long expect = 0;
            long end = -1;
            long lastCommit = System.currentTimeMillis();
            long lastPoll = System.currentTimeMillis();
            while (end < 0 || expect < end) {
                Util.check(System.currentTimeMillis() < deadline, "read only up to offset %d (end %d) in %d s",
                        expect, end, seconds);
                var records = consumer.poll(Duration.ofMillis(200));
                long now = System.currentTimeMillis();
                maxGap = Math.max(maxGap, now - lastPoll);
                lastPoll = now;
                for (ConsumerRecord<String, String> r : records) {
                    Util.check(r.offset() == expect, "offset %d after offset %d: %s", r.offset(), expect - 1,
                            r.offset() < expect ? "went back" : "gap");
                    String v = r.value();
                    int dash = v.indexOf('-', 4);
                    w.write(r.offset() + " " + v.substring(4, dash) + "\n");
                    expect = r.offset() + 1;
                    read++;
                }
                if (now - lastCommit >= 1000) {
                    lastCommit = now;
                    try {
                        consumer.commitSync(Map.of(tp, new OffsetAndMetadata(expect)), Duration.ofSeconds(5));
                        commits++;
                    } catch (RetriableException e) {
                        commitFailures++;
                    }
                }
                if (end < 0 && Files.exists(stopFile)) {
                    end = consumer.endOffsets(Set.of(tp), Duration.ofSeconds(60)).get(tp);
                    Util.info("FaultConsumer: stop requested at offset %d; reading to the end offset %d", expect, end);
                }
            }
            w.flush();
            consumer.commitSync(Map.of(tp, new OffsetAndMetadata(expect)), Duration.ofSeconds(60));
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(Set.of(tp), Duration.ofSeconds(60));
            long got = committed.get(tp) == null ? -1 : committed.get(tp).offset();
            Util.check(got == expect, "committed offset of group %s is %d after committing %d", group, got, expect);
        }
        Util.info("FaultConsumer: read=%d commits=%d commit_failures=%d max_poll_gap_ms=%d", read, commits,
                commitFailures, maxGap);
    }
}
