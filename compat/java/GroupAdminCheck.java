import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ConsumerGroupListing;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ListConsumerGroupsOptions;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.GroupNotEmptyException;
import org.apache.kafka.common.errors.UnknownMemberIdException;

import static java.util.concurrent.TimeUnit.SECONDS;

/**
 * Consumer-group administration with the Java Admin client (kafka-clients 4.3.1):
 * listConsumerGroups (+ state filter) / listGroups, describeConsumerGroups (members,
 * assignments, state), listConsumerGroupOffsets, alterConsumerGroupOffsets,
 * deleteConsumerGroups, and the errors Kafka gives:
 *   - deleteConsumerGroups on a group with members  -> GroupNotEmptyException
 *   - alterConsumerGroupOffsets on a group with members -> UnknownMemberIdException
 *   - deleteConsumerGroups on an unknown group -> GroupIdNotFoundException
 *
 * Usage: GroupAdminCheck BOOTSTRAP [--consumer-protocol]
 *   --consumer-protocol: also describe a KIP-848 (group.protocol=consumer) group.
 */
public class GroupAdminCheck {
    static final int P = GroupCheck.PARTITIONS;

    public static void main(String[] args) {
        Util.main("GroupAdminCheck", () -> run(args[0], args.length > 1 && args[1].equals("--consumer-protocol")));
    }

    interface Cond {
        boolean get() throws Exception;
    }

    static void eventually(String what, Cond c) throws Exception {
        long deadline = System.currentTimeMillis() + 20000;
        while (!c.get()) {
            Util.check(System.currentTimeMillis() < deadline, "timed out after 20s waiting for %s", what);
            Thread.sleep(200);
        }
    }

    static Map<String, ConsumerGroupListing> list(Admin admin, ListConsumerGroupsOptions o) throws Exception {
        Map<String, ConsumerGroupListing> m = new TreeMap<>();
        for (ConsumerGroupListing l : admin.listConsumerGroups(o).all().get(30, SECONDS)) {
            m.put(l.groupId(), l);
        }
        return m;
    }

    static ConsumerGroupDescription describe(Admin admin, String group) throws Exception {
        return admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(30, SECONDS);
    }

    static Map<Integer, Long> offsets(Admin admin, String group) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m =
                admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(30, SECONDS);
        Map<Integer, Long> out = new TreeMap<>();
        m.forEach((tp, om) -> {
            if (om != null) {
                out.put(tp.partition(), om.offset());
            }
        });
        return out;
    }

    static <T extends Throwable> void expectError(String what, Class<T> want, org.apache.kafka.common.KafkaFuture<?> f)
            throws Exception {
        Throwable got = null;
        try {
            f.get(30, SECONDS);
        } catch (ExecutionException e) {
            got = e.getCause();
        }
        Util.check(want.isInstance(got), "%s: expected %s, got %s", what, want.getSimpleName(),
                got == null ? "success" : got.toString());
        Util.info("%s -> %s as expected", what, want.getSimpleName());
    }

    static void run(String bootstrap, boolean consumerProtocol) throws Exception {
        String suffix = Long.toHexString(System.nanoTime());
        String topic = "group-admin-" + suffix;
        String group = "ga-" + suffix;
        GroupCheck.createTopic(bootstrap, topic);
        long[] end = GroupCheck.produce(bootstrap, topic, 100, "admin");

        try (Admin admin = Util.admin(bootstrap)) {
            // --- a live classic member that has consumed and committed everything
            GroupCheck.Ledger ledger = new GroupCheck.Ledger(group);
            GroupCheck.Worker m = new GroupCheck.Worker("M", "classic", bootstrap, group, topic, ledger,
                    new AtomicBoolean(true), Long.MAX_VALUE, 500, 0).start();
            GroupCheck.waitFor("member M to commit every record", GroupCheck.WAIT_MS, List.of(m),
                    () -> ledger.allCommitted(end));

            // --- list, with and without state filter
            eventually("listConsumerGroups() to show " + group, () -> list(admin, new ListConsumerGroupsOptions())
                    .containsKey(group));
            ConsumerGroupListing l = list(admin, new ListConsumerGroupsOptions()).get(group);
            Util.info("listConsumerGroups: %s", l);
            Util.check(!l.isSimpleConsumerGroup(), "%s listed as simple consumer group", group);
            Util.check(l.groupState().isEmpty() || l.groupState().get() == GroupState.STABLE,
                    "listConsumerGroups: state %s, expected Stable", l.groupState());
            eventually(group + " listed under inGroupStates(STABLE)", () -> list(admin,
                    new ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.STABLE))).containsKey(group));
            Util.check(!list(admin, new ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.EMPTY)))
                    .containsKey(group), "%s (with a member) listed under inGroupStates(EMPTY)", group);
            Util.info("listConsumerGroups(inGroupStates STABLE / EMPTY): in the first only");
            Collection<GroupListing> all = admin.listGroups(ListGroupsOptions.forConsumerGroups()).all().get(30, SECONDS);
            GroupListing gl = all.stream().filter(x -> x.groupId().equals(group)).findFirst().orElse(null);
            Util.check(gl != null, "listGroups(forConsumerGroups) lacks %s: %s", group, all);
            Util.info("listGroups(forConsumerGroups): %s", gl);
            Util.check(gl.type().isEmpty() || gl.type().get() == GroupType.CLASSIC, "%s: type %s, expected Classic",
                    group, gl.type());
            Util.check("consumer".equals(gl.protocol()), "%s: protocol type %s, expected consumer", group,
                    gl.protocol());

            // --- describe: one member with all 4 partitions
            ConsumerGroupDescription d = describe(admin, group);
            Util.info("describeConsumerGroups: %s", d);
            Util.check(d.groupState() == GroupState.STABLE, "describe: state %s, expected STABLE", d.groupState());
            Util.check(d.type() == GroupType.CLASSIC, "describe: type %s, expected CLASSIC", d.type());
            Util.check(!d.isSimpleConsumerGroup(), "describe: simple consumer group");
            Util.check(d.coordinator() != null && d.coordinator().id() == 1, "describe: coordinator %s, expected node 1",
                    d.coordinator());
            Util.check("range".equals(d.partitionAssignor()),
                    "describe: partitionAssignor %s, expected range (first assignor all members support)",
                    d.partitionAssignor());
            Util.check(d.members().size() == 1, "describe: %d members, expected 1: %s", d.members().size(),
                    d.members());
            MemberDescription md = d.members().iterator().next();
            Util.check("M".equals(md.clientId()), "describe: member clientId %s, expected M", md.clientId());
            Util.check(md.consumerId() != null && !md.consumerId().isEmpty(), "describe: empty member id");
            Set<Integer> parts = new TreeSet<>();
            for (TopicPartition tp : md.assignment().topicPartitions()) {
                Util.check(tp.topic().equals(topic), "describe: member assigned %s", tp);
                parts.add(tp.partition());
            }
            Util.check(parts.equals(Set.of(0, 1, 2, 3)), "describe: member assignment %s, expected [0, 1, 2, 3]",
                    md.assignment());

            // --- committed offsets: all, and a subset
            Map<Integer, Long> offs = offsets(admin, group);
            Util.info("listConsumerGroupOffsets: %s", offs);
            for (int p = 0; p < P; p++) {
                Util.check(offs.getOrDefault(p, -1L) == end[p], "listConsumerGroupOffsets p%d=%s, expected %d", p,
                        offs.get(p), end[p]);
            }
            TopicPartition tp1 = new TopicPartition(topic, 1);
            Map<TopicPartition, OffsetAndMetadata> sub = admin.listConsumerGroupOffsets(
                    Map.of(group, new ListConsumerGroupOffsetsSpec().topicPartitions(List.of(tp1))))
                    .partitionsToOffsetAndMetadata(group).get(30, SECONDS);
            Util.check(sub.size() == 1 && sub.get(tp1) != null && sub.get(tp1).offset() == end[1],
                    "listConsumerGroupOffsets(p1 only): %s, expected {p1=%d}", sub, end[1]);

            // --- errors for a group with members
            expectError("deleteConsumerGroups(non-empty group)", GroupNotEmptyException.class,
                    admin.deleteConsumerGroups(List.of(group)).all());
            expectError("alterConsumerGroupOffsets(non-empty group)", UnknownMemberIdException.class,
                    admin.alterConsumerGroupOffsets(group, Map.of(new TopicPartition(topic, 0),
                            new OffsetAndMetadata(5))).all());
            Util.check(offsets(admin, group).getOrDefault(0, -1L) == end[0],
                    "refused alterConsumerGroupOffsets changed p0's offset: %s", offsets(admin, group));

            // --- member leaves: group is Empty
            m.stopAndJoin();
            eventually(group + " listed under inGroupStates(EMPTY)", () -> list(admin,
                    new ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.EMPTY))).containsKey(group));
            Util.check(!list(admin, new ListConsumerGroupsOptions().inGroupStates(Set.of(GroupState.STABLE)))
                    .containsKey(group), "%s (empty) still listed under inGroupStates(STABLE)", group);
            d = describe(admin, group);
            Util.info("describeConsumerGroups after the member left: %s", d);
            Util.check(d.groupState() == GroupState.EMPTY && d.members().isEmpty(),
                    "describe after leave: state %s with %d members, expected EMPTY and none", d.groupState(),
                    d.members().size());

            // --- alter offsets of the empty group; a new member starts there
            Map<TopicPartition, OffsetAndMetadata> alter = new HashMap<>();
            long[] want = {5, 10, 0, end[3]};
            for (int p = 0; p < P; p++) {
                alter.put(new TopicPartition(topic, p), new OffsetAndMetadata(want[p]));
            }
            admin.alterConsumerGroupOffsets(group, alter).all().get(30, SECONDS);
            offs = offsets(admin, group);
            Util.info("alterConsumerGroupOffsets(empty group) -> %s", offs);
            for (int p = 0; p < P; p++) {
                Util.check(offs.getOrDefault(p, -1L) == want[p], "after alter: p%d=%s, expected %d", p, offs.get(p),
                        want[p]);
            }
            GroupCheck.Ledger l2 = new GroupCheck.Ledger(group);
            for (int p = 0; p < P; p++) {
                l2.committed(p, want[p]);
            }
            GroupCheck.Worker n = new GroupCheck.Worker("N", "classic", bootstrap, group, topic, l2,
                    new AtomicBoolean(true), Long.MAX_VALUE, 500, 0).start();
            GroupCheck.waitFor("member N to read from the altered offsets to the end", GroupCheck.WAIT_MS, List.of(n),
                    () -> l2.allCommitted(end));
            n.stopAndJoin();
            for (int p = 0; p < P; p++) {
                Long first = n.firstOffset.get(p);
                Util.check(want[p] == end[p] || (first != null && first == want[p]),
                        "new member's first offset on p%d is %s, expected the altered offset %d", p, first, want[p]);
            }
            l2.checkComplete(want, end, false);
            Util.info("new member started at the altered offsets: %s", n.firstOffset);

            // --- delete the (empty) group
            eventually(group + " empty again", () -> describe(admin, group).groupState() == GroupState.EMPTY);
            admin.deleteConsumerGroups(List.of(group)).all().get(30, SECONDS);
            Util.info("deleteConsumerGroups(empty group): ok");
            Util.check(!list(admin, new ListConsumerGroupsOptions()).containsKey(group),
                    "deleted group still listed: %s", list(admin, new ListConsumerGroupsOptions()).get(group));
            offs = offsets(admin, group);
            Util.check(offs.isEmpty(), "deleted group still has offsets %s", offs);
            checkGone(admin, group);
            expectError("deleteConsumerGroups(unknown group)", GroupIdNotFoundException.class,
                    admin.deleteConsumerGroups(List.of("no-such-group-" + suffix)).all());
            checkGone(admin, "no-such-group-" + suffix);

            if (consumerProtocol) {
                describeConsumerProtocolGroup(admin, bootstrap, topic, end, suffix);
            }
        }
    }

    /** Kafka describes an unknown group as Dead (classic DescribeGroups) or GroupIdNotFound (new API). */
    static void checkGone(Admin admin, String group) throws Exception {
        try {
            ConsumerGroupDescription d = describe(admin, group);
            Util.check(d.groupState() == GroupState.DEAD && d.members().isEmpty(),
                    "describe of deleted/unknown group %s: %s, expected DEAD or GroupIdNotFoundException", group, d);
            Util.info("describe deleted/unknown group %s: DEAD", group);
        } catch (ExecutionException e) {
            Util.check(e.getCause() instanceof GroupIdNotFoundException,
                    "describe of deleted/unknown group %s: expected DEAD or GroupIdNotFoundException, got %s", group,
                    e.getCause());
            Util.info("describe deleted/unknown group %s: GroupIdNotFoundException", group);
        }
    }

    /** A KIP-848 group: describe must report type CONSUMER, state STABLE, the member and its assignment. */
    static void describeConsumerProtocolGroup(Admin admin, String bootstrap, String topic, long[] end, String suffix)
            throws Exception {
        String group = "gc-" + suffix;
        GroupCheck.Ledger ledger = new GroupCheck.Ledger(group);
        GroupCheck.Worker k = new GroupCheck.Worker("K", "consumer", bootstrap, group, topic, ledger,
                new AtomicBoolean(true), Long.MAX_VALUE, 500, 0).start();
        GroupCheck.waitFor("KIP-848 member K to commit every record", GroupCheck.WAIT_MS, List.of(k),
                () -> ledger.allCommitted(end));
        ConsumerGroupDescription d = describe(admin, group);
        Util.info("describeConsumerGroups(KIP-848 group): %s", d);
        Util.check(d.type() == GroupType.CONSUMER, "KIP-848 group: type %s, expected CONSUMER", d.type());
        Util.check(d.groupState() == GroupState.STABLE, "KIP-848 group: state %s, expected STABLE", d.groupState());
        if (!"uniform".equals(d.partitionAssignor())) {
            // Kafka's group.consumer.assignors default is [uniform, range]; the first is used
            // when no member asks for one (group.remote.assignor)
            Util.warn("KIP-848 group: partitionAssignor %s, Kafka reports uniform (its default server assignor)",
                    d.partitionAssignor());
        }
        Util.check(d.members().size() == 1, "KIP-848 group: %d members", d.members().size());
        MemberDescription md = d.members().iterator().next();
        Util.check(md.assignment().topicPartitions().size() == P, "KIP-848 group: member assignment %s",
                md.assignment());
        Util.check(md.memberEpoch().isPresent() && md.memberEpoch().get() > 0, "KIP-848 group: member epoch %s",
                md.memberEpoch());
        expectError("deleteConsumerGroups(non-empty KIP-848 group)", GroupNotEmptyException.class,
                admin.deleteConsumerGroups(List.of(group)).all());
        k.stopAndJoin();
        eventually(group + " empty", () -> describe(admin, group).groupState() == GroupState.EMPTY);
        admin.deleteConsumerGroups(List.of(group)).all().get(30, SECONDS);
        Util.info("KIP-848 group described, refused delete while active, deleted when empty");
    }
}
