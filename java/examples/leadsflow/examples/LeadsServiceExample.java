package leadsflow.examples;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDateTime;
import java.time.ZoneId;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongSupplier;
import javax.sql.DataSource;
import leadsflow.FieldRules;
import leadsflow.LeadsFlowRepository;
import leadsflow.LeadsFlowRepository.Lead;
import leadsflow.LeadsFlowRepository.LeadRejected;
import leadsflow.Phone;

/**
 * LeadsService's lead paths on {@link LeadsFlowRepository} (docs/interfaces.md, "Java repository" and "Per
 * interface"): insertLeadsAggr, leadsSubmit, submitMiniAppAuthorizePhone, getSmsLeadsAggrSales. During the
 * dual-write period leads_aggr stays the source of truth: write it first, read the row back as stored, submit it
 * (rule 1). After cutover leads_flow is written alone. The service writes no SQL against leads_flow.
 */
public final class LeadsServiceExample {
    /** Where the service is in the migration. */
    public enum Phase { DUAL_WRITE, AFTER_CUTOVER }

    static final String RUN_ID = "leads-service";
    static final ZoneId SHANGHAI = ZoneId.of("Asia/Shanghai");
    private static final System.Logger LOG = System.getLogger(LeadsServiceExample.class.getName());

    private final DataSource legacy;
    private final LeadsFlowRepository flow;
    private final Phase phase;
    private final LongSupplier newLeadId; // after cutover: the lead id sequence, started above MAX(leads_aggr.id)

    public LeadsServiceExample(DataSource legacy, LeadsFlowRepository flow, Phase phase, LongSupplier newLeadId) {
        this.legacy = legacy;
        this.flow = flow;
        this.phase = phase;
        this.newLeadId = newLeadId;
    }

    /** LeadsService#insertLeadsAggr: the low-level insert; returns the lead id. */
    public long insertLeadsAggr(Map<String, Object> form) throws SQLException {
        if (phase == Phase.AFTER_CUTOVER) {
            Map<String, Object> row = new HashMap<>(form);
            row.put("id", newLeadId.getAsLong());
            row.put("create_time", LocalDateTime.now(SHANGHAI).truncatedTo(ChronoUnit.SECONDS));
            flow.submitLead(row, RUN_ID); // LeadRejected: the caller's 400, with reason codes only
            return (Long) row.get("id");
        }
        long id;
        try (Connection c = legacy.getConnection()) {
            List<String> cols = new ArrayList<>(form.keySet());
            for (String col : cols) { // column names go into the SQL text: leads_aggr's own names only
                if (!FieldRules.LEGACY_COLUMNS.contains(col) && !LeadsFlowRepository.LEGACY_UNMAPPED.contains(col)) {
                    throw new IllegalArgumentException("not a leads_aggr column: " + col);
                }
            }
            String sql = "INSERT INTO leads_aggr (" + String.join(", ", cols) + ") VALUES ("
                    + String.join(", ", cols.stream().map(x -> "?").toList()) + ")";
            try (PreparedStatement ps = c.prepareStatement(sql, Statement.RETURN_GENERATED_KEYS)) {
                for (int i = 0; i < cols.size(); i++) ps.setObject(i + 1, form.get(cols.get(i)));
                ps.executeUpdate();
                try (ResultSet keys = ps.getGeneratedKeys()) {
                    keys.next();
                    id = keys.getLong(1);
                }
            }
            submitStored(c, id);
        }
        return id;
    }

    /** Rule 1: read the legacy row back as stored (create_time, update_time from the database) and submit it. */
    void submitStored(Connection legacyConn, long id) throws SQLException {
        Map<String, Object> row;
        try (PreparedStatement ps = legacyConn.prepareStatement("SELECT * FROM leads_aggr WHERE id = ?")) {
            ps.setLong(1, id);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) return;
                row = LeadsFlowRepository.legacyRowFrom(rs);
            }
        }
        try {
            flow.submitLead(row, RUN_ID); // ERASED: nothing written, by design
        } catch (LeadRejected e) {
            // the legacy write stands; the sync DAG records the reject. Codes only, never a value.
            LOG.log(System.Logger.Level.WARNING, "lead {0} not written to leads_flow: {1}", id, e.reasons());
        } catch (LeadsFlowRepository.TransientDbException e) {
            // queue the lead id for a retry (the sync and reconcile DAGs repair what is still missing)
            LOG.log(System.Logger.Level.WARNING, "lead {0}: leads_flow write to retry ({1})", id, e.getMessage());
        }
    }

    /**
     * LeadsService#leadsSubmit: dedupe by phone through the blind index (every held kid, each candidate confirmed
     * by decrypting it), then insert. An invalid phone throws Phone.InvalidPhone: the user's 400, not "new lead".
     */
    public long leadsSubmit(Map<String, Object> form) throws SQLException {
        Object phone = form.get("phone");
        if (phone instanceof String && !Phone.pyStrip((String) phone).isEmpty()) {
            List<Lead> existing = flow.findByPhone((String) phone);
            if (!existing.isEmpty()) return existing.get(0).leadId();
        }
        return insertLeadsAggr(form);
    }

    /**
     * LeadsService#submitMiniAppAuthorizePhone: the WeChat callback sets the phone of the unionId's leads (or
     * creates one). The flow row is replaced whole through submitLead, never patched.
     */
    public List<Long> submitMiniAppAuthorizePhone(String unionId, String phone) throws SQLException {
        Phone.normalize(phone); // refuse garbage before writing anything (InvalidPhone: message without the input)
        List<Lead> leads = flow.findByUnionId(unionId); // exact, case-sensitive
        if (leads.isEmpty()) {
            Map<String, Object> form = new LinkedHashMap<>();
            form.put("unionId", unionId);
            form.put("phone", phone);
            form.put("leads_type", 0); // a normal lead: NULL is no lead type (leads_type_unknown)
            return List.of(insertLeadsAggr(form));
        }
        List<Long> ids = new ArrayList<>();
        for (Lead l : leads) {
            if (phase == Phase.DUAL_WRITE) {
                try (Connection c = legacy.getConnection();
                        PreparedStatement ps = c.prepareStatement("UPDATE leads_aggr SET phone = ? WHERE id = ?")) {
                    ps.setString(1, phone);
                    ps.setLong(2, l.leadId());
                    ps.executeUpdate(); // update_time: ON UPDATE CURRENT_TIMESTAMP, read back just below
                    submitStored(c, l.leadId());
                }
            } else {
                Map<String, Object> row = asLegacyShape(l);
                row.put("phone", phone);
                row.put("update_time", LocalDateTime.now(SHANGHAI).truncatedTo(ChronoUnit.SECONDS));
                flow.submitLead(row, RUN_ID);
            }
            ids.add(l.leadId());
        }
        return ids;
    }

    /**
     * LeadsService#getSmsLeadsAggrSales: the sales owners of a phone's leads. The lookup is the blind index; the
     * legacy query reads by primary key, no plain-phone predicate left. After cutover sales_name needs its own
     * table keyed by lead_id (docs/interfaces.md: open); {@code lead_sales} stands for it here.
     */
    public Map<Long, String> getSmsLeadsAggrSales(String rawPhone) throws SQLException {
        List<Lead> leads = flow.findByPhone(rawPhone);
        Map<Long, String> out = new LinkedHashMap<>();
        if (leads.isEmpty()) return out;
        String table = phase == Phase.DUAL_WRITE ? "leads_aggr WHERE id" : "lead_sales WHERE lead_id";
        String column = phase == Phase.DUAL_WRITE ? "id" : "lead_id";
        String in = String.join(", ", leads.stream().map(l -> "?").toList());
        try (Connection c = legacy.getConnection();
                PreparedStatement ps = c.prepareStatement("SELECT " + column + ", sales_name FROM " + table + " IN (" + in + ")")) {
            for (int i = 0; i < leads.size(); i++) ps.setLong(i + 1, leads.get(i).leadId());
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) out.put(rs.getLong(1), rs.getString(2));
            }
        }
        return out;
    }

    /** After cutover: a flow row as the legacy-shaped input of submitLead (the rules are idempotent on it). */
    Map<String, Object> asLegacyShape(Lead l) {
        Map<String, Object> row = new HashMap<>();
        row.put("id", l.leadId());
        row.put("phone", l.revealPhone(flow.cipher())); // in memory only
        row.put("unionId", l.unionId());
        row.put("window_url", l.windowUrl());
        row.put("ip_address", l.ipAddress());
        row.put("user_agent", l.userAgent());
        row.put("from_channel", l.fromChannel());
        row.put("has_tool", l.hasTool());
        row.put("is_group", l.isGroup());
        row.put("join_time", l.joinTime());
        row.put("leads_type", "internal".equals(l.leadsType()) ? 1L : 0L);
        row.put("main_business_id", l.mainBusinessId());
        // leads_flow keeps no create_time; submitLead needs one, and update_time (set by the caller) decides the version
        row.put("create_time", l.joinTime() != null ? l.joinTime() : l.sourceUpdatedAt());
        row.put("update_time", l.sourceUpdatedAt());
        row.put("is_deleted", l.isDeleted());
        return row;
    }
}
