import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

/**
 * Consumer group across a group-coordinator failover (compat/check-cluster-group-failover.sh),
 * built on GroupCheck's Worker/Ledger (KafkaConsumer 4.3.1, enable.auto.commit=false, commitSync
 * of exactly the processed offsets after each batch; a record below the group's committed offset
 * must never be delivered again, redelivery of uncommitted records is legal and counted).
 *
 * Usage: ClusterGroupCheck PROTOCOL BOOTSTRAP TOPIC GROUP DIR [RECORDS=16000] [RF=3]
 *
 *  1. creates TOPIC (4 partitions, replication factor RF), produces RECORDS (acks=all);
 *  2. members W1 and W2 consume throttled (~1000 records/s together) and commit after each
 *     batch; once they split the partitions and a quarter of the records is
 *     committed, the coordinator is looked up with describeConsumerGroups().coordinator() and
 *     written to DIR/coordinator, then DIR/ready;
 *  3. the shell SIGKILLs that node and touches DIR/killed; the committed offsets known at that
 *     moment are the baseline. The members keep going: the check waits for the first successful
 *     commit after the kill (COMMIT_RESUMED_MS, informational), then for listConsumerGroupOffsets
 *     (through the new coordinator, which must be another node) to show at least the baseline
 *     on every partition (and never more than a member asked to commit), then for the group to have
 *     committed three quarters of the records;
 *  4. W1 and W2 close; a fresh member W3 joins the group: its first record on every partition
 *     must be exactly at the group's last committed offset, and it reads to the end and commits
 *     everything.
 * Throughout: no record below the committed offset delivered again, every record delivered.
 */
public class ClusterGroupCheck {
    public static void main(String[] args) {
        Util.main("ClusterGroupCheck " + args[0], () -> run(args[0], args[1], args[2], args[3], Path.of(args[4]),
                args.length > 5 ? Integer.parseInt(args[5]) : 16000, args.length > 6 ? Short.parseShort(args[6]) : 3));
    }

    static void run(String protocol, String bootstrap, String topic, String group, Path dir, int records, short rf)
            throws Exception {
        int parts = GroupCheck.PARTITIONS;
        try (Admin admin = Util.admin(bootstrap)) {
            admin.createTopics(List.of(new NewTopic(topic, parts, rf))).all().get(60, TimeUnit.SECONDS);
        }
        GroupCheck.log("created %s (%d partitions, replication factor %d)", topic, parts, rf);
        long[] end = GroupCheck.produce(bootstrap, topic, records, "gf");

        GroupCheck.Ledger g = new GroupCheck.Ledger(group);
        AtomicBoolean open = new AtomicBoolean(true);
        // 20 records per poll, 40 ms per batch: ~1000 records/s for the two, so consumption goes on
        // for several seconds after the kill
        GroupCheck.Worker w1 = new GroupCheck.Worker("W1", protocol, bootstrap, group, topic, g, open, Long.MAX_VALUE, 20, 40);
        GroupCheck.Worker w2 = new GroupCheck.Worker("W2", protocol, bootstrap, group, topic, g, open, Long.MAX_VALUE, 20, 40);
        List<GroupCheck.Worker> two = List.of(w1, w2);
        w1.start();
        w2.start();
        GroupCheck.waitFor("W1 and W2 to split the partitions", GroupCheck.WAIT_MS, two,
                () -> GroupCheck.splitComplete(two));
        GroupCheck.checkSplit(two);
        GroupCheck.waitFor("the group to commit a quarter of the records", GroupCheck.WAIT_MS, two, () -> {
            long sum = 0;
            for (int p = 0; p < parts; p++) {
                sum += g.committedOf(p);
            }
            return sum >= records / 4;
        });
        int coordinator;
        try (Admin admin = Util.admin(bootstrap)) {
            coordinator = ClusterTool.coordinator(admin, group);
        }
        Util.check(coordinator >= 0, "describeConsumerGroups gave no coordinator for %s", group);
        Files.writeString(dir.resolve("coordinator"), coordinator + "\n");
        Files.writeString(dir.resolve("ready"), "ready\n");
        GroupCheck.log("coordinator of %s is node %d; waiting for it to be killed", group, coordinator);

        Path killed = dir.resolve("killed");
        GroupCheck.waitFor("the shell to kill node " + coordinator + " (" + killed + ")", 60000, two,
                () -> Files.exists(killed));
        long killNanos = System.nanoTime();
        long[] baseline = new long[parts];
        for (int p = 0; p < parts; p++) {
            baseline[p] = g.committedOf(p);
        }
        int failuresBefore = w1.commitFailures + w2.commitFailures;
        GroupCheck.log("node %d killed; committed offsets at the kill: %s (processed W1 %d, W2 %d)", coordinator,
                Arrays.toString(baseline), w1.processed, w2.processed);
        Util.check(!g.allCommitted(end), "the group had already committed every record before the kill; "
                + "nothing tested (make RECORDS larger)");

        // first commit after the kill (through the new coordinator)
        GroupCheck.waitFor("a successful commit after the coordinator was killed", 2 * GroupCheck.WAIT_MS, two, () -> {
            for (int p = 0; p < parts; p++) {
                if (g.committedOf(p) > baseline[p]) {
                    return true;
                }
            }
            return false;
        });
        long resumedMs = (System.nanoTime() - killNanos) / 1_000_000;
        Util.info("COMMIT_RESUMED_MS=%d (from the kill of coordinator %d to the first acknowledged OffsetCommit)",
                resumedMs, coordinator);

        // the new coordinator has (at least) everything committed before the kill
        long deadline = System.currentTimeMillis() + 60000;
        String last = "";
        int newCoordinator = -1;
        while (true) {
            try (Admin admin = Util.admin(bootstrap)) {
                newCoordinator = ClusterTool.coordinator(admin, group);
                Map<TopicPartition, OffsetAndMetadata> got = admin.listConsumerGroupOffsets(group)
                        .partitionsToOffsetAndMetadata().get(20, TimeUnit.SECONDS);
                // -Dcluster.same.coordinator=true: a single broker restarted in place (to try the check itself)
                boolean ok = newCoordinator >= 0
                        && (newCoordinator != coordinator || Boolean.getBoolean("cluster.same.coordinator"));
                Map<Integer, Long> view = new java.util.TreeMap<>();
                for (int p = 0; p < parts; p++) {
                    OffsetAndMetadata om = got.get(new TopicPartition(topic, p));
                    long off = om == null ? -1 : om.offset();
                    view.put(p, off);
                    ok &= off >= baseline[p];
                    // at most what a member asked to commit (a commit may be visible before its
                    // commitSync returns, or applied although its response was lost in the kill)
                    Util.check(off <= g.requestedOf(p) || off < 0,
                            "p%d: committed offset %d at the coordinator, but the members only asked to commit up to "
                                    + "%d (acknowledged: %d)", p, off, g.requestedOf(p), g.committedOf(p));
                }
                last = "coordinator " + newCoordinator + ", committed " + view;
                if (ok) {
                    GroupCheck.log("after the failover: %s (baseline %s)", last, Arrays.toString(baseline));
                    break;
                }
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                last = e.toString();
            }
            Util.check(System.currentTimeMillis() < deadline,
                    "60 s after the kill the group's committed offsets through a new coordinator are not at least "
                            + "%s (committed before the kill): %s", Arrays.toString(baseline), last);
            Thread.sleep(500);
        }

        GroupCheck.waitFor("the group to commit three quarters of the records", 2 * GroupCheck.WAIT_MS, two, () -> {
            long sum = 0;
            for (int p = 0; p < parts; p++) {
                sum += g.committedOf(p);
            }
            return sum >= 3L * records / 4;
        });
        g.check();
        int failuresAfter = w1.commitFailures + w2.commitFailures - failuresBefore;
        if (failuresAfter > 0) {
            // legal (the members rejoin, uncommitted records are redelivered), but Kafka keeps a
            // group's members and generation in __consumer_offsets: its new coordinator knows them
            Util.warn("group-failover %s: %d commits failed after the coordinator failover (the new coordinator did "
                    + "not know the members, who rejoined the group)", protocol, failuresAfter);
        }
        GroupCheck.log("closing W1 and W2 (%d + %d failed commits)", w1.commitFailures, w2.commitFailures);
        w1.stopAndJoin();
        w2.stopAndJoin();
        long[] committed = new long[parts];
        for (int p = 0; p < parts; p++) {
            committed[p] = g.committedOf(p);
        }
        g.checkComplete(new long[parts], committed, false);
        GroupCheck.log("W1 and W2 closed; the group's committed offsets: %s of %s", Arrays.toString(committed),
                Arrays.toString(end));
        if (Arrays.equals(committed, end)) {
            Util.warn("group-failover: the group had read everything before the resume phase; the fresh member "
                    + "only finds the committed end offsets");
        }

        // a fresh member resumes exactly at the committed offsets (fetched from the new coordinator)
        GroupCheck.Worker w3 = new GroupCheck.Worker("W3", protocol, bootstrap, group, topic, g, open,
                Long.MAX_VALUE, 500, 0);
        w3.start();
        GroupCheck.waitFor("W3 to commit every record", 2 * GroupCheck.WAIT_MS, List.of(w3), () -> g.allCommitted(end));
        w3.stopAndJoin();
        for (int p = 0; p < parts; p++) {
            Long first = w3.firstOffset.get(p);
            Util.check(committed[p] == end[p] || (first != null && first == committed[p]),
                    "W3's first record on p%d is offset %s, expected the committed offset %d", p, first, committed[p]);
        }
        g.checkComplete(new long[parts], end, false);
        GroupCheck.log("W3 resumed exactly at the committed offsets %s and read to %s; every record delivered, none "
                + "below a committed offset again (%d uncommitted redeliveries)", Arrays.toString(committed),
                Arrays.toString(end), g.uncommittedRedeliveries);
        Util.info("ClusterGroupCheck: coordinator %d -> %d, COMMIT_RESUMED_MS=%d", coordinator, newCoordinator,
                resumedMs);
    }
}
