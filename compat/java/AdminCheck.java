import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Exercises the Java Admin client against the broker:
 * describeCluster, createTopics (partitions + config), duplicate create,
 * listTopics, describeTopics (partitions, leader, replicas, ISR),
 * describeConfigs (soft), deleteTopics.
 *
 * Usage: AdminCheck BOOTSTRAP
 */
public class AdminCheck {
    public static void main(String[] args) {
        Util.main("AdminCheck", () -> run(args[0]));
    }

    static void run(String bootstrap) throws Exception {
        String suffix = Long.toHexString(System.nanoTime());
        String a = "admin-check-a-" + suffix;
        String b = "admin-check-b-" + suffix;

        try (Admin admin = Util.admin(bootstrap)) {
            // --- cluster: exactly our single node, advertised as we configured it
            DescribeClusterResult cluster = admin.describeCluster();
            Collection<Node> nodes = cluster.nodes().get(30, SECONDS);
            Util.info("describeCluster: clusterId=%s controller=%s nodes=%s",
                    cluster.clusterId().get(30, SECONDS), cluster.controller().get(30, SECONDS), nodes);
            Util.check(nodes.size() == 1, "expected 1 node, got %s", nodes);
            Node node = nodes.iterator().next();
            Util.check(node.id() == 1, "expected node id 1, got %s", node);
            Util.check(bootstrap.equals(node.host() + ":" + node.port()),
                    "node advertised as %s:%d, expected %s", node.host(), node.port(), bootstrap);

            // --- create: a 3-partition topic with configs, and a 1-partition default one
            NewTopic ta = new NewTopic(a, 3, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "cleanup.policy", "delete"));
            NewTopic tb = new NewTopic(b, 1, (short) 1);
            var created = admin.createTopics(List.of(ta, tb));
            created.all().get(30, SECONDS);
            Util.check(created.numPartitions(a).get() == 3, "createTopics numPartitions(%s)=%d", a,
                    created.numPartitions(a).get());
            Util.info("createTopics: created %s (3 partitions, retention.ms=3600000) and %s", a, b);

            // --- creating it again must fail with TOPIC_ALREADY_EXISTS
            try {
                admin.createTopics(List.of(new NewTopic(a, 3, (short) 1))).all().get(30, SECONDS);
                throw new AssertionError("second createTopics(" + a + ") succeeded, expected TopicExistsException");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof TopicExistsException,
                        "duplicate createTopics: expected TopicExistsException, got %s", e.getCause());
                Util.info("createTopics duplicate: TopicExistsException as expected");
            }

            // --- list
            Set<String> names = admin.listTopics(new ListTopicsOptions().listInternal(false)).names().get(30, SECONDS);
            Util.info("listTopics: %s", names);
            Util.check(names.contains(a) && names.contains(b), "listTopics %s lacks %s or %s", names, a, b);

            // --- describe: partitions 0..n-1, each led by node 1 with replicas = ISR = [1]
            Map<String, TopicDescription> desc = admin.describeTopics(List.of(a, b)).allTopicNames().get(30, SECONDS);
            checkDescription(desc.get(a), a, 3);
            checkDescription(desc.get(b), b, 1);

            // --- configs: the one we set should be visible (soft: warn only, not every
            // broker implements DescribeConfigs early on)
            try {
                ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, a);
                Config cfg = admin.describeConfigs(List.of(res)).all().get(30, SECONDS).get(res);
                ConfigEntry e = cfg.get("retention.ms");
                if (e == null || !"3600000".equals(e.value())) {
                    Util.warn("describeConfigs: retention.ms=%s, expected 3600000", e);
                } else {
                    Util.info("describeConfigs: retention.ms=%s", e.value());
                }
            } catch (Exception e) {
                Util.warn("describeConfigs failed: %s", e);
            }

            // --- invalid requests must be refused with the right error
            expectCreateError(admin, new NewTopic("bad name!" + suffix, 1, (short) 1),
                    org.apache.kafka.common.errors.InvalidTopicException.class, true);
            expectCreateError(admin, new NewTopic("admin-check-zero-" + suffix, 0, (short) 1),
                    org.apache.kafka.common.errors.InvalidPartitionsException.class, true);
            expectCreateError(admin, new NewTopic("admin-check-rf-" + suffix, 1, (short) 3),
                    org.apache.kafka.common.errors.InvalidReplicationFactorException.class, true);
            expectCreateError(admin, new NewTopic("admin-check-cfg-" + suffix, 1, (short) 1)
                            .configs(Map.of("cleanup.policy", "bogus")),
                    org.apache.kafka.common.errors.InvalidConfigurationException.class, false);

            // --- optional: add partitions (soft, CreatePartitions may not exist yet)
            try {
                admin.createPartitions(Map.of(b, org.apache.kafka.clients.admin.NewPartitions.increaseTo(2)))
                        .all().get(30, SECONDS);
                int n = admin.describeTopics(List.of(b)).allTopicNames().get(30, SECONDS).get(b).partitions().size();
                if (n != 2) {
                    Util.warn("createPartitions(%s -> 2) succeeded but describe shows %d partitions", b, n);
                } else {
                    Util.info("createPartitions: %s now has 2 partitions", b);
                }
            } catch (ExecutionException e) {
                Util.warn("createPartitions not supported: %s", e.getCause());
            }

            // --- delete, then the topics must disappear from list and describe
            admin.deleteTopics(List.of(a, b)).all().get(30, SECONDS);
            Util.info("deleteTopics: ok");
            long deadline = System.currentTimeMillis() + 15000;
            while (true) {
                names = admin.listTopics().names().get(30, SECONDS);
                if (!names.contains(a) && !names.contains(b)) {
                    break;
                }
                Util.check(System.currentTimeMillis() < deadline, "deleted topics still listed after 15s: %s", names);
                Thread.sleep(200);
            }
            try {
                admin.describeTopics(List.of(a)).allTopicNames().get(30, SECONDS);
                throw new AssertionError("describeTopics(" + a + ") succeeded after delete");
            } catch (ExecutionException e) {
                Util.check(e.getCause() instanceof UnknownTopicOrPartitionException,
                        "describe deleted topic: expected UnknownTopicOrPartitionException, got %s", e.getCause());
            }
            Util.info("after delete: not listed, describe -> UnknownTopicOrPartitionException");
        }
    }

    /** createTopics must fail with `want`; a mismatch fails the check if strict, else warns. */
    static void expectCreateError(Admin admin, NewTopic t, Class<? extends Throwable> want, boolean strict)
            throws Exception {
        String what = String.format("createTopics(%s, partitions=%d, rf=%d, configs=%s)", t.name(), t.numPartitions(),
                t.replicationFactor(), t.configs());
        Throwable got = null;
        try {
            admin.createTopics(List.of(t)).all().get(30, SECONDS);
        } catch (ExecutionException e) {
            got = e.getCause();
        }
        if (got != null && want.isInstance(got)) {
            Util.info("%s -> %s as expected", what, want.getSimpleName());
            return;
        }
        String msg = String.format("%s: expected %s, got %s", what, want.getSimpleName(),
                got == null ? "success" : got.toString());
        if (strict) {
            throw new AssertionError(msg);
        }
        Util.warn("%s", msg);
        if (got == null) {
            admin.deleteTopics(List.of(t.name())).all().get(30, SECONDS);
        }
    }

    static void checkDescription(TopicDescription d, String name, int partitions) {
        Util.check(d != null, "describeTopics: no description for %s", name);
        Util.info("describeTopics: %s", d);
        Util.check(d.name().equals(name), "describe name %s != %s", d.name(), name);
        Util.check(!d.isInternal(), "%s reported internal", name);
        Util.check(d.partitions().size() == partitions, "%s: %d partitions, expected %d", name,
                d.partitions().size(), partitions);
        if (d.topicId() == null || d.topicId().equals(org.apache.kafka.common.Uuid.ZERO_UUID)) {
            Util.warn("%s: topicId is zero/null", name);
        }
        for (int i = 0; i < partitions; i++) {
            TopicPartitionInfo p = d.partitions().get(i);
            Util.check(p.partition() == i, "%s: partition[%d] has id %d", name, i, p.partition());
            Util.check(p.leader() != null && p.leader().id() == 1, "%s-%d: leader %s, expected node 1", name, i,
                    p.leader());
            Util.check(p.replicas().size() == 1 && p.replicas().get(0).id() == 1, "%s-%d: replicas %s", name, i,
                    p.replicas());
            Util.check(p.isr().size() == 1 && p.isr().get(0).id() == 1, "%s-%d: isr %s", name, i, p.isr());
        }
    }
}
