package leadsflow;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.mariadb.jdbc.MariaDbPoolDataSource;

/**
 * make bench-java: LeadsFlowRepository on the MariaDB at LEADS_JDBC_SERVER (default 127.0.0.1:3306, root), in a
 * database of its own (random name, dropped at the end). ROWS generated leads go through submitLead from THREADS
 * threads over Connector/J's own pool (throughput, p50/p99 per call); then LOOKUPS findByPhone calls on the
 * resulting table from one thread (p50/p99), with the EXPLAIN of the blind-index candidate query. Prints figures
 * only, never a phone.
 */
public final class RepositoryBench {
    private RepositoryBench() {}

    static double pct(long[] sortedNanos, double p) {
        int i = (int) Math.min(sortedNanos.length - 1, Math.round(p / 100.0 * (sortedNanos.length - 1)));
        return sortedNanos[i] / 1e6;
    }

    public static void main(String[] args) throws Exception {
        int rows = Integer.parseInt(args.length > 0 ? args[0] : "50000");
        int threads = Integer.parseInt(args.length > 1 ? args[1] : "8");
        int lookups = Integer.parseInt(args.length > 2 ? args[2] : "5000");
        if (rows > 200_000) throw new IllegalArgumentException("at most 200,000 rows on a shared machine");
        String server = System.getenv().getOrDefault("LEADS_JDBC_SERVER", "jdbc:mariadb://127.0.0.1:3306/?user=root");
        String db = "ljb_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        try (Connection c = DriverManager.getConnection(server); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + db + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        }
        String url = server.replace(":3306/?", ":3306/" + db + "?") + "&maxPoolSize=" + threads + "&minPoolSize=" + threads;
        try (MariaDbPoolDataSource pool = new MariaDbPoolDataSource(url)) {
            try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
                for (String f : List.of("flow_ddl", "rekey_ddl", "erasure_ddl", "history_ddl", "flow_indexes")) {
                    for (SqlFiles.Stmt s : SqlFiles.render(f, Map.of())) st.execute(s.sql());
                }
            }
            byte[] enc = new byte[32], bidx = new byte[32];
            Arrays.fill(enc, (byte) 1);
            Arrays.fill(bidx, (byte) 2);
            PhoneCipher cipher = PhoneCipher.single("1", enc, bidx);
            LeadsFlowRepository repo = new LeadsFlowRepository(pool::getConnection, cipher, LeadsFlowRepository.Settings.defaults());
            String[] phones = new String[rows];
            Random rng = new Random(42);
            for (int i = 0; i < rows; i++) phones[i] = String.format("13%d%08d", rng.nextInt(10), rng.nextInt(100_000_000));
            LocalDateTime t0 = LocalDateTime.of(2026, 11, 20, 9, 0);

            long[] lat = new long[rows];
            AtomicLong next = new AtomicLong();
            ExecutorService ex = Executors.newFixedThreadPool(threads);
            long start = System.nanoTime();
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                fs.add(ex.submit(() -> {
                    for (int i; (i = (int) next.getAndIncrement()) < rows; ) {
                        Map<String, Object> l = new HashMap<>();
                        l.put("id", (long) i + 1);
                        l.put("phone", phones[i]);
                        l.put("unionId", String.format("o%016xWX", i));
                        l.put("window_url", "https://m.example.cn/lp/" + (i % 1000) + "?ch=gdt");
                        l.put("ip_address", "58.16." + (i % 250) + ".2");
                        l.put("user_agent", "Mozilla/5.0 (bench)");
                        l.put("from_channel", "ch" + (i % 50));
                        l.put("has_tool", 1);
                        l.put("is_group", 0);
                        l.put("join_time", t0.plusSeconds(i));
                        l.put("leads_type", 0);
                        l.put("main_business_id", 3);
                        l.put("create_time", t0.plusSeconds(i + 5));
                        long a = System.nanoTime();
                        repo.submitLead(l, "bench");
                        lat[i] = System.nanoTime() - a;
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
            double secs = (System.nanoTime() - start) / 1e9;
            ex.shutdown();
            Arrays.sort(lat);
            System.out.printf("submitLead: %d rows, %d threads: %.0f rows/s; latency p50 %.2f ms, p99 %.2f ms%n",
                    rows, threads, rows / secs, pct(lat, 50), pct(lat, 99));

            long[] look = new long[lookups];
            int hits = 0;
            for (int k = 0; k < lookups; k++) {
                String raw = "+86 " + phones[rng.nextInt(rows)];
                long a = System.nanoTime();
                hits += repo.findByPhone(raw).isEmpty() ? 0 : 1;
                look[k] = System.nanoTime() - a;
            }
            Arrays.sort(look);
            System.out.printf("findByPhone: %d lookups on %d rows (1 thread): p50 %.2f ms, p99 %.2f ms; %d found%n",
                    lookups, rows, pct(look, 50), pct(look, 99), hits);
            try (Connection c = pool.getConnection(); Statement st = c.createStatement();
                    ResultSet rs = st.executeQuery("EXPLAIN SELECT lead_id FROM leads_flow WHERE phone_bidx_kid = '1' AND phone_bidx = "
                            + cipher.bidx("+86" + phones[0]) + " AND (is_deleted = 0 OR 0 = 1) ORDER BY lead_id")) {
                while (rs.next()) {
                    System.out.printf("EXPLAIN reads_by_phone_bidx: type=%s key=%s rows=%s%n", rs.getString("type"),
                            rs.getString("key"), rs.getString("rows"));
                }
            }
        } finally {
            try (Connection c = DriverManager.getConnection(server); Statement st = c.createStatement()) {
                st.execute("DROP DATABASE IF EXISTS " + db);
            } catch (SQLException e) {
                System.err.println("could not drop " + db + ": " + e.getErrorCode());
            }
        }
    }
}
