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
 *
 * <p>FILL (4th argument, default 0): before the lookups, that many further rows are added by SQL (lead ids from
 * 1,000,000,001, random 60-bit blind indexes under kid 1, token-shaped filler ciphers that no lookup decrypts,
 * realistic widths of the other columns), the secondary indexes dropped for the fill and rebuilt after it as the
 * bulk publish does, so that findByPhone is measured on a table of ROWS + FILL rows (issue 23: 10M rows).
 */
public final class RepositoryBench {
    private RepositoryBench() {}

    static double pct(long[] sortedNanos, double p) {
        int i = (int) Math.min(sortedNanos.length - 1, Math.round(p / 100.0 * (sortedNanos.length - 1)));
        return sortedNanos[i] / 1e6;
    }

    /** FILL filler rows by INSERT ... SELECT from MariaDB's sequence engine, the secondary indexes rebuilt after. */
    static void fill(MariaDbPoolDataSource pool, long fill) throws SQLException {
        long t0 = System.nanoTime();
        try (Connection c = pool.getConnection(); Statement st = c.createStatement()) {
            Map<String, List<String>> indexes = new java.util.LinkedHashMap<>();
            Map<String, Boolean> unique = new HashMap<>();
            try (ResultSet rs = st.executeQuery("SELECT index_name, column_name, non_unique FROM information_schema.statistics "
                    + "WHERE table_schema = DATABASE() AND table_name = 'leads_flow' AND index_name <> 'PRIMARY' "
                    + "ORDER BY index_name, seq_in_index")) {
                while (rs.next()) {
                    indexes.computeIfAbsent(rs.getString(1), k -> new ArrayList<>()).add(rs.getString(2));
                    unique.put(rs.getString(1), rs.getInt(3) == 0);
                }
            }
            if (!indexes.isEmpty()) {
                st.execute("ALTER TABLE leads_flow " + String.join(", ", indexes.keySet().stream().map(i -> "DROP INDEX " + i).toList()));
            }
            long batch = 500_000;
            for (long from = 1; from <= fill; from += batch) {
                long to = Math.min(fill, from + batch - 1);
                st.execute("INSERT INTO leads_flow (lead_id, phone_cipher, phone_bidx, phone_bidx_kid, phone_masked, union_id, "
                        + "window_url, ip_address, user_agent, from_channel, has_tool, join_time, leads_type, is_group, "
                        + "main_business_id, is_deleted, source_updated_at, content_hash, etl_run_id, etl_loaded_at) "
                        + "SELECT 1000000000 + seq, CONCAT('e1:1:', LEFT(REPLACE(REPLACE(TO_BASE64(UNHEX(CONCAT(SHA2(seq, 256), "
                        + "MD5(seq)))), '+', '-'), '/', '_'), 55)), CAST(CONV(LEFT(MD5(seq), 15), 16, 10) AS SIGNED) - 576460752303423488, "
                        + "'1', CONCAT('13', seq % 10, '****', LPAD(seq % 10000, 4, '0')), CONCAT('o', LEFT(MD5(CONCAT('u', seq)), 25), 'WX'), "
                        + "CONCAT('https://m.example.cn/lp/', seq % 1000, '?ch=gdt'), CONCAT('58.16.', seq % 250, '.2'), "
                        + "'Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (bench filler)', CONCAT('ch', seq % 50), 1, "
                        + "TIMESTAMPADD(SECOND, seq * 9, '2022-01-01'), '0', 0, 3, 0, TIMESTAMPADD(SECOND, seq * 9 + 5, '2022-01-01'), "
                        + "seq, 'bench-fill', NOW(6) FROM seq_" + from + "_to_" + to);
            }
            long t1 = System.nanoTime();
            if (!indexes.isEmpty()) {
                st.execute("ALTER TABLE leads_flow " + String.join(", ", indexes.entrySet().stream()
                        .map(e -> "ADD " + (unique.get(e.getKey()) ? "UNIQUE " : "") + "INDEX " + e.getKey() + " (" + String.join(", ", e.getValue()) + ")")
                        .toList()));
            }
            st.execute("ANALYZE TABLE leads_flow");
            System.out.printf("fill: %d rows by SQL in %.0f s, %d secondary indexes rebuilt in %.0f s%n", fill,
                    (t1 - t0) / 1e9, indexes.size(), (System.nanoTime() - t1) / 1e9);
        }
    }

    public static void main(String[] args) throws Exception {
        int rows = Integer.parseInt(args.length > 0 ? args[0] : "50000");
        int threads = Integer.parseInt(args.length > 1 ? args[1] : "8");
        int lookups = Integer.parseInt(args.length > 2 ? args[2] : "5000");
        long fill = Long.parseLong(args.length > 3 ? args[3] : "0");
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

            if (fill > 0) fill(pool, fill);
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
                    lookups, rows + fill, pct(look, 50), pct(look, 99), hits);
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
