import java.io.FileInputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client against ACLs, as one principal or another (the client properties file holds
 * its security settings).
 *
 *   AclCheck BOOTSTRAP CLIENT_PROPERTIES setup RECORDS TOPIC...
 *       Admin creates the topics; an idempotent producer writes RECORDS records to each.
 *   AclCheck BOOTSTRAP CLIENT_PROPERTIES read GROUP RECORDS TOPIC
 *       A consumer in GROUP reads the topic's RECORDS records.
 *   AclCheck BOOTSTRAP CLIENT_PROPERTIES denied GROUP TOPIC
 *       A consumer in GROUP gets a TopicAuthorizationException naming the topic from poll.
 */
public final class AclCheck {
    public static void main(String[] args) {
        Util.main("AclCheck " + args[2], () -> {
            Properties security = new Properties();
            try (FileInputStream in = new FileInputStream(args[1])) {
                security.load(in);
            }
            switch (args[2]) {
                case "setup" -> setup(args[0], security, Integer.parseInt(args[3]),
                        List.of(args).subList(4, args.length));
                case "read" -> read(args[0], security, args[3], Integer.parseInt(args[4]), args[5]);
                case "denied" -> denied(args[0], security, args[3], args[4]);
                default -> throw new IllegalArgumentException("unknown mode " + args[2]);
            }
        });
    }

    static Properties base(String bootstrap, Properties security) {
        return SecurityCheck.base(bootstrap, security);
    }

    static void setup(String bootstrap, Properties security, int records, List<String> topics) throws Exception {
        try (Admin admin = Admin.create(base(bootstrap, security))) {
            List<NewTopic> created = topics.stream().map(t -> new NewTopic(t, 1, (short) 1)).toList();
            admin.createTopics(created).all().get(30, TimeUnit.SECONDS);
        }
        Properties pp = base(bootstrap, security);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            for (String topic : topics) {
                for (int i = 0; i < records; i++) {
                    producer.send(new ProducerRecord<>(topic, "k" + i, topic + "-" + i)).get(30, TimeUnit.SECONDS);
                }
            }
        }
        Util.info("setup: %s created, %d records each", topics, records);
    }

    static KafkaConsumer<String, String> consumer(String bootstrap, Properties security, String group) {
        Properties cp = base(bootstrap, security);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        return new KafkaConsumer<>(cp);
    }

    static void read(String bootstrap, Properties security, String group, int records, String topic) {
        List<String> read = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = consumer(bootstrap, security, group)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(45);
            while (read.size() < records && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    read.add(r.value());
                }
            }
            consumer.commitSync(Duration.ofSeconds(15));
        }
        Util.check(read.size() == records, "read %d records of %s, want %d", read.size(), topic, records);
        Util.info("read: %d records of %s in group %s, committed", records, topic, group);
    }

    static void denied(String bootstrap, Properties security, String group, String topic) {
        try (KafkaConsumer<String, String> consumer = consumer(bootstrap, security, group)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                try {
                    Util.check(consumer.poll(Duration.ofMillis(500)).isEmpty(), "records of %s returned", topic);
                } catch (TopicAuthorizationException e) {
                    Util.check(e.unauthorizedTopics().contains(topic),
                            "TopicAuthorizationException for %s, not %s", e.unauthorizedTopics(), topic);
                    Util.info("denied: %s: %s", e.getClass().getSimpleName(), e.getMessage());
                    return;
                }
            }
        }
        throw new AssertionError("no TopicAuthorizationException for " + topic + " within 30 s");
    }
}
