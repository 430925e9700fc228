package leadsflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import leadsflow.LeadsFlowRepository.Lead;
import leadsflow.LeadsFlowRepository.LeadRejected;
import leadsflow.LeadsFlowRepository.SubmitResult;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * LeadsFlowRepository on a real MariaDB (LEADS_JDBC_SERVER, default jdbc:mariadb://127.0.0.1:3306/?user=root): each
 * test creates its own database with a random name from include/sql's DDL (the files the Python side's
 * ensure_flow_schema runs) and drops it. Phones are generated; no assertion message holds a phone or token.
 */
class LeadsFlowRepositoryTest {
    static final String SERVER = System.getenv().getOrDefault("LEADS_JDBC_SERVER", "jdbc:mariadb://127.0.0.1:3306/?user=root");
    static final byte[] ENC1 = range(0), BIDX1 = range(32), ENC2 = range(96), BIDX2 = range(64);
    static final Random RNG = new Random();

    String dbName;
    String url;
    PhoneCipher cipher;
    LeadsFlowRepository repo;

    static byte[] range(int from) {
        byte[] b = new byte[32];
        for (int i = 0; i < 32; i++) b[i] = (byte) (from + i);
        return b;
    }

    static String b64(byte[] k) {
        return Base64.getEncoder().encodeToString(k);
    }

    static String keyringJson(Map<String, byte[]> enc, String activeEnc, Map<String, byte[]> bidx, String activeBidx) {
        Map<String, Object> e = new HashMap<>(), b = new HashMap<>();
        enc.forEach((k, v) -> e.put(k, b64(v)));
        bidx.forEach((k, v) -> b.put(k, b64(v)));
        Map<String, Object> doc = new HashMap<>();
        doc.put("enc_keys", e);
        doc.put("active_enc_kid", activeEnc);
        doc.put("bidx_keys", b);
        doc.put("active_bidx_kid", activeBidx);
        return Json.write(doc);
    }

    /** A generated CN mobile: 139 + 8 random digits. */
    static String mobile() {
        return String.format("139%08d", RNG.nextInt(100_000_000));
    }

    static Connection admin() throws SQLException {
        return DriverManager.getConnection(SERVER);
    }

    /** The flow schema from include/sql, as ensure_flow_schema creates it (tables, journal, erasure, indexes). */
    static void createSchema(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            for (String f : List.of("flow_ddl", "rekey_ddl", "erasure_ddl", "history_ddl", "flow_indexes")) {
                for (SqlFiles.Stmt s : SqlFiles.render(f, Map.of())) st.execute(s.sql());
            }
        }
    }

    @BeforeEach
    void createDatabase() throws SQLException {
        dbName = "ljt_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        try (Connection c = admin(); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + dbName + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        }
        url = SERVER.replace(":3306/?", ":3306/" + dbName + "?");
        try (Connection c = DriverManager.getConnection(url)) {
            createSchema(c);
        }
        cipher = Keyring.fromJson(keyringJson(Map.of("1", ENC1), "1", Map.of("1", BIDX1), "1"));
        repo = new LeadsFlowRepository(LeadsFlowRepository.driverManager(url), cipher, LeadsFlowRepository.Settings.defaults());
    }

    @AfterEach
    void dropDatabase() throws SQLException {
        try (Connection c = admin(); Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS " + dbName);
        }
    }

    static Map<String, Object> lead(long id, String phone) {
        Map<String, Object> d = new HashMap<>();
        d.put("id", id);
        d.put("phone", phone);
        d.put("unionId", String.format("o%016xWX", id));
        d.put("window_url", "https://m.example.cn/lp/7?ch=gdt");
        d.put("ip_address", "58.16.1.2");
        d.put("user_agent", "Mozilla/5.0 (test)");
        d.put("from_channel", "gdt_feed");
        d.put("has_tool", 1);
        d.put("is_group", 0);
        d.put("join_time", LocalDateTime.of(2026, 11, 20, 9, 0));
        d.put("leads_type", 0);
        d.put("main_business_id", 3);
        d.put("create_time", LocalDateTime.of(2026, 11, 20, 9, 0, 5));
        d.put("update_time", null);
        d.put("is_deleted", 0);
        return d;
    }

    long count(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    void exec(String sql) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement()) {
            st.execute(sql);
        }
    }

    Lead row(long id) {
        List<Lead> all = repo.findByChannel("gdt_feed", LocalDateTime.of(2015, 1, 1, 0, 0), LocalDateTime.of(2030, 1, 1, 0, 0), 10_000,
                null, null, true);
        return all.stream().filter(l -> l.leadId() == id).findFirst().orElse(null);
    }

    // --- submitLead --------------------------------------------------------------------------------------------

    @Test
    void submitWritesTheMappedRowAndItsJournalVersion() throws SQLException {
        String p = mobile();
        Map<String, Object> l = lead(7, " +86 " + p.substring(0, 3) + "-" + p.substring(3));
        l.put("window_url", "https://m.example.cn/lp?tel=" + mobile());
        assertEquals(SubmitResult.WRITTEN, repo.submitLead(l, "svc-a"));
        Lead got = row(7);
        assertNotNull(got);
        assertTrue(("+86" + p).equals(got.revealPhone(cipher)), "the token decrypts to the E.164");
        assertEquals(cipher.bidx("+86" + p), got.phoneBidx());
        assertEquals("1", got.phoneBidxKid());
        assertEquals(Phone.mask("+86" + p), got.phoneMasked());
        assertFalse(got.windowUrl().matches(".*1[3-9][0-9]{9}.*"), "a phone in free text is masked");
        assertEquals("svc-a", got.etlRunId());
        assertEquals("normal", got.leadsType());
        assertEquals(Boolean.TRUE, got.hasTool());
        assertEquals(LocalDateTime.of(2026, 11, 20, 9, 0, 5), got.sourceUpdatedAt());
        assertFalse(got.toString().contains(p) || got.toString().contains(got.phoneCipher()), "toString holds no phone or token");
        List<Lead> h = repo.history(7);
        assertEquals(1, h.size());
        assertEquals(got, h.get(0));
        // the same submission again: nothing changes, no second version
        assertEquals(SubmitResult.WRITTEN, repo.submitLead(l, "svc-b"));
        assertEquals("svc-a", row(7).etlRunId());
        assertEquals(1, repo.history(7).size());
    }

    @Test
    void newerWinsAndTheSameTimestampRewritesOnlyDifferentContent() throws SQLException {
        Map<String, Object> v1 = lead(9, mobile());
        Map<String, Object> v2 = new HashMap<>(v1);
        v2.put("update_time", LocalDateTime.of(2026, 11, 21, 10, 0));
        v2.put("from_channel", "gdt_feed");
        v2.put("main_business_id", 5);
        repo.submitLead(v2, "v2");
        repo.submitLead(v1, "v1"); // older: ignored
        Lead got = row(9);
        assertEquals(5L, got.mainBusinessId());
        assertEquals("v2", got.etlRunId());
        assertEquals(2, repo.history(9).size(), "the journal keeps the late older version too");
        assertEquals(LocalDateTime.of(2026, 11, 20, 9, 0, 5), repo.history(9).get(0).sourceUpdatedAt());
        // same timestamp, different content: rewritten
        Map<String, Object> v2b = new HashMap<>(v2);
        v2b.put("main_business_id", 6);
        repo.submitLead(v2b, "v2b");
        assertEquals(6L, row(9).mainBusinessId());
        assertEquals(3, repo.history(9).size());
        // an offset time is converted to Asia/Shanghai: 02:00Z = 10:00 +08:00, the same version as v2b
        Map<String, Object> v2c = new HashMap<>(v2b);
        v2c.put("update_time", OffsetDateTime.of(2026, 11, 21, 2, 0, 0, 0, ZoneOffset.UTC));
        repo.submitLead(v2c, "v2c");
        assertEquals("v2b", row(9).etlRunId());
        assertEquals(3, repo.history(9).size());
    }

    @Test
    void anErasedLeadIsNotWritten() throws SQLException {
        exec("INSERT INTO leads_flow_erasure (lead_id, erased_at, requested_by) VALUES (11, NOW(), 'test')");
        assertEquals(SubmitResult.ERASED, repo.submitLead(lead(11, mobile())));
        assertEquals(0, count("SELECT COUNT(*) FROM leads_flow"));
        assertEquals(0, count("SELECT COUNT(*) FROM leads_flow_history"));
    }

    @Test
    void anErasureWaitsForTheLockingReadOfAnOpenWrite() throws Exception {
        // The erasure check is a locking read: an erasure recorded while a write's transaction is open waits for it.
        try (Connection w = DriverManager.getConnection(url)) {
            w.setAutoCommit(false);
            assertEquals(SubmitResult.WRITTEN, repo.submitLead(w, lead(12, mobile()), "online"));
            ExecutorService ex = Executors.newSingleThreadExecutor();
            try {
                Future<?> erasure = ex.submit(() -> {
                    exec("INSERT INTO leads_flow_erasure (lead_id, erased_at, requested_by) VALUES (12, NOW(), 'test')");
                    return null;
                });
                Thread.sleep(500);
                assertFalse(erasure.isDone(), "the erasure waits for the open write");
                w.commit();
                erasure.get(10, TimeUnit.SECONDS);
            } finally {
                ex.shutdownNow();
            }
        }
        assertEquals(SubmitResult.ERASED, repo.submitLead(lead(12, mobile())));
    }

    @Test
    void rejectedLeadsCarryReasonCodesOnlyAndWriteNothing() throws SQLException {
        String bad = "12345";
        Map<String, Object> l = lead(13, bad);
        l.put("unionId", null);
        l.put("has_tool", 7);
        LeadRejected e = assertThrows(LeadRejected.class, () -> repo.submitLead(l));
        assertEquals(List.of("flag_invalid", "phone_invalid"), e.reasons());
        assertEquals(13L, e.leadId());
        assertFalse(e.getMessage().contains(bad));
        Map<String, Object> noIdentity = lead(14, null);
        noIdentity.put("unionId", "  ");
        assertEquals(List.of("no_identity"), assertThrows(LeadRejected.class, () -> repo.submitLead(noIdentity)).reasons());
        assertEquals(0, count("SELECT COUNT(*) FROM leads_flow") + count("SELECT COUNT(*) FROM leads_flow_history"));
    }

    @Test
    void inputThatIsNotALeadsAggrRowIsRefused() {
        Map<String, Object> noCreate = lead(15, mobile());
        noCreate.remove("create_time");
        assertThrows(IllegalArgumentException.class, () -> repo.submitLead(noCreate));
        Map<String, Object> unknown = lead(15, mobile());
        unknown.put("phone_number", "x");
        assertThrows(IllegalArgumentException.class, () -> repo.submitLead(unknown));
        Map<String, Object> badId = lead(15, mobile());
        badId.put("id", 0);
        assertThrows(IllegalArgumentException.class, () -> repo.submitLead(badId));
        Map<String, Object> badTime = lead(15, mobile());
        badTime.put("update_time", "yesterday");
        assertThrows(IllegalArgumentException.class, () -> repo.submitLead(badTime));
        Map<String, Object> text = lead(15, mobile());
        text.put("id", " 15 ");
        text.put("has_tool", "1");
        text.put("update_time", "2026-11-21 10:00:00.999");
        text.put("sales_name", "ignored");
        assertEquals(SubmitResult.WRITTEN, repo.submitLead(text));
        assertEquals(LocalDateTime.of(2026, 11, 21, 10, 0), row(15).sourceUpdatedAt());
    }

    @Test
    void aFailingWriteRollsBackAndIsPermanent() throws SQLException {
        exec("DROP TABLE leads_flow_history");
        assertThrows(LeadsFlowRepository.PermanentDbException.class, () -> repo.submitLead(lead(16, mobile())));
        assertEquals(0, count("SELECT COUNT(*) FROM leads_flow"), "the upsert is rolled back with the journal insert");
    }

    @Test
    void aLockWaitTimeoutIsTransient() throws Exception {
        String p = mobile();
        repo.submitLead(lead(17, p));
        String slowUrl = url + "&sessionVariables=innodb_lock_wait_timeout=1";
        LeadsFlowRepository slow = new LeadsFlowRepository(LeadsFlowRepository.driverManager(slowUrl), cipher,
                LeadsFlowRepository.Settings.defaults());
        try (Connection holder = DriverManager.getConnection(url)) {
            holder.setAutoCommit(false);
            try (Statement st = holder.createStatement()) {
                st.executeQuery("SELECT * FROM leads_flow WHERE lead_id = 17 FOR UPDATE").close();
            }
            Map<String, Object> newer = lead(17, p);
            newer.put("update_time", LocalDateTime.of(2026, 11, 21, 0, 0));
            assertThrows(LeadsFlowRepository.TransientDbException.class, () -> slow.submitLead(newer));
            holder.rollback();
        }
        assertTrue(LeadsFlowRepository.isTransient(new SQLException("x", "40001", 1213)));
        assertTrue(LeadsFlowRepository.isTransient(new SQLException("x", "08S01", 0)));
        assertFalse(LeadsFlowRepository.isTransient(new SQLException("x", "42S02", 1146)));
    }

    @Test
    void retryingRepeatsTransientErrorsOnly() {
        int[] calls = {0};
        String out = LeadsFlowRepository.retrying(() -> {
            if (++calls[0] < 3) throw new LeadsFlowRepository.TransientDbException("t", new SQLException("x", "40001", 1213));
            return "done";
        }, 4, java.time.Duration.ofMillis(1));
        assertEquals("done", out);
        assertEquals(3, calls[0]);
        calls[0] = 0;
        assertThrows(LeadsFlowRepository.PermanentDbException.class, () -> LeadsFlowRepository.retrying(() -> {
            calls[0]++;
            throw new LeadsFlowRepository.PermanentDbException("p", new SQLException("x", "42S02", 1146));
        }, 4, java.time.Duration.ofMillis(1)));
        assertEquals(1, calls[0]);
        calls[0] = 0;
        assertThrows(LeadsFlowRepository.TransientDbException.class, () -> LeadsFlowRepository.retrying(() -> {
            calls[0]++;
            throw new LeadsFlowRepository.TransientDbException("t", new SQLException("x", "HY000", 1205));
        }, 4, java.time.Duration.ofMillis(1)));
        assertEquals(4, calls[0]);
    }

    // --- reads -------------------------------------------------------------------------------------------------

    @Test
    void findByPhoneNormalisesAndConfirmsEveryCandidate() throws SQLException {
        String p = mobile(), q = mobile();
        repo.submitLead(lead(21, p));
        repo.submitLead(lead(22, "0086 " + p));
        repo.submitLead(lead(23, q));
        List<Lead> found = repo.findByPhone("+86-" + p);
        assertEquals(List.of(21L, 22L), found.stream().map(Lead::leadId).toList());
        assertThrows(Phone.InvalidPhone.class, () -> repo.findByPhone("not a phone"));
        // a blind-index collision (the index of p on q's token) is not a match: the token decides
        exec("UPDATE leads_flow SET phone_bidx = (SELECT phone_bidx FROM (SELECT phone_bidx FROM leads_flow WHERE lead_id = 21) x)"
                + " WHERE lead_id = 23");
        assertEquals(List.of(21L, 22L), repo.findByPhone(p).stream().map(Lead::leadId).toList());
        // soft-deleted leads only on request
        repo.markDeleted(List.of(22L));
        assertEquals(List.of(21L), repo.findByPhone(p).stream().map(Lead::leadId).toList());
        assertEquals(List.of(21L, 22L), repo.findByPhone(p, true).stream().map(Lead::leadId).toList());
    }

    @Test
    void findByPhoneSearchesEveryHeldBidxKidAndRefusesAnUnknownEncKid() {
        String p = mobile();
        repo.submitLead(lead(31, p)); // kid 1
        PhoneCipher both = Keyring.fromJson(keyringJson(Map.of("1", ENC1, "2", ENC2), "2", Map.of("1", BIDX1, "2", BIDX2), "2"));
        LeadsFlowRepository rotated = new LeadsFlowRepository(LeadsFlowRepository.driverManager(url), both,
                LeadsFlowRepository.Settings.defaults());
        rotated.submitLead(lead(32, p)); // kid 2
        assertEquals(List.of(31L, 32L), rotated.findByPhone(p).stream().map(Lead::leadId).toList());
        assertEquals("2", rotated.findByPhone(p).get(1).phoneBidxKid());
        assertEquals(List.of(31L), repo.findByPhone(p).stream().map(Lead::leadId).toList(), "kid 1 alone finds kid 1's row");
        PhoneCipher onlyNew = Keyring.fromJson(keyringJson(Map.of("2", ENC2), "2", Map.of("1", BIDX1, "2", BIDX2), "2"));
        LeadsFlowRepository behind = new LeadsFlowRepository(LeadsFlowRepository.driverManager(url), onlyNew,
                LeadsFlowRepository.Settings.defaults());
        assertThrows(PhoneCipher.UnknownKid.class, () -> behind.findByPhone(p));
    }

    @Test
    void findByUnionIdIsExactAndCaseSensitive() {
        Map<String, Object> a = lead(41, mobile());
        a.put("unionId", " oAbC123WX ");
        Map<String, Object> b = lead(42, mobile());
        b.put("unionId", "oabc123wx");
        repo.submitLead(a);
        repo.submitLead(b);
        assertEquals(List.of(41L), repo.findByUnionId("oAbC123WX").stream().map(Lead::leadId).toList());
        assertEquals(List.of(42L), repo.findByUnionId("oabc123wx ").stream().map(Lead::leadId).toList());
        assertEquals(List.of(), repo.findByUnionId("OABC123WX"));
        assertThrows(IllegalArgumentException.class, () -> repo.findByUnionId(" "));
    }

    @Test
    void findByChannelPagesOverTheJoinTimeRange() {
        LocalDateTime t0 = LocalDateTime.of(2026, 11, 20, 0, 0);
        for (int i = 0; i < 25; i++) {
            Map<String, Object> l = lead(100 + i, mobile());
            l.put("join_time", t0.plusHours(i % 5)); // five leads share each join_time
            l.put("create_time", t0.plusHours(6));
            l.put("from_channel", i % 2 == 0 ? "baidu_sem" : "wx");
            repo.submitLead(l);
        }
        List<Long> all = new ArrayList<>();
        repo.iterByChannel(" baidu_sem ", t0, t0.plusHours(4), 2, false).forEach(l -> all.add(l.leadId()));
        // join_time in [t0, t0+4h): hours 0..3; even ids; ordered by (join_time, lead_id)
        List<Long> want = new ArrayList<>();
        for (int h = 0; h < 4; h++) for (int i = 0; i < 25; i++) if (i % 2 == 0 && i % 5 == h) want.add(100L + i);
        assertEquals(want, all);
        List<Lead> page = repo.findByChannel("baidu_sem", t0, t0.plusHours(4), 3);
        assertEquals(3, page.size());
        List<Lead> next = repo.findByChannel("baidu_sem", t0, t0.plusHours(4), 3, page.get(2).leadId(), null, false);
        assertEquals(want.subList(3, 6), next.stream().map(Lead::leadId).toList());
        assertEquals(List.of(), repo.findByChannel("baidu_sem", t0, t0, 3));
        assertThrows(IllegalArgumentException.class, () -> repo.findByChannel("baidu_sem", t0, t0.plusHours(1), 10_001));
    }

    @Test
    void markDeletedKeepsTheRowAndAnUnchangedReturnRestoresIt() throws SQLException {
        Map<String, Object> l = lead(51, mobile());
        repo.submitLead(l);
        assertEquals(1, repo.markDeleted(List.of(51L, 52L), "hard-deletes"));
        assertEquals(0, repo.markDeleted(List.of(51L)));
        Lead d = row(51);
        assertTrue(d.isDeleted());
        assertNull(d.contentHash());
        assertNotNull(d.phoneCipher());
        assertEquals(List.of(), repo.findByUnionId((String) l.get("unionId")));
        repo.submitLead(l); // the legacy row came back unchanged: same timestamp, different content hash
        assertFalse(row(51).isDeleted());
    }

    // --- keyring -----------------------------------------------------------------------------------------------

    @Test
    void keyringJsonIsCheckedWithoutNamingAKey() {
        String good = keyringJson(Map.of("1", ENC1), "1", Map.of("1", BIDX1), "1");
        assertNotNull(Keyring.fromJson(good));
        String shared = keyringJson(Map.of("1", ENC1), "1", Map.of("1", ENC1), "1");
        Keyring.KeyringError e = assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(shared));
        assertFalse(e.getMessage().contains(b64(ENC1)));
        assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson("{\"enc_keys\": {\"1\": \"abc\"}, \"active_enc_kid\": \"1\"}"));
        assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(keyringJson(Map.of("1", ENC1), "2", Map.of("1", BIDX1), "1")));
        assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(keyringJson(Map.of("A", ENC1), "A", Map.of("1", BIDX1), "1")));
        // the blind-index ring from its own document; the main one may not hold a different one
        String enc = "{\"enc_keys\": {\"1\": \"" + b64(ENC1) + "\"}, \"active_enc_kid\": \"1\"}";
        String bidx = "{\"bidx_keys\": {\"1\": \"" + Base64.getUrlEncoder().withoutPadding().encodeToString(BIDX1) + "\"}, \"active_bidx_kid\": \"1\"}";
        PhoneCipher split = Keyring.fromJson(enc, bidx);
        String p = "+86" + mobile();
        assertEquals(cipher.bidx(p), split.bidx(p));
        assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(good, good));
        String otherBidx = keyringJson(Map.of("1", ENC1), "1", Map.of("1", BIDX2), "1");
        assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(otherBidx, bidx));
    }
}
