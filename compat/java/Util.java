import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;

/** Small shared helpers for the Java compat checks. */
final class Util {
    private Util() {}

    static void check(boolean cond, String fmt, Object... args) {
        if (!cond) {
            throw new AssertionError(String.format(fmt, args));
        }
    }

    static void info(String fmt, Object... args) {
        System.out.printf(fmt + "%n", args);
        System.out.flush();
    }

    /** Non-fatal finding: printed, and collected by run-all.sh (COMPAT_WARN_FILE) for its summary. */
    static void warn(String fmt, Object... args) {
        String msg = String.format(fmt, args);
        System.out.println("WARN " + msg);
        String file = System.getenv("COMPAT_WARN_FILE");
        if (file != null && !file.isEmpty()) {
            try {
                java.nio.file.Files.writeString(java.nio.file.Path.of(file), msg + System.lineSeparator(),
                        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
            } catch (java.io.IOException e) {
                System.out.println("WARN could not write " + file + ": " + e);
            }
        }
    }

    static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30000);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "kbroker-compat-admin");
        return Admin.create(p);
    }

    static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs) throws Exception {
        NewTopic t = new NewTopic(name, partitions, (short) 1);
        if (configs != null) {
            t.configs(configs);
        }
        admin.createTopics(java.util.List.of(t)).all().get(30, TimeUnit.SECONDS);
    }

    /** Runs a check body; prints the failure and exits 1 so the shell wrapper sees it. */
    interface Body {
        void run() throws Exception;
    }

    static void main(String name, Body body) {
        long t0 = System.nanoTime();
        int rc = 0;
        try {
            body.run();
            info("%s: PASS (%.1fs)", name, (System.nanoTime() - t0) / 1e9);
        } catch (Throwable e) {
            System.out.flush();
            System.err.printf("%s: FAIL: %s%n", name, e);
            e.printStackTrace();
            rc = 1;
        }
        System.out.flush();
        System.err.flush();
        // halt: don't let a stuck client network thread keep the JVM alive.
        Runtime.getRuntime().halt(rc);
    }
}
