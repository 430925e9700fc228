package leadsflow;

import java.math.BigInteger;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.sql.Timestamp;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;
import java.util.StringJoiner;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import javax.sql.DataSource;

/**
 * Every read and write a Java service does on {@code leads_flow}, as the Python reference does it
 * (plugins/leads_flow/reads.py; docs/interfaces.md, "Java repository"). The SQL is include/sql's own, read from the
 * class path and rendered as the Python side renders it, so both writers run the same statements.
 *
 * <ul>
 *   <li>{@link #submitLead}: the leads_aggr row a service just wrote becomes the leads_flow row through the same
 *       field rules ({@link FieldRules#mapOnline}), upserted newer-wins (include/sql/publish/upsert_newer_wins.sql),
 *       its version recorded in the journal {@code leads_flow_history}, refused when the lead is erased (a locking
 *       read of {@code leads_flow_erasure}), all in one transaction; {@link LeadRejected} with reason codes when
 *       the rules reject it.</li>
 *   <li>{@link #findByPhone}: normalise, blind index under every held bidx kid, every candidate confirmed by
 *       decrypting its token; never a plaintext comparison.</li>
 *   <li>{@link #findByUnionId}: exact and case-sensitive.</li>
 *   <li>{@link #findByChannel} / {@link #iterByChannel}: a channel's leads over a join-time range, keyset pages.</li>
 *   <li>{@link #markDeleted}: hard deletes of leads_aggr, kept and marked (include/sql/deletes/deletes_mark.sql).</li>
 * </ul>
 *
 * Database errors come out as {@link TransientDbException} (a retry can cure it: lost connection, deadlock, lock
 * wait timeout, read-only, too many connections) or {@link PermanentDbException}, split as the Python side's
 * {@code io/db.py classify()} splits them. No message of this class holds a phone, token or key.
 */
public final class LeadsFlowRepository {
    /** {@code etl_run_id} of rows written by {@link #submitLead} unless the caller names its service. */
    public static final String ONLINE_RUN_ID = "online";
    /** Upper bound of a channel page. */
    public static final int MAX_PAGE = 10_000;
    /** leads_flow's columns in table order (reads.LEAD_COLUMNS, mapping.STAGE_COLUMNS). */
    public static final List<String> LEAD_COLUMNS;
    /** Legacy columns a writer may pass that leads_flow does not carry (they stay in leads_aggr). */
    public static final List<String> LEGACY_UNMAPPED = List.of("sales_name", "follow_id", "ad_id", "campaign_id");

    static {
        List<String> c = new ArrayList<>(FieldRules.FLOW_COLUMNS);
        c.add("etl_run_id");
        c.add("etl_loaded_at");
        LEAD_COLUMNS = List.copyOf(c);
    }

    private static final List<String> LEGACY_INT = List.of("id", "has_tool", "is_group", "leads_type", "main_business_id", "is_deleted");
    private static final List<String> LEGACY_DATETIME = List.of("join_time", "create_time", "update_time");
    private static final Pattern INT_TEXT = Pattern.compile("-?[0-9]+");
    private static final ZoneId SHANGHAI = ZoneId.of("Asia/Shanghai");
    private static final DateTimeFormatter MICROS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS");
    private static final Map<String, String> SLOTS;
    private static final System.Logger LOG = System.getLogger(LeadsFlowRepository.class.getName());

    static {
        Map<String, String> s = new HashMap<>();
        s.put("flow_columns", String.join(", ", LEAD_COLUMNS));
        s.put("flow_values", LEAD_COLUMNS.stream().map(c -> ":" + c).collect(Collectors.joining(", ")));
        s.put("columns", String.join(", ", LEAD_COLUMNS));
        SLOTS = Map.copyOf(s);
    }

    /** What {@link #submitLead} did. */
    public enum SubmitResult {
        /** The row went through the newer-wins upsert (which may have kept a newer stored row). */
        WRITTEN,
        /** The lead id is in leads_flow_erasure: nothing was written. */
        ERASED
    }

    /** Opens a connection; a pool's {@code DataSource::getConnection} fits. */
    @FunctionalInterface
    public interface ConnectionSource {
        Connection open() throws SQLException;
    }

    /** The field rules' settings (the Python side's Settings.min_join_time and main_business_ids). */
    public record Settings(LocalDateTime minJoinTime, Set<Long> mainBusinessIds) {
        public static final LocalDateTime DEFAULT_MIN_JOIN_TIME = LocalDateTime.of(2015, 1, 1, 0, 0);

        public static Settings defaults() {
            return new Settings(DEFAULT_MIN_JOIN_TIME, null);
        }

        /** LEADS_FLOW_MAIN_BUSINESS_IDS (a JSON list of integers), as Settings.from_env reads it. */
        public static Settings fromEnv() {
            String v = System.getenv("LEADS_FLOW_MAIN_BUSINESS_IDS");
            if (v == null || v.isEmpty()) return defaults();
            try {
                Set<Long> ids = new TreeSet<>();
                for (Object o : (List<?>) Json.parse(v)) ids.add((Long) o);
                return new Settings(DEFAULT_MIN_JOIN_TIME, Set.copyOf(ids));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("LEADS_FLOW_MAIN_BUSINESS_IDS must be a JSON list of integers");
            }
        }
    }

    // --- errors ------------------------------------------------------------------------------------------------

    /** The field rules reject the lead; nothing was written. Message and reasons carry codes only. */
    public static final class LeadRejected extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;
        private final long leadId;
        private final List<String> reasons;

        public LeadRejected(long leadId, List<String> reasons) {
            super("lead " + leadId + " rejected by the field rules: " + String.join(", ", reasons));
            this.leadId = leadId;
            this.reasons = List.copyOf(reasons);
        }

        public long leadId() {
            return leadId;
        }

        public List<String> reasons() {
            return reasons;
        }
    }

    /** A database error, classified; the message names the operation, the error code and SQLSTATE only. */
    public abstract static class DbException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DbException(String message, SQLException cause) {
            super(message, cause);
        }
    }

    /** A retry can cure it (lost connection, deadlock, lock wait timeout, read-only, too many connections). */
    public static final class TransientDbException extends DbException {
        private static final long serialVersionUID = 1L;

        public TransientDbException(String message, SQLException cause) {
            super(message, cause);
        }
    }

    /** No retry will cure it (missing table or column, permission, bad data). */
    public static final class PermanentDbException extends DbException {
        private static final long serialVersionUID = 1L;

        public PermanentDbException(String message, SQLException cause) {
            super(message, cause);
        }
    }

    /** io/db.py's _TRANSIENT_MYSQL: server gone or shutting down, connection killed or broken, too many
     * connections, deadlock, lock wait timeout (row or metadata lock), read-only. */
    public static final Set<Integer> TRANSIENT_MYSQL = Set.of(1205, 1213, 2002, 2003, 2006, 2013, 2055, 1927, 4031,
            1290, 1836, 1040, 1203, 1226, 1053, 1158, 1159, 1160, 1161);

    /**
     * True when a retry can cure the error: its server error code is in {@link #TRANSIENT_MYSQL}, or it is a
     * connection failure without a server code (SQLSTATE class 08, or the driver's transient/recoverable kinds),
     * which is what the Python side's "OperationalError without a code" stands for.
     */
    public static boolean isTransient(SQLException e) {
        if (TRANSIENT_MYSQL.contains(e.getErrorCode())) return true;
        if (e.getErrorCode() != 0) return false;
        String state = e.getSQLState();
        return (state != null && state.startsWith("08")) || e instanceof SQLTransientException || e instanceof SQLRecoverableException;
    }

    /** The exception to throw for {@code e}: {@link TransientDbException} or {@link PermanentDbException}. */
    public static DbException classify(SQLException e, String what) {
        String msg = what + ": " + e.getClass().getSimpleName() + " (error " + e.getErrorCode() + ", SQLSTATE " + e.getSQLState() + ")";
        return isTransient(e) ? new TransientDbException(msg, e) : new PermanentDbException(msg, e);
    }

    /**
     * io/db.py's {@code retrying}: run {@code fn}; on a {@link TransientDbException} wait (exponential backoff with
     * jitter: 0.5, 1, 2 s, each plus up to 50 %) and run it again, {@code attempts} runs in all (4). Anything else,
     * and the last transient failure, is thrown. {@code fn} must be safe to repeat: every repository method is
     * (submitLead is idempotent on lead_id, newer wins), a caller's own transaction is not.
     */
    public static <T> T retrying(java.util.function.Supplier<T> fn, int attempts, java.time.Duration baseDelay) {
        for (int attempt = 1; ; attempt++) {
            try {
                return fn.get();
            } catch (TransientDbException e) {
                if (attempt >= attempts) throw e;
                long ms = (long) (baseDelay.toMillis() * Math.pow(2, attempt - 1) * (1 + java.util.concurrent.ThreadLocalRandom.current().nextDouble() / 2));
                LOG.log(System.Logger.Level.WARNING, "{0} (attempt {1}/{2}), retrying in {3} ms", e.getMessage(), attempt, attempts, ms);
                try {
                    Thread.sleep(ms);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /** {@link #retrying(java.util.function.Supplier, int, java.time.Duration)} with Python's budget: 4 runs, 0.5 s. */
    public static <T> T retrying(java.util.function.Supplier<T> fn) {
        return retrying(fn, 4, java.time.Duration.ofMillis(500));
    }

    // --- the row type ------------------------------------------------------------------------------------------

    /**
     * One leads_flow row; the phone only as token, blind index and mask. {@code toString} shows the mask and the
     * non-identifying fields; equality compares content, not the token (its nonce is random per write) nor the load
     * provenance (etl_run_id, etl_loaded_at), as the Python Lead does.
     */
    public record Lead(long leadId, String phoneCipher, Long phoneBidx, String phoneBidxKid, String phoneMasked,
            String unionId, String windowUrl, String ipAddress, String userAgent, String fromChannel, Boolean hasTool,
            LocalDateTime joinTime, String leadsType, Boolean isGroup, Long mainBusinessId, boolean isDeleted,
            LocalDateTime sourceUpdatedAt, Long contentHash, String etlRunId, LocalDateTime etlLoadedAt) {

        public boolean hasPhone() {
            return phoneCipher != null;
        }

        /** The E.164 phone, decrypted now (null when the lead has none). Do not log it. */
        public String revealPhone(PhoneCipher cipher) {
            return phoneCipher == null ? null : cipher.decrypt(phoneCipher);
        }

        private List<Object> content() {
            return java.util.Arrays.asList(leadId, phoneBidx, phoneBidxKid, phoneMasked, unionId, windowUrl, ipAddress,
                    userAgent, fromChannel, hasTool, joinTime, leadsType, isGroup, mainBusinessId, isDeleted,
                    sourceUpdatedAt, contentHash);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Lead && content().equals(((Lead) o).content());
        }

        @Override
        public int hashCode() {
            return content().hashCode();
        }

        @Override
        public String toString() {
            return "Lead[leadId=" + leadId + ", phoneMasked=" + phoneMasked + ", fromChannel=" + fromChannel
                    + ", hasTool=" + hasTool + ", joinTime=" + joinTime + ", leadsType=" + leadsType + ", isGroup="
                    + isGroup + ", mainBusinessId=" + mainBusinessId + ", isDeleted=" + isDeleted
                    + ", sourceUpdatedAt=" + sourceUpdatedAt + "]";
        }

        static Lead from(ResultSet rs) throws SQLException {
            return new Lead(rs.getLong("lead_id"), rs.getString("phone_cipher"), longOrNull(rs, "phone_bidx"),
                    rs.getString("phone_bidx_kid"), rs.getString("phone_masked"), rs.getString("union_id"),
                    rs.getString("window_url"), rs.getString("ip_address"), rs.getString("user_agent"),
                    rs.getString("from_channel"), flag(rs, "has_tool"), datetime(rs.getString("join_time")),
                    rs.getString("leads_type"), flag(rs, "is_group"), longOrNull(rs, "main_business_id"),
                    rs.getLong("is_deleted") != 0, datetime(rs.getString("source_updated_at")),
                    longOrNull(rs, "content_hash"), rs.getString("etl_run_id"), datetime(rs.getString("etl_loaded_at")));
        }

        private static Long longOrNull(ResultSet rs, String c) throws SQLException {
            long v = rs.getLong(c);
            return rs.wasNull() ? null : v;
        }

        private static Boolean flag(ResultSet rs, String c) throws SQLException {
            long v = rs.getLong(c);
            return rs.wasNull() ? null : v != 0;
        }
    }

    /** A DATETIME as the server's text; zero dates and anything unparsable are null (io/db.py as_datetime). */
    static LocalDateTime datetime(String s) {
        if (s == null) return null;
        try {
            return LocalDateTime.parse(s.length() > 10 && s.charAt(10) == ' ' ? s.substring(0, 10) + "T" + s.substring(11) : s);
        } catch (DateTimeParseException e) {
            return null;
        }
    }

    // --- the repository ----------------------------------------------------------------------------------------

    private final ConnectionSource connections;
    private final PhoneCipher cipher;
    private final Settings settings;

    public LeadsFlowRepository(ConnectionSource connections, PhoneCipher cipher, Settings settings) {
        this.connections = Objects.requireNonNull(connections);
        this.cipher = Objects.requireNonNull(cipher);
        this.settings = Objects.requireNonNull(settings);
    }

    public LeadsFlowRepository(DataSource dataSource, PhoneCipher cipher) {
        this(dataSource::getConnection, cipher, Settings.fromEnv());
    }

    /** Connections by DriverManager (MariaDB Connector/J: {@code jdbc:mariadb://host:3306/db?user=...}). */
    public static ConnectionSource driverManager(String jdbcUrl) {
        return () -> DriverManager.getConnection(jdbcUrl);
    }

    public PhoneCipher cipher() {
        return cipher;
    }

    @FunctionalInterface
    private interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /** One transaction on a connection of our own: committed, or rolled back on any failure. */
    private <T> T inTransaction(String what, Work<T> work) {
        try (Connection c = connections.open()) {
            boolean auto = c.getAutoCommit();
            c.setAutoCommit(false);
            try {
                T out = work.run(c);
                c.commit();
                return out;
            } catch (SQLException | RuntimeException e) {
                try {
                    c.rollback();
                } catch (SQLException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            } finally {
                try {
                    c.setAutoCommit(auto);
                } catch (SQLException ignored) {
                    // a broken connection: the pool discards it
                }
            }
        } catch (SQLException e) {
            throw classify(e, what);
        }
    }

    /**
     * A read on a connection of our own, in the connection's own mode: no auto-commit switching (one round trip per
     * statement); a connection handed over with auto-commit off has its read snapshot ended before it goes back.
     */
    private <T> T read(String what, Work<T> work) {
        try (Connection c = connections.open()) {
            try {
                return work.run(c);
            } finally {
                if (!c.getAutoCommit()) c.rollback();
            }
        } catch (SQLException e) {
            throw classify(e, what);
        }
    }

    private static Object bindable(Object v) {
        if (v instanceof LocalDateTime) return ((LocalDateTime) v).format(MICROS);
        if (v instanceof Boolean) return (Boolean) v ? 1L : 0L;
        return v;
    }

    private static PreparedStatement prepare(Connection c, SqlFiles.Stmt s, Map<String, Object> params) throws SQLException {
        PreparedStatement ps = c.prepareStatement(s.sql());
        try {
            int i = 1;
            for (String name : s.params()) {
                if (!params.containsKey(name)) throw new IllegalArgumentException("SQL parameter :" + name + " has no value");
                Object v = bindable(params.get(name));
                if (v == null) ps.setNull(i++, java.sql.Types.NULL);
                else if (v instanceof Long) ps.setLong(i++, (Long) v);
                else if (v instanceof Integer) ps.setInt(i++, (Integer) v);
                else if (v instanceof String) ps.setString(i++, (String) v);
                else ps.setObject(i++, v);
            }
            return ps;
        } catch (SQLException | RuntimeException e) {
            ps.close();
            throw e;
        }
    }

    private static int run(Connection c, String name, Map<String, Object> params, Map<String, String> slots) throws SQLException {
        int n = 0;
        for (SqlFiles.Stmt s : SqlFiles.render(name, slots)) {
            try (PreparedStatement ps = prepare(c, s, params)) {
                n = ps.executeUpdate();
            }
        }
        return n;
    }

    private static List<Lead> leads(Connection c, String name, Map<String, Object> params) throws SQLException {
        List<Lead> out = new ArrayList<>();
        try (PreparedStatement ps = prepare(c, SqlFiles.one(name, SLOTS), params); ResultSet rs = ps.executeQuery()) {
            while (rs.next()) out.add(Lead.from(rs));
        }
        return out;
    }

    // --- the online write --------------------------------------------------------------------------------------

    /** submitLead with etl_run_id {@link #ONLINE_RUN_ID}. */
    public SubmitResult submitLead(Map<String, ?> lead) {
        return submitLead(lead, ONLINE_RUN_ID);
    }

    /**
     * Write one lead into leads_flow as the sync pipeline would: idempotent on lead_id, newer wins (submit.submit_lead).
     *
     * <p>{@code lead} is the leads_aggr row the service just wrote, keyed by legacy column names ({@code id},
     * {@code phone}, {@code unionId}, {@code window_url}, {@code ip_address}, {@code user_agent},
     * {@code from_channel}, {@code has_tool}, {@code is_group}, {@code join_time}, {@code leads_type},
     * {@code main_business_id}, {@code create_time}, {@code update_time}, {@code is_deleted}; {@code sales_name},
     * {@code follow_id}, {@code ad_id}, {@code campaign_id} accepted and ignored). Integers may be Long, Integer,
     * Boolean or decimal text; datetimes LocalDateTime (naive Asia/Shanghai), an offset/zoned time or Instant
     * (converted to Asia/Shanghai), java.sql.Timestamp, LocalDate (midnight) or ISO text; they are cut to whole
     * seconds, as leads_aggr's DATETIME holds them. {@code id} and {@code create_time} are required and
     * {@code update_time} must be what leads_aggr stored (null until the row is first updated): source_updated_at
     * comes from them and decides which writer wins.
     *
     * @return {@link SubmitResult#WRITTEN}, or {@link SubmitResult#ERASED} (nothing written) when the lead id is in
     *     leads_flow_erasure; the check is a locking read in the upsert's transaction
     * @throws LeadRejected the field rules reject the lead (reason codes only); nothing written
     * @throws IllegalArgumentException the map is not a leads_aggr row (unknown column, no id or create_time, ...)
     * @throws DbException transient or permanent; the transaction is rolled back
     */
    public SubmitResult submitLead(Map<String, ?> lead, String etlRunId) {
        Map<String, Object> params = mapForSubmit(lead, etlRunId);
        return inTransaction("submitLead", c -> write(c, params));
    }

    /**
     * The same write in the caller's transaction (Python's {@code commit=False}): no commit, no rollback, the
     * connection's auto-commit must be off. SQL errors are classified and thrown.
     */
    public SubmitResult submitLead(Connection callerTransaction, Map<String, ?> lead, String etlRunId) {
        Map<String, Object> params = mapForSubmit(lead, etlRunId);
        try {
            if (callerTransaction.getAutoCommit()) {
                throw new IllegalStateException("submitLead(Connection, ...) needs auto-commit off: the caller owns the transaction");
            }
            return write(callerTransaction, params);
        } catch (SQLException e) {
            throw classify(e, "submitLead");
        }
    }

    private static SubmitResult write(Connection c, Map<String, Object> params) throws SQLException {
        Map<String, Object> id = Map.of("lead_id", params.get("lead_id"));
        try (PreparedStatement ps = prepare(c, SqlFiles.one("reads_erased", SLOTS), id); ResultSet rs = ps.executeQuery()) {
            if (rs.next()) {
                LOG.log(System.Logger.Level.INFO, "lead {0} is erased: the online write is not applied", params.get("lead_id"));
                return SubmitResult.ERASED;
            }
        }
        run(c, "reads_upsert_one", params, SLOTS);
        run(c, "history_insert_one", params, SLOTS); // the journal: this version, unless already recorded
        return SubmitResult.WRITTEN;
    }

    /** The leads_flow row (every LEAD_COLUMNS value) the write binds; throws LeadRejected / IllegalArgumentException. */
    Map<String, Object> mapForSubmit(Map<String, ?> lead, String etlRunId) {
        if (etlRunId == null || etlRunId.isEmpty() || etlRunId.length() > 250) {
            throw new IllegalArgumentException("etl_run_id must be a string of 1 to 250 characters");
        }
        Map<String, Object> legacy = legacyRow(lead);
        long leadId = (Long) legacy.get("id");
        FieldRules.Result r = FieldRules.mapOnline(cipher, legacy, settings.minJoinTime(), settings.mainBusinessIds());
        if (r.rejected()) throw new LeadRejected(leadId, r.reasons());
        Map<String, Object> params = new LinkedHashMap<>();
        for (String col : FieldRules.FLOW_COLUMNS) params.put(col, r.flow().get(col));
        params.put("etl_run_id", etlRunId);
        params.put("etl_loaded_at", LocalDateTime.now().truncatedTo(ChronoUnit.MICROS));
        return params;
    }

    /** reads._legacy_row: the values leads_aggr holds, with Python's checks and conversions. */
    static Map<String, Object> legacyRow(Map<String, ?> lead) {
        Set<String> unknown = new TreeSet<>(lead.keySet());
        unknown.removeAll(FieldRules.LEGACY_COLUMNS);
        unknown.removeAll(LEGACY_UNMAPPED);
        if (!unknown.isEmpty()) throw new IllegalArgumentException("not leads_aggr columns: " + String.join(", ", unknown));
        StringJoiner missing = new StringJoiner(", ");
        for (String k : List.of("id", "create_time")) if (lead.get(k) == null) missing.add(k);
        if (missing.length() > 0) {
            throw new IllegalArgumentException("a submitted lead needs " + missing + " (the values stored in leads_aggr)");
        }
        Map<String, Object> vals = new LinkedHashMap<>();
        for (String c : FieldRules.LEGACY_COLUMNS) {
            Object v = lead.get(c);
            if (LEGACY_INT.contains(c)) v = legacyInt(v);
            else if (LEGACY_DATETIME.contains(c)) v = legacyDatetime(v, c);
            vals.put(c, v);
        }
        if (vals.get("is_deleted") == null) vals.put("is_deleted", 0L); // NOT NULL DEFAULT 0 in leads_aggr
        if (!(vals.get("id") instanceof Long) || (Long) vals.get("id") < 1) {
            throw new IllegalArgumentException("id must be a positive integer (leads_aggr.id)");
        }
        return vals;
    }

    /** An integer column's value; one that is not an integer is passed on for the rules to reject with their code. */
    static Object legacyInt(Object v) {
        if (v instanceof Boolean) return (Boolean) v ? 1L : 0L;
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) return ((Number) v).longValue();
        if (v instanceof BigInteger && ((BigInteger) v).bitLength() < 64) return ((BigInteger) v).longValue();
        if (v instanceof String) {
            String s = Phone.pyStrip((String) v);
            if (INT_TEXT.matcher(s).matches()) {
                try {
                    return Long.parseLong(s);
                } catch (NumberFormatException tooLarge) {
                    return new BigInteger(s);
                }
            }
        }
        return v;
    }

    /**
     * The current row of a {@code SELECT * FROM leads_aggr ...} result as {@link #submitLead} takes it: integers by
     * getLong (a TINYINT(1) holding 2 stays 2, for the rules to reject; use {@code tinyInt1isBit=false} on such a
     * schema), DATETIMEs from the server's text (no time-zone conversion; zero dates are null, as the pipeline
     * reads them), text as text. Columns leads_flow does not carry are left out.
     */
    public static Map<String, Object> legacyRowFrom(ResultSet rs) throws SQLException {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String c : FieldRules.LEGACY_COLUMNS) {
            if (LEGACY_INT.contains(c)) {
                long v = rs.getLong(c);
                m.put(c, rs.wasNull() ? null : v);
            } else if (LEGACY_DATETIME.contains(c)) {
                m.put(c, datetime(rs.getString(c)));
            } else {
                m.put(c, rs.getString(c));
            }
        }
        return m;
    }

    /** A leads_aggr DATETIME: naive Asia/Shanghai, whole seconds. */
    static LocalDateTime legacyDatetime(Object v, String key) {
        if (v == null) return null;
        LocalDateTime t;
        if (v instanceof String) t = isoDatetime(Phone.pyStrip((String) v), key);
        else if (v instanceof LocalDateTime) t = (LocalDateTime) v;
        else if (v instanceof OffsetDateTime) t = ((OffsetDateTime) v).atZoneSameInstant(SHANGHAI).toLocalDateTime();
        else if (v instanceof ZonedDateTime) t = ((ZonedDateTime) v).withZoneSameInstant(SHANGHAI).toLocalDateTime();
        else if (v instanceof Instant) t = LocalDateTime.ofInstant((Instant) v, SHANGHAI);
        else if (v instanceof Timestamp) t = ((Timestamp) v).toLocalDateTime();
        else if (v instanceof LocalDate) t = ((LocalDate) v).atStartOfDay();
        else throw new IllegalArgumentException(key + " must be a datetime");
        return t.truncatedTo(ChronoUnit.SECONDS);
    }

    private static LocalDateTime isoDatetime(String s, String key) {
        try {
            if (s.length() == 10) return LocalDate.parse(s).atStartOfDay();
            String t = s.length() > 10 && (s.charAt(10) == ' ' || s.charAt(10) == 'T') ? s.substring(0, 10) + "T" + s.substring(11) : s;
            if (t.endsWith("Z") || t.lastIndexOf('+') > 10 || t.lastIndexOf('-') > 10) {
                return OffsetDateTime.parse(t).atZoneSameInstant(SHANGHAI).toLocalDateTime();
            }
            return LocalDateTime.parse(t);
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException(key + " is not an ISO datetime");
        }
    }

    // --- reads -------------------------------------------------------------------------------------------------

    public List<Lead> findByPhone(String rawPhone) {
        return findByPhone(rawPhone, false);
    }

    /**
     * Leads whose phone is {@code rawPhone} (as a user typed it), ordered by lead_id.
     *
     * @throws Phone.InvalidPhone the phone does not normalise: the caller's input error, not "no lead"
     * @throws PhoneCipher.UnknownKid a candidate's token is under an encryption kid this keyring lacks (this reader's
     *     keyring is behind the writers'; rotation: readers first). A candidate whose token fails authentication
     *     or is malformed is skipped with a warning (lead id and error class only).
     */
    public List<Lead> findByPhone(String rawPhone, boolean includeDeleted) {
        String e164 = Phone.normalize(rawPhone);
        Map<String, Long> indexes = cipher.bidxAll(e164);
        return read("findByPhone", c -> {
            TreeMap<Long, Lead> found = new TreeMap<>();
            for (Map.Entry<String, Long> e : indexes.entrySet()) {
                Map<String, Object> p = Map.of("kid", e.getKey(), "bidx", e.getValue(), "include_deleted", includeDeleted ? 1L : 0L);
                for (Lead lead : leads(c, "reads_by_phone_bidx", p)) {
                    if (lead.phoneCipher() == null) continue;
                    try {
                        if (!cipher.decrypt(lead.phoneCipher()).equals(e164)) continue; // a blind-index collision
                    } catch (PhoneCipher.UnknownKid u) {
                        throw u;
                    } catch (PhoneCipher.TokenError t) {
                        LOG.log(System.Logger.Level.WARNING,
                                "lead {0}: phone token of a blind-index candidate cannot be decrypted ({1}); skipped",
                                lead.leadId(), t.getClass().getSimpleName());
                        continue;
                    }
                    found.put(lead.leadId(), lead);
                }
            }
            return new ArrayList<>(found.values());
        });
    }

    public List<Lead> findByUnionId(String unionId) {
        return findByUnionId(unionId, false);
    }

    /** Leads of one WeChat unionId (trimmed, as stored), ordered by lead_id; exact and case-sensitive. */
    public List<Lead> findByUnionId(String unionId, boolean includeDeleted) {
        String u = unionId == null ? null : Phone.pyStrip(unionId);
        if (u == null || u.isEmpty()) throw new IllegalArgumentException("union_id must be a non-blank string");
        List<Lead> rows = read("findByUnionId",
                c -> leads(c, "reads_by_union_id", Map.of("union_id", u, "include_deleted", includeDeleted ? 1L : 0L)));
        rows.removeIf(l -> !u.equals(l.unionId()));
        return rows;
    }

    /** The first page of {@link #findByChannel(String, LocalDateTime, LocalDateTime, int, Long, LocalDateTime, boolean)}. */
    public List<Lead> findByChannel(String fromChannel, LocalDateTime joinFrom, LocalDateTime joinTo, int limit) {
        return findByChannel(fromChannel, joinFrom, joinTo, limit, null, null, false);
    }

    /**
     * One page of the leads of {@code fromChannel} with {@code joinFrom <= join_time < joinTo}, ordered by
     * (join_time, lead_id), at most {@code limit} rows (GeneralKafkaConsumer#selectLeadsByAdChannel; Python's
     * select_by_channel). Keyset pagination: pass the last lead of the previous page as {@code afterLeadId} and,
     * to save a lookup and be immune to its join_time changing, its join_time as {@code afterJoinTime}. A page
     * shorter than {@code limit} is the last. Times are naive Asia/Shanghai, like the column.
     */
    public List<Lead> findByChannel(String fromChannel, LocalDateTime joinFrom, LocalDateTime joinTo, int limit,
            Long afterLeadId, LocalDateTime afterJoinTime, boolean includeDeleted) {
        String ch = fromChannel == null ? null : Phone.pyStrip(fromChannel);
        if (ch == null || ch.isEmpty()) throw new IllegalArgumentException("from_channel must be a non-blank string");
        Objects.requireNonNull(joinFrom, "join_from");
        Objects.requireNonNull(joinTo, "join_to");
        if (!joinTo.isAfter(joinFrom)) return new ArrayList<>();
        if (limit < 1 || limit > MAX_PAGE) throw new IllegalArgumentException("limit must be an integer in [1, " + MAX_PAGE + "]");
        if (afterLeadId == null && afterJoinTime != null) throw new IllegalArgumentException("after_join_time needs after_lead_id");
        return read("findByChannel", c -> {
            LocalDateTime cursorTime = afterJoinTime;
            long cursorId = -1;
            if (afterLeadId == null) {
                cursorTime = joinFrom;
            } else {
                cursorId = afterLeadId;
                if (cursorTime == null) {
                    SqlFiles.Stmt s = SqlFiles.one("reads_join_time_of", SLOTS);
                    try (PreparedStatement ps = prepare(c, s, Map.of("lead_id", afterLeadId)); ResultSet rs = ps.executeQuery()) {
                        cursorTime = rs.next() ? datetime(rs.getString(1)) : null;
                    }
                    if (cursorTime == null) {
                        throw new IllegalArgumentException("after_lead_id " + afterLeadId + " is not a lead with a join_time");
                    }
                }
            }
            Map<String, Object> p = new HashMap<>();
            p.put("from_channel", ch);
            p.put("range_start", joinFrom.isAfter(cursorTime) ? joinFrom : cursorTime);
            p.put("join_to", joinTo);
            p.put("after_join_time", cursorTime);
            p.put("after_lead_id", cursorId);
            p.put("include_deleted", includeDeleted ? 1L : 0L);
            p.put("page_size", (long) limit);
            return leads(c, "reads_by_channel", p);
        });
    }

    /** Every lead of a channel's range, a page at a time (memory bounded by {@code page}). */
    public Iterable<Lead> iterByChannel(String fromChannel, LocalDateTime joinFrom, LocalDateTime joinTo, int page,
            boolean includeDeleted) {
        return () -> new Iterator<>() {
            private List<Lead> rows = findByChannel(fromChannel, joinFrom, joinTo, page, null, null, includeDeleted);
            private int i = 0;

            @Override
            public boolean hasNext() {
                if (i < rows.size()) return true;
                if (rows.size() < page) return false;
                Lead last = rows.get(rows.size() - 1);
                rows = findByChannel(fromChannel, joinFrom, joinTo, page, last.leadId(), last.joinTime(), includeDeleted);
                i = 0;
                return !rows.isEmpty();
            }

            @Override
            public Lead next() {
                if (!hasNext()) throw new NoSuchElementException();
                return rows.get(i++);
            }
        };
    }

    /** A lead's versions from the journal leads_flow_history, oldest first (reads.history). */
    public List<Lead> history(long leadId) {
        if (leadId < 1) throw new IllegalArgumentException("lead_id must be a positive integer");
        return read("history", c -> leads(c, "history_of_lead", Map.of("lead_id", leadId)));
    }

    // --- deletes -----------------------------------------------------------------------------------------------

    /** markDeleted with etl_run_id {@link #ONLINE_RUN_ID}. */
    public int markDeleted(Collection<Long> leadIds) {
        return markDeleted(leadIds, ONLINE_RUN_ID);
    }

    /**
     * Leads hard-deleted from leads_aggr: kept in leads_flow and marked deleted, never deleted, exactly as the
     * hard-delete watch does (include/sql/deletes/deletes_mark.sql): {@code is_deleted = 1}, content_hash cleared
     * (should the legacy row come back unchanged, the same-timestamp rule sees different content and restores it).
     * A soft delete is not this: it is an update of the legacy row, submitted with {@link #submitLead}. Returns the
     * rows changed (leads already marked, or absent, are not counted). One transaction per call.
     */
    public int markDeleted(Collection<Long> leadIds, String etlRunId) {
        if (etlRunId == null || etlRunId.isEmpty() || etlRunId.length() > 250) {
            throw new IllegalArgumentException("etl_run_id must be a string of 1 to 250 characters");
        }
        Set<Long> ids = new TreeSet<>();
        for (Long id : leadIds) {
            if (id == null || id < 1) throw new IllegalArgumentException("lead ids must be positive integers");
            ids.add(id);
        }
        if (ids.isEmpty()) return 0;
        Map<String, String> slots = new HashMap<>(SLOTS);
        slots.put("ids", ids.stream().map(String::valueOf).collect(Collectors.joining(", ")));
        Map<String, Object> p = Map.of("etl_run_id", etlRunId, "now", LocalDateTime.now().truncatedTo(ChronoUnit.MICROS));
        return inTransaction("markDeleted", c -> run(c, "deletes_mark", p, slots));
    }
}
