package leadsflow;

import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The field rules (the twin of plugins/leads_flow/rules/mapping.py FIELD_RULES): one legacy leads_aggr row, as the
 * database hands it over (String, Long, LocalDateTime or null per column), becomes either the flow row (every
 * leads_flow column up to content_hash) or the sorted reject reasons. Every rule runs even after a rejection, so
 * a row collects all its reasons.
 */
public final class FieldRules {
    public static final String PHONE_INVALID = "phone_invalid";
    public static final String NO_IDENTITY = "no_identity";
    public static final String FLAG_INVALID = "flag_invalid";
    public static final String JOIN_TIME_OUT_OF_RANGE = "join_time_out_of_range";
    public static final String LEADS_TYPE_UNKNOWN = "leads_type_unknown";
    public static final String MAIN_BUSINESS_UNKNOWN = "main_business_unknown";
    public static final String UNION_ID_INVALID = "union_id_invalid";
    public static final int WINDOW_URL_MAX = 2048, USER_AGENT_MAX = 1024, FROM_CHANNEL_MAX = 64, UNION_ID_MAX = 64;

    /** leads_aggr columns read, in the pipeline's extraction order. */
    public static final List<String> LEGACY_COLUMNS = List.of("id", "phone", "unionId", "window_url", "ip_address",
            "user_agent", "from_channel", "has_tool", "join_time", "create_time", "leads_type", "is_group",
            "main_business_id", "is_deleted", "update_time");
    /** leads_flow columns filled, lead_id .. content_hash. */
    public static final List<String> FLOW_COLUMNS = List.of("lead_id", "phone_cipher", "phone_bidx", "phone_bidx_kid",
            "phone_masked", "union_id", "window_url", "ip_address", "user_agent", "from_channel", "has_tool",
            "join_time", "leads_type", "is_group", "main_business_id", "is_deleted", "source_updated_at", "content_hash");

    /** The outcome for one row: {@code flow} (null when rejected), the sorted reasons, the sorted coercions. */
    public record Result(Map<String, Object> flow, List<String> reasons, List<String> coerced) {
        public boolean rejected() {
            return !reasons.isEmpty();
        }
    }

    private final PhoneCipher cipher;
    private final LocalDateTime minJoinTime;
    private final LocalDateTime maxJoinTime;
    private final Set<Long> mainBusinessIds; // null: any positive integer

    /** maxJoinTime is the partition end plus one day (a lead joins at most a day ahead of its partition). */
    public FieldRules(PhoneCipher cipher, LocalDateTime minJoinTime, LocalDateTime partitionEnd, Set<Long> mainBusinessIds) {
        this.cipher = cipher;
        this.minJoinTime = minJoinTime;
        this.maxJoinTime = partitionEnd.plusDays(1);
        this.mainBusinessIds = mainBusinessIds;
    }

    /**
     * The rules as an online writer applies them (submit.submit_lead): the join-time bound is the one of the daily
     * partition the sync would import the row in, i.e. the day after source_updated_at (update_time, else
     * create_time), at midnight. minJoinTime and mainBusinessIds are the pipeline's settings (Settings.min_join_time,
     * 2015-01-01; LEADS_FLOW_MAIN_BUSINESS_IDS, by default null: any positive id).
     */
    public static Result mapOnline(PhoneCipher cipher, Map<String, Object> legacy, LocalDateTime minJoinTime,
            Set<Long> mainBusinessIds) {
        Object update = legacy.get("update_time");
        Object sua = update instanceof LocalDateTime ? update : legacy.get("create_time");
        if (!(sua instanceof LocalDateTime)) throw new IllegalArgumentException("create_time is required");
        LocalDateTime partitionEnd = ((LocalDateTime) sua).toLocalDate().plusDays(1).atStartOfDay();
        return new FieldRules(cipher, minJoinTime, partitionEnd, mainBusinessIds).map(legacy);
    }

    private static final class Ctx {
        final Set<String> reasons = new TreeSet<>();
        final Set<String> coerced = new TreeSet<>();
    }

    /** Python's str(v).strip(), or null when that is empty. */
    static String trim(Object v) {
        if (v == null) return null;
        String s = Phone.pyStrip(String.valueOf(v));
        return s.isEmpty() ? null : s;
    }

    public Result map(Map<String, Object> legacy) {
        Ctx ctx = new Ctx();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("lead_id", legacy.get("id"));
        String e164 = cleanPhone(ctx, legacy.get("phone"), legacy.get("unionId"), out);
        out.put("union_id", cleanUnionId(ctx, legacy.get("unionId")));
        out.put("window_url", maskedText(ctx, legacy.get("window_url"), "window_url", WINDOW_URL_MAX));
        out.put("ip_address", cleanIp(ctx, legacy.get("ip_address")));
        out.put("user_agent", maskedText(ctx, legacy.get("user_agent"), "user_agent", USER_AGENT_MAX));
        out.put("from_channel", maskedText(ctx, legacy.get("from_channel"), "from_channel", FROM_CHANNEL_MAX));
        out.put("has_tool", flag(ctx, legacy.get("has_tool")));
        out.put("join_time", joinTime(ctx, legacy.get("join_time"), legacy.get("create_time")));
        out.put("leads_type", leadsType(ctx, legacy.get("leads_type")));
        out.put("is_group", flag(ctx, legacy.get("is_group")));
        out.put("main_business_id", mainBusiness(ctx, legacy.get("main_business_id")));
        out.put("is_deleted", truthy(legacy.get("is_deleted")) ? 1L : 0L);
        Object update = legacy.get("update_time");
        Object ts = update instanceof LocalDateTime ? update : legacy.get("create_time");
        out.put("source_updated_at", ts instanceof LocalDateTime ? ts : null);
        if (!ctx.reasons.isEmpty()) return new Result(null, List.copyOf(ctx.reasons), List.of());
        out.put("content_hash", Fingerprint.contentHash(out));
        if (e164 != null) out.put("e164", e164);
        return new Result(out, List.of(), List.copyOf(ctx.coerced));
    }

    /** Normalise and protect; no phone is fine only when the lead has a unionId. Returns the E.164 or null. */
    private String cleanPhone(Ctx ctx, Object phone, Object unionId, Map<String, Object> out) {
        String e164 = null;
        if (trim(phone) == null) {
            if (trim(unionId) == null) ctx.reasons.add(NO_IDENTITY);
        } else {
            try {
                e164 = Phone.normalize(String.valueOf(phone));
            } catch (Phone.InvalidPhone e) {
                ctx.reasons.add(PHONE_INVALID);
            }
        }
        PhoneCipher.Protected p = e164 == null ? null : cipher.protect(e164);
        out.put("phone_cipher", p == null ? null : p.cipher());
        out.put("phone_bidx", p == null ? null : p.bidx());
        out.put("phone_bidx_kid", p == null ? null : p.bidxKid());
        out.put("phone_masked", p == null ? null : p.masked());
        return e164;
    }

    /** An identifier cannot be masked or cut without breaking lookups: one carrying a phone, or longer than the
     *  column (UNION_ID_MAX characters), rejects the row. */
    private static String cleanUnionId(Ctx ctx, Object v) {
        String s = trim(v);
        if (s != null && (s.codePointCount(0, s.length()) > UNION_ID_MAX || Phone.containsMobile(s))) {
            ctx.reasons.add(UNION_ID_INVALID);
            return null;
        }
        return s;
    }

    private static String maskedText(Ctx ctx, Object v, String field, int limit) {
        String s = trim(v);
        if (s == null) return null;
        String masked = Phone.maskPhonesInText(s);
        if (!masked.equals(s)) ctx.coerced.add(field + "_phone_masked");
        if (masked.codePointCount(0, masked.length()) > limit) {
            ctx.coerced.add(field + "_truncated");
            masked = masked.substring(0, masked.offsetByCodePoints(0, limit));
        }
        return masked;
    }

    private static String cleanIp(Ctx ctx, Object v) {
        String ip = IpAddress.parse(v);
        if (ip == null && trim(v) != null) ctx.coerced.add("ip_address_unparseable");
        else if (ip != null && !ip.equals(v)) ctx.coerced.add("ip_address_cleaned");
        return ip;
    }

    /** 0/1 stay, NULL stays NULL, anything else rejects the row. */
    private static Long flag(Ctx ctx, Object v) {
        if (v == null) return null;
        if (v instanceof Long && ((Long) v == 0L || (Long) v == 1L)) return (Long) v;
        if (v instanceof Boolean) return (Boolean) v ? 1L : 0L;
        ctx.reasons.add(FLAG_INVALID);
        return null;
    }

    private LocalDateTime joinTime(Ctx ctx, Object joinTime, Object createTime) {
        LocalDateTime jt = joinTime instanceof LocalDateTime ? (LocalDateTime) joinTime : null;
        if (jt == null) {
            jt = createTime instanceof LocalDateTime ? (LocalDateTime) createTime : null;
            ctx.coerced.add("join_time_defaulted");
        }
        if (jt == null || jt.isBefore(minJoinTime) || jt.isAfter(maxJoinTime)) {
            ctx.reasons.add(JOIN_TIME_OUT_OF_RANGE);
            return null;
        }
        return jt;
    }

    private static String leadsType(Ctx ctx, Object v) {
        Long n = v instanceof Long ? (Long) v : v instanceof Boolean ? ((Boolean) v ? 1L : 0L) : null;
        String name = n == null ? null : n == 0L ? "normal" : n == 1L ? "internal" : null;
        if (name == null) ctx.reasons.add(LEADS_TYPE_UNKNOWN);
        return name;
    }

    /** NULL stays NULL (unknown); a value must be in the allow-list (default: any positive integer). */
    private Long mainBusiness(Ctx ctx, Object v) {
        if (v == null) return null;
        boolean ok = v instanceof Long && (mainBusinessIds != null ? mainBusinessIds.contains(v) : (Long) v > 0);
        if (!ok) {
            ctx.reasons.add(MAIN_BUSINESS_UNKNOWN);
            return null;
        }
        return (Long) v;
    }

    /** Python's truth value of a database value (soft deletes propagate). */
    private static boolean truthy(Object v) {
        if (v == null) return false;
        if (v instanceof Long) return (Long) v != 0L;
        if (v instanceof Boolean) return (Boolean) v;
        if (v instanceof String) return !((String) v).isEmpty();
        return true;
    }

    /** The first valid address of an X-Forwarded-For style list (Python's ipaddress rules, IPv6 as str() shows it). */
    public static final class IpAddress {
        private IpAddress() {}

        private static final Pattern PLAIN_IPV4 = Pattern.compile(
                "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}");

        public static String parse(Object v) {
            if (v == null) return null;
            String s = String.valueOf(v);
            if (PLAIN_IPV4.matcher(s).matches()) return s;
            for (String part : s.split(",", -1)) {
                part = stripBrackets(Phone.pyStrip(part));
                if (PLAIN_IPV4.matcher(part).matches()) return part;
                if (part.indexOf(':') >= 0) {
                    String ip = ipv6(part);
                    if (ip != null) return ip;
                }
            }
            return null;
        }

        private static String stripBrackets(String s) {
            int a = 0, b = s.length();
            while (a < b && (s.charAt(a) == '[' || s.charAt(a) == ']')) a++;
            while (b > a && (s.charAt(b - 1) == '[' || s.charAt(b - 1) == ']')) b--;
            return s.substring(a, b);
        }

        /** Python's IPv4Address parse: 4 ASCII-decimal octets, no leading zeros, each at most 255; -1 if not. */
        private static long ipv4(String s) {
            if (s.isEmpty()) return -1;
            String[] octets = s.split("\\.", -1);
            if (octets.length != 4) return -1;
            long v = 0;
            for (String o : octets) {
                if (o.isEmpty() || o.length() > 3 || !o.chars().allMatch(ch -> ch >= '0' && ch <= '9')) return -1;
                if (!o.equals("0") && o.charAt(0) == '0') return -1;
                int n = Integer.parseInt(o);
                if (n > 255) return -1;
                v = (v << 8) | n;
            }
            return v;
        }

        private static int hextet(String h) {
            if (h.isEmpty() || h.length() > 4) return -1;
            for (int k = 0; k < h.length(); k++) {
                char c = h.charAt(k);
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return -1;
            }
            return Integer.parseInt(h, 16);
        }

        /** Python's ipaddress.ip_address(part) for IPv6: None for invalid or scoped, IPv4 for an IPv4-mapped one. */
        static String ipv6(String part) {
            if (part.indexOf('/') >= 0 || part.indexOf('%') >= 0) return null; // invalid, or a zone: local to the client
            if (part.isEmpty()) return null;
            List<String> parts = new ArrayList<>(List.of(part.split(":", -1)));
            if (parts.size() < 3) return null;
            if (parts.get(parts.size() - 1).indexOf('.') >= 0) {
                long v4 = ipv4(parts.remove(parts.size() - 1));
                if (v4 < 0) return null;
                parts.add(Long.toHexString((v4 >> 16) & 0xffff));
                parts.add(Long.toHexString(v4 & 0xffff));
            }
            if (parts.size() > 9) return null;
            int skip = -1;
            for (int k = 1; k < parts.size() - 1; k++) {
                if (parts.get(k).isEmpty()) {
                    if (skip >= 0) return null;
                    skip = k;
                }
            }
            int hi, lo, skipped;
            if (skip >= 0) {
                hi = skip;
                lo = parts.size() - skip - 1;
                if (parts.get(0).isEmpty() && --hi != 0) return null;
                if (parts.get(parts.size() - 1).isEmpty() && --lo != 0) return null;
                skipped = 8 - (hi + lo);
                if (skipped < 1) return null;
            } else {
                if (parts.size() != 8 || parts.get(0).isEmpty() || parts.get(7).isEmpty()) return null;
                hi = 8;
                lo = 0;
                skipped = 0;
            }
            int[] h = new int[8];
            int n = 0;
            for (int k = 0; k < hi; k++) if ((h[n++] = hextet(parts.get(k))) < 0) return null;
            n += skipped;
            for (int k = parts.size() - lo; k < parts.size(); k++) if ((h[n++] = hextet(parts.get(k))) < 0) return null;
            if (h[0] == 0 && h[1] == 0 && h[2] == 0 && h[3] == 0 && h[4] == 0 && h[5] == 0xffff) {
                return (h[6] >> 8) + "." + (h[6] & 0xff) + "." + (h[7] >> 8) + "." + (h[7] & 0xff);
            }
            return compress(h);
        }

        /** Python's IPv6 str(): lowercase hex, the longest run (first on a tie) of 2+ zero hextets as '::'. */
        private static String compress(int[] h) {
            int bestStart = -1, bestLen = 0, start = -1, len = 0;
            for (int k = 0; k < 8; k++) {
                if (h[k] == 0) {
                    len++;
                    if (start == -1) start = k;
                    if (len > bestLen) {
                        bestLen = len;
                        bestStart = start;
                    }
                } else {
                    len = 0;
                    start = -1;
                }
            }
            List<String> out = new ArrayList<>();
            for (int x : h) out.add(Integer.toHexString(x));
            if (bestLen > 1) {
                int end = bestStart + bestLen;
                if (end == 8) out.add("");
                for (int k = 0; k < bestLen; k++) out.remove(bestStart);
                out.add(bestStart, "");
                if (bestStart == 0) out.add(0, "");
            }
            return String.join(":", out);
        }
    }
}
