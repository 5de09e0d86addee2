import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;

/**
 * Tiny CLI used by the shell checks to manage topics with the official
 * Java Admin client:
 *   TopicTool create BOOTSTRAP TOPIC PARTITIONS
 *   TopicTool delete BOOTSTRAP TOPIC
 */
public class TopicTool {
    public static void main(String[] args) {
        Util.main("TopicTool " + String.join(" ", args), () -> {
            Util.check(args.length >= 3, "usage: TopicTool create|delete BOOTSTRAP TOPIC [PARTITIONS]");
            try (Admin admin = Util.admin(args[1])) {
                switch (args[0]) {
                    case "create":
                        Util.createTopic(admin, args[2], Integer.parseInt(args[3]), null);
                        break;
                    case "delete":
                        admin.deleteTopics(List.of(args[2])).all().get(30, TimeUnit.SECONDS);
                        break;
                    default:
                        throw new IllegalArgumentException("unknown command " + args[0]);
                }
            }
        });
    }
}
