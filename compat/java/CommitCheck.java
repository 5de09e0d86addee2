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
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Committed offsets across broker restarts (issue 20), with the official Java consumer:
 * assign() plus one commitSync per group carrying several partitions of two topics.
 *
 * <pre>
 *   CommitCheck create BOOTSTRAP TOPIC REPLICATION
 *       TOPIC (3 partitions) and TOPIC-b (2 partitions)
 *   CommitCheck commit BOOTSTRAP TOPIC GROUPS BASE OUT
 *       for each comma-separated group: one commitSync of every partition of both topics
 *       (offset BASE + 100 * group index + partition, metadata naming it); then writes every
 *       group's committed() to OUT, one line per partition, and checks it equals what was sent
 *   CommitCheck committed BOOTSTRAP TOPIC GROUPS OUT
 *       writes every group's committed() to OUT in the same form
 * </pre>
 */
public final class CommitCheck {
    private CommitCheck() {}

    public static void main(String[] args) {
        Util.main("CommitCheck " + (args.length > 0 ? args[0] : ""), () -> {
            Util.check(args.length >= 4, "usage: CommitCheck create|commit|committed BOOTSTRAP TOPIC ...");
            String bootstrap = args[1];
            String topic = args[2];
            switch (args[0]) {
                case "create":
                    create(bootstrap, topic, Short.parseShort(args[3]));
                    break;
                case "commit": {
                    long base = Long.parseLong(args[4]);
                    Map<String, String> sent = new TreeMap<>();
                    for (String group : args[3].split(",")) {
                        sent.putAll(commit(bootstrap, topic, group, base));
                        base += 100;
                    }
                    Map<String, String> read = committed(bootstrap, topic, args[3].split(","));
                    Util.check(read.equals(sent), "committed() %s differs from what was committed %s", read, sent);
                    write(read, args[5]);
                    break;
                }
                case "committed":
                    write(committed(bootstrap, topic, args[3].split(",")), args[4]);
                    break;
                default:
                    throw new IllegalArgumentException("unknown mode " + args[0]);
            }
        });
    }

    static List<TopicPartition> partitions(String topic) {
        List<TopicPartition> out = new ArrayList<>();
        for (int p = 0; p < 3; p++) {
            out.add(new TopicPartition(topic, p));
        }
        for (int p = 0; p < 2; p++) {
            out.add(new TopicPartition(topic + "-b", p));
        }
        return out;
    }

    static void create(String bootstrap, String topic, short replication) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            for (NewTopic t : List.of(new NewTopic(topic, 3, replication), new NewTopic(topic + "-b", 2, replication))) {
                try {
                    admin.createTopics(List.of(t)).all().get(60, TimeUnit.SECONDS);
                } catch (java.util.concurrent.ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
        }
    }

    static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, String group) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "commit-check-" + group);
        // Long enough to ride out a coordinator failover or a restart still loading its groups.
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 90000);
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static String line(String group, TopicPartition tp, OffsetAndMetadata om) {
        return group + " " + tp.topic() + " " + tp.partition() + " "
                + (om == null ? "null" : om.offset() + " " + om.metadata());
    }

    /** One commitSync of every partition; returns the lines committed() should give. */
    static Map<String, String> commit(String bootstrap, String topic, String group, long base) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        Map<String, String> expected = new TreeMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer = consumer(bootstrap, group)) {
            List<TopicPartition> partitions = partitions(topic);
            consumer.assign(partitions);
            for (TopicPartition tp : partitions) {
                long offset = base + tp.partition() + (tp.topic().endsWith("-b") ? 50 : 0);
                OffsetAndMetadata om = new OffsetAndMetadata(offset, "m-" + group + "-" + tp);
                offsets.put(tp, om);
                expected.put(group + " " + tp, line(group, tp, om));
            }
            consumer.commitSync(offsets, Duration.ofSeconds(90));
            Util.info("committed %d partitions for %s in one commitSync", offsets.size(), group);
        }
        return expected;
    }

    static Map<String, String> committed(String bootstrap, String topic, String[] groups) {
        Map<String, String> out = new TreeMap<>();
        for (String group : groups) {
            try (KafkaConsumer<byte[], byte[]> consumer = consumer(bootstrap, group)) {
                Set<TopicPartition> partitions = Set.copyOf(partitions(topic));
                Map<TopicPartition, OffsetAndMetadata> got = consumer.committed(partitions, Duration.ofSeconds(90));
                for (TopicPartition tp : partitions) {
                    out.put(group + " " + tp, line(group, tp, got.get(tp)));
                }
            }
        }
        return out;
    }

    static void write(Map<String, String> lines, String file) throws Exception {
        Files.write(Path.of(file), lines.values());
        Util.info("%d committed offsets written to %s", lines.size(), file);
    }
}
