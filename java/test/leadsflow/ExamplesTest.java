package leadsflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import leadsflow.LeadsFlowRepository.Lead;
import leadsflow.examples.FlowLeadsServiceExample;
import leadsflow.examples.GeneralKafkaConsumerExample;
import leadsflow.examples.LeadsServiceExample;
import leadsflow.examples.LeadsServiceExample.Phase;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.mariadb.jdbc.MariaDbDataSource;

/** The adapter examples (java/examples) run against a real MariaDB: leads_aggr and leads_flow in one test database. */
class ExamplesTest {
    String dbName;
    String url;
    MariaDbDataSource ds;
    PhoneCipher cipher;
    LeadsFlowRepository repo;

    @BeforeEach
    void createDatabase() throws SQLException {
        dbName = "ljx_" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
        try (Connection c = LeadsFlowRepositoryTest.admin(); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + dbName + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        }
        url = LeadsFlowRepositoryTest.SERVER.replace(":3306/?", ":3306/" + dbName + "?");
        try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement()) {
            LeadsFlowRepositoryTest.createSchema(c);
            for (SqlFiles.Stmt s : SqlFiles.render("legacy_ddl", Map.of())) st.execute(s.sql());
        }
        ds = new MariaDbDataSource(url);
        cipher = Keyring.fromJson(LeadsFlowRepositoryTest.keyringJson(Map.of("1", LeadsFlowRepositoryTest.ENC1), "1",
                Map.of("1", LeadsFlowRepositoryTest.BIDX1), "1"));
        repo = new LeadsFlowRepository(ds, cipher);
    }

    @AfterEach
    void dropDatabase() throws SQLException {
        try (Connection c = LeadsFlowRepositoryTest.admin(); Statement st = c.createStatement()) {
            st.execute("DROP DATABASE IF EXISTS " + dbName);
        }
    }

    static Map<String, Object> form(String phone, String unionId) {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("phone", phone);
        f.put("unionId", unionId);
        f.put("from_channel", "gdt_feed");
        f.put("window_url", "https://m.example.cn/lp/7?ch=gdt");
        f.put("has_tool", 1);
        f.put("is_group", 0);
        f.put("leads_type", 0);
        f.put("join_time", LocalDateTime.now().withNano(0));
        return f;
    }

    long legacyCount() throws SQLException {
        try (Connection c = ds.getConnection(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT COUNT(*) FROM leads_aggr")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void dualWriteLeadsServicePaths() throws SQLException {
        LeadsServiceExample svc = new LeadsServiceExample(ds, repo, Phase.DUAL_WRITE, () -> {
            throw new IllegalStateException("no sequence before cutover");
        });
        String p = LeadsFlowRepositoryTest.mobile();
        long id = svc.insertLeadsAggr(form(p, "oUnion1WX"));
        List<Lead> found = repo.findByPhone(p);
        assertEquals(List.of(id), found.stream().map(Lead::leadId).toList());
        // leadsSubmit dedupes by blind index: another spelling of the phone is the same lead, no legacy insert
        assertEquals(id, svc.leadsSubmit(form("+86 " + p.substring(0, 3) + " " + p.substring(3), null)));
        assertEquals(1, legacyCount());
        assertThrows(Phone.InvalidPhone.class, () -> svc.leadsSubmit(form("12345", null)));
        // the mini-app callback sets a new phone on the unionId's lead: legacy updated, flow row replaced whole
        String q = LeadsFlowRepositoryTest.mobile();
        assertEquals(List.of(id), svc.submitMiniAppAuthorizePhone("oUnion1WX", q));
        assertTrue(("+86" + q).equals(repo.findByUnionId("oUnion1WX").get(0).revealPhone(cipher)), "the new phone is in flow");
        assertEquals(List.of(id), repo.findByPhone(q).stream().map(Lead::leadId).toList());
        // a unionId without a lead: a new lead
        long other = svc.submitMiniAppAuthorizePhone("oUnion2WX", LeadsFlowRepositoryTest.mobile()).get(0);
        assertTrue(other != id);
        // SMS routing: the sales owner by phone, read from legacy by primary key
        try (Connection c = ds.getConnection(); Statement st = c.createStatement()) {
            st.executeUpdate("UPDATE leads_aggr SET sales_name = 'zhang' WHERE id = " + id);
        }
        assertEquals(Map.of(id, "zhang"), svc.getSmsLeadsAggrSales("0086" + q));
        // submitEncryptedPhone: the transport envelope opened in memory (a stand-in decryptor here)
        FlowLeadsServiceExample flowSvc = new FlowLeadsServiceExample(svc,
                (data, iv) -> new String(Base64.getDecoder().decode(data), StandardCharsets.US_ASCII));
        String r = LeadsFlowRepositoryTest.mobile();
        long viaEnvelope = flowSvc.submitEncryptedPhone(Base64.getEncoder().encodeToString(r.getBytes(StandardCharsets.US_ASCII)),
                "iv", Map.of("from_channel", "wx_mini"));
        assertEquals(List.of(viaEnvelope), repo.findByPhone(r).stream().map(Lead::leadId).toList());
        assertEquals(3, legacyCount()); // the first lead, the second unionId's, the envelope's
    }

    @Test
    void afterCutoverTheServiceWritesFlowAlone() throws Exception {
        AtomicLong seq = new AtomicLong(1_000_000);
        LeadsServiceExample svc = new LeadsServiceExample(ds, repo, Phase.AFTER_CUTOVER, seq::incrementAndGet);
        String p = LeadsFlowRepositoryTest.mobile();
        long id = svc.leadsSubmit(form(p, "oCutWX"));
        assertEquals(1_000_001L, id);
        assertEquals(0, legacyCount());
        Thread.sleep(1100); // the phone change is a newer version (whole seconds)
        String q = LeadsFlowRepositoryTest.mobile();
        svc.submitMiniAppAuthorizePhone("oCutWX", q);
        Lead l = repo.findByUnionId("oCutWX").get(0);
        assertTrue(("+86" + q).equals(l.revealPhone(cipher)), "the new phone replaced the old");
        assertEquals("gdt_feed", l.fromChannel());
        assertEquals(2, repo.history(id).size());

        GeneralKafkaConsumerExample consumer = new GeneralKafkaConsumerExample(repo);
        List<String> hashes = new ArrayList<>();
        LocalDateTime now = LocalDateTime.now();
        long n = consumer.selectLeadsByAdChannel("gdt_feed", now.minusDays(1), now.plusDays(1), (lead, h) -> hashes.add(h));
        assertEquals(1, n);
        String want = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(("+86" + q).getBytes(StandardCharsets.US_ASCII)));
        assertEquals(List.of(want), hashes);
    }
}
