import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * Small Admin CLI for the cluster checks (compat/cluster.sh), official Java Admin client 4.3.1.
 *
 *   ClusterTool create BOOTSTRAP TOPIC PARTITIONS RF
 *       createTopics with replication factor RF, then waits (60 s) until every partition has a
 *       leader and RF replicas in describeTopics; prints the layout. Fails if the replica list
 *       is not RF long.
 *   ClusterTool describe BOOTSTRAP TOPIC
 *       one line per partition: "partition P leader L replicas [..] isr [..]"
 *   ClusterTool leader BOOTSTRAP TOPIC PARTITION
 *       prints the partition's leader id from describeTopics (-1: none)
 *   ClusterTool wait-leader BOOTSTRAP TOPIC PARTITION NOT_ID SECONDS
 *       waits until the partition has a leader other than NOT_ID (-1: any) and prints its id
 *   ClusterTool wait-isr BOOTSTRAP TOPIC PARTITION SIZE SECONDS
 *       waits until the partition's ISR has SIZE members; prints the ISR
 *   ClusterTool coordinator BOOTSTRAP GROUP
 *       prints the node id of the group's coordinator (describeConsumerGroups)
 *   ClusterTool unregister BOOTSTRAP BROKER_ID
 *       Admin.unregisterBroker; fails on any error
 *
 * Diagnostics go to stderr; the one result goes to stdout, so the shell can capture it.
 */
public class ClusterTool {
    public static void main(String[] args) {
        Util.check(args.length >= 3, "usage: ClusterTool create|describe|leader|wait-leader|wait-isr|coordinator BOOTSTRAP ...");
        long t0 = System.nanoTime();
        int rc = 0;
        try (Admin admin = Util.admin(args[1])) {
            switch (args[0]) {
                case "create":
                    create(admin, args[2], Integer.parseInt(args[3]), Short.parseShort(args[4]));
                    break;
                case "describe":
                    for (TopicPartitionInfo p : describe(admin, args[2]).partitions()) {
                        System.out.println(line(p));
                    }
                    break;
                case "leader":
                    System.out.println(leaderOf(describe(admin, args[2]), Integer.parseInt(args[3])));
                    break;
                case "wait-leader":
                    System.out.println(waitLeader(admin, args[2], Integer.parseInt(args[3]),
                            Integer.parseInt(args[4]), Integer.parseInt(args[5])));
                    break;
                case "wait-isr":
                    waitIsr(admin, args[2], Integer.parseInt(args[3]), Integer.parseInt(args[4]),
                            Integer.parseInt(args[5]));
                    break;
                case "coordinator":
                    System.out.println(coordinator(admin, args[2]));
                    break;
                case "unregister":
                    admin.unregisterBroker(Integer.parseInt(args[2])).all().get(60, TimeUnit.SECONDS);
                    System.out.println("unregistered " + args[2]);
                    break;
                default:
                    throw new IllegalArgumentException("unknown command " + args[0]);
            }
        } catch (Throwable e) {
            System.err.printf("ClusterTool %s: FAIL (%.1fs): %s%n", String.join(" ", args),
                    (System.nanoTime() - t0) / 1e9, e);
            rc = 1;
        }
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(rc);
    }

    static String line(TopicPartitionInfo p) {
        return String.format("partition %d leader %d replicas %s isr %s", p.partition(),
                p.leader() == null || p.leader().isEmpty() ? -1 : p.leader().id(), ids(p.replicas()), ids(p.isr()));
    }

    static List<Integer> ids(List<Node> nodes) {
        List<Integer> out = new ArrayList<>();
        for (Node n : nodes) {
            out.add(n.id());
        }
        return out;
    }

    static TopicDescription describe(Admin admin, String topic) throws Exception {
        return admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
    }

    static int leaderOf(TopicDescription d, int partition) {
        for (TopicPartitionInfo p : d.partitions()) {
            if (p.partition() == partition) {
                return p.leader() == null || p.leader().isEmpty() ? -1 : p.leader().id();
            }
        }
        throw new IllegalArgumentException(d.name() + " has no partition " + partition);
    }

    static void create(Admin admin, String topic, int partitions, short rf) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, partitions, rf))).all().get(60, TimeUnit.SECONDS);
        long deadline = System.currentTimeMillis() + 60_000;
        String last = "";
        while (true) {
            boolean ready = false;
            try {
                TopicDescription d = describe(admin, topic);
                ready = d.partitions().size() == partitions;
                StringBuilder sb = new StringBuilder();
                for (TopicPartitionInfo p : d.partitions()) {
                    sb.append(line(p)).append('\n');
                    ready &= p.leader() != null && !p.leader().isEmpty() && p.replicas().size() == rf;
                }
                last = sb.toString();
            } catch (ExecutionException e) {
                last = e.getCause().toString();
            }
            if (ready) {
                break;
            }
            Util.check(System.currentTimeMillis() < deadline,
                    "topic %s: not every partition has a leader and %d replicas within 60s:%n%s", topic, rf, last);
            Thread.sleep(200);
        }
        System.err.printf("created %s (%d partitions, replication factor %d):%n%s", topic, partitions, rf, last);
    }

    static int waitLeader(Admin admin, String topic, int partition, int notId, int seconds) throws Exception {
        long deadline = System.currentTimeMillis() + seconds * 1000L;
        String last = "";
        while (true) {
            try {
                int leader = leaderOf(describe(admin, topic), partition);
                if (leader >= 0 && leader != notId) {
                    return leader;
                }
                last = "leader " + leader;
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                last = e.toString();
            }
            Util.check(System.currentTimeMillis() < deadline, "%s-%d: no leader other than %d within %ds (last: %s)",
                    topic, partition, notId, seconds, last);
            Thread.sleep(100);
        }
    }

    static void waitIsr(Admin admin, String topic, int partition, int size, int seconds) throws Exception {
        long deadline = System.currentTimeMillis() + seconds * 1000L;
        String last = "";
        while (true) {
            try {
                for (TopicPartitionInfo p : describe(admin, topic).partitions()) {
                    if (p.partition() == partition) {
                        last = line(p);
                        if (p.isr().size() == size) {
                            System.out.println(ids(p.isr()));
                            return;
                        }
                    }
                }
            } catch (ExecutionException | java.util.concurrent.TimeoutException e) {
                last = e.toString();
            }
            Util.check(System.currentTimeMillis() < deadline, "%s-%d: ISR not %d members within %ds (last: %s)",
                    topic, partition, size, seconds, last);
            Thread.sleep(200);
        }
    }

    static int coordinator(Admin admin, String group) throws Exception {
        Map<String, ConsumerGroupDescription> m =
                admin.describeConsumerGroups(List.of(group)).all().get(30, TimeUnit.SECONDS);
        Node n = m.get(group).coordinator();
        return n == null ? -1 : n.id();
    }
}
