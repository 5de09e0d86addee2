import java.io.FileInputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The Java client over a secured listener, its security settings from a client properties file
 * (security.protocol, sasl.*, ssl.*), as a user would configure it.
 *
 *   SecurityCheck BOOTSTRAP CLIENT_PROPERTIES ok TOPIC RECORDS
 *       Admin: describeCluster shows this listener's address, createTopics; an idempotent
 *       producer sends RECORDS keyed records; a consumer in a group (FindCoordinator, JoinGroup,
 *       OffsetCommit over this listener) reads them all back, exactly.
 *   SecurityCheck BOOTSTRAP CLIENT_PROPERTIES scram-users USER:MECHANISM:ITERATIONS,...
 *       describeUserScramCredentials lists exactly these credentials.
 *   SecurityCheck BOOTSTRAP CLIENT_PROPERTIES auth-fails
 *       Admin and producer both fail with an AuthenticationException (its message is printed),
 *       within their timeouts rather than hanging.
 */
public final class SecurityCheck {
    public static void main(String[] args) {
        Util.main("SecurityCheck " + args[2], () -> {
            Properties security = new Properties();
            try (FileInputStream in = new FileInputStream(args[1])) {
                security.load(in);
            }
            if (args[2].equals("ok")) {
                ok(args[0], security, args[3], Integer.parseInt(args[4]));
            } else if (args[2].equals("scram-users")) {
                scramUsers(args[0], security, args[3]);
            } else {
                authFails(args[0], security);
            }
        });
    }

    static Properties base(String bootstrap, Properties security) {
        Properties p = new Properties();
        p.putAll(security);
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        return p;
    }

    static void ok(String bootstrap, Properties security, String topic, int records) throws Exception {
        try (Admin admin = Admin.create(base(bootstrap, security))) {
            Collection<Node> nodes = admin.describeCluster().nodes().get(30, TimeUnit.SECONDS);
            Util.check(nodes.size() == 1, "one broker, got %s", nodes);
            Node node = nodes.iterator().next();
            String advertised = node.host() + ":" + node.port();
            Util.check(bootstrap.endsWith(":" + node.port()),
                    "describeCluster gives %s, not the address of the listener %s", advertised, bootstrap);
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
            Util.info("admin: broker at %s, topic %s created", advertised, topic);
        }
        Map<String, String> sent = new HashMap<>();
        Properties pp = base(bootstrap, security);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            for (int i = 0; i < records; i++) {
                String key = "k" + (i % 17);
                String value = "v" + i;
                producer.send(new ProducerRecord<>(topic, key, value)).get(30, TimeUnit.SECONDS);
                sent.put(value, key);
            }
        }
        Util.info("producer: %d records acknowledged", sent.size());
        Properties cp = base(bootstrap, security);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "security-check-" + topic);
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> read = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(cp)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(45);
            while (read.size() < records && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(500))) {
                    Util.check(r.key().equals(sent.get(r.value())), "record %s has key %s", r.value(), r.key());
                    read.add(r.value());
                }
            }
            consumer.commitSync(Duration.ofSeconds(15));
        }
        Util.check(read.size() == records && read.stream().distinct().count() == records,
                "consumer group read %d records (%d distinct), want %d", read.size(),
                read.stream().distinct().count(), records);
        Util.info("consumer group: read all %d records once and committed", records);
    }

    static void scramUsers(String bootstrap, Properties security, String expected) throws Exception {
        java.util.TreeSet<String> want = new java.util.TreeSet<>(List.of(expected.split(",")));
        java.util.TreeSet<String> got = new java.util.TreeSet<>();
        try (Admin admin = Admin.create(base(bootstrap, security))) {
            Map<String, org.apache.kafka.clients.admin.UserScramCredentialsDescription> users =
                    admin.describeUserScramCredentials().all().get(30, TimeUnit.SECONDS);
            for (var user : users.values()) {
                for (var info : user.credentialInfos()) {
                    got.add(user.name() + ":" + info.mechanism().mechanismName() + ":" + info.iterations());
                }
            }
        }
        Util.check(got.equals(want), "SCRAM credentials %s, want %s", got, want);
        Util.info("describeUserScramCredentials: %s", got);
    }

    static void authFails(String bootstrap, Properties security) throws Exception {
        try (Admin admin = Admin.create(base(bootstrap, security))) {
            admin.listTopics().names().get(40, TimeUnit.SECONDS);
            throw new AssertionError("listTopics succeeded with bad credentials");
        } catch (ExecutionException e) {
            Util.check(e.getCause() instanceof AuthenticationException,
                    "admin failed with %s, not an AuthenticationException", e.getCause());
            Util.info("admin: %s: %s", e.getCause().getClass().getSimpleName(), e.getCause().getMessage());
        }
        Properties pp = base(bootstrap, security);
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "30000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            producer.send(new ProducerRecord<>("never", "k", "v")).get(40, TimeUnit.SECONDS);
            throw new AssertionError("send succeeded with bad credentials");
        } catch (ExecutionException e) {
            Util.check(e.getCause() instanceof AuthenticationException,
                    "producer failed with %s, not an AuthenticationException", e.getCause());
            Util.info("producer: %s: %s", e.getCause().getClass().getSimpleName(), e.getCause().getMessage());
        } catch (AuthenticationException e) {
            Util.info("producer: %s: %s", e.getClass().getSimpleName(), e.getMessage());
        }
    }
}
