import java.util.List;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Many offset commits, for measuring the group coordinator's load at startup
 * (compat/bench-offsets-load.sh).
 *
 * <pre>
 *   CommitFlood BOOTSTRAP TOPIC GROUPS COMMITS
 * </pre>
 *
 * COMMITS offset commits in all (Admin alterConsumerGroupOffsets, one partition each, up to 256
 * in flight), spread round robin over GROUPS groups without members, each committing ever
 * larger offsets of one partition of TOPIC (8 partitions, created if missing).
 */
public final class CommitFlood {
    private CommitFlood() {}

    public static void main(String[] args) {
        Util.main("CommitFlood", () -> {
            Util.check(args.length == 4, "usage: CommitFlood BOOTSTRAP TOPIC GROUPS COMMITS");
            flood(args[0], args[1], Integer.parseInt(args[2]), Long.parseLong(args[3]));
        });
    }

    static void flood(String bootstrap, String topic, int groups, long commits) throws Exception {
        try (Admin admin = Util.admin(bootstrap)) {
            try {
                admin.createTopics(List.of(new NewTopic(topic, 8, (short) 1))).all().get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
            Semaphore inFlight = new Semaphore(256);
            AtomicLong failed = new AtomicLong();
            long t0 = System.nanoTime();
            for (long i = 0; i < commits; i++) {
                int group = (int) (i % groups);
                TopicPartition tp = new TopicPartition(topic, group % 8);
                inFlight.acquire();
                admin.alterConsumerGroupOffsets("flood-" + group, Map.of(tp, new OffsetAndMetadata(i / groups)))
                        .all()
                        .whenComplete((ok, error) -> {
                            if (error != null && failed.incrementAndGet() <= 5) {
                                Util.warn("commit failed: %s", error);
                            }
                            inFlight.release();
                        });
                if (i > 0 && i % 100_000 == 0) {
                    Util.info("%d commits, %.0f/s", i, i / ((System.nanoTime() - t0) / 1e9));
                }
            }
            inFlight.acquire(256);
            double seconds = (System.nanoTime() - t0) / 1e9;
            Util.info("%d commits over %d groups in %.1fs (%.0f/s), %d failed", commits, groups, seconds,
                    commits / seconds, failed.get());
            Util.check(failed.get() == 0, "%d commits failed", failed.get());
        }
    }
}
