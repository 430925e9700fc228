package leadsflow;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;

/**
 * content_hash, version 2 (docs/interfaces.md, "Fingerprint"): SHA-256 over the canonical encoding of the
 * {@link #COLUMNS} in this order, the first 8 bytes as a signed big-endian long. Encoding of each value:
 * NULL {@code 00}; integer {@code 01} + 8 bytes big-endian two's complement; string {@code 02} + 4-byte big-endian
 * length of its UTF-8 bytes + the bytes; datetime (naive, no zone) {@code 03} + the 26 ASCII bytes
 * {@code yyyy-MM-dd HH:mm:ss.SSSSSS}.
 */
public final class Fingerprint {
    private Fingerprint() {}

    public static final int VERSION = 2;
    public static final List<String> COLUMNS = List.of("phone_bidx", "phone_bidx_kid", "union_id", "window_url",
            "ip_address", "user_agent", "from_channel", "has_tool", "join_time", "leads_type", "is_group",
            "main_business_id", "is_deleted", "source_updated_at");
    static final DateTimeFormatter DATETIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS");

    /** The canonical bytes of the fingerprint columns of a mapped row (column name to value). */
    public static byte[] payload(Map<String, Object> row) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        for (String c : COLUMNS) {
            Object v = row.get(c);
            if (v == null) {
                out.write(0);
            } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
                out.write(1);
                out.writeBytes(ByteBuffer.allocate(8).putLong(((Number) v).longValue()).array());
            } else if (v instanceof Boolean) {
                out.write(1);
                out.writeBytes(ByteBuffer.allocate(8).putLong((Boolean) v ? 1 : 0).array());
            } else if (v instanceof String) {
                byte[] b = ((String) v).getBytes(StandardCharsets.UTF_8);
                out.write(2);
                out.writeBytes(ByteBuffer.allocate(4).putInt(b.length).array());
                out.writeBytes(b);
            } else if (v instanceof LocalDateTime) {
                out.write(3);
                out.writeBytes(((LocalDateTime) v).format(DATETIME).getBytes(StandardCharsets.US_ASCII));
            } else {
                throw new IllegalArgumentException("no canonical encoding for a " + v.getClass().getSimpleName()
                        + " in column " + c);
            }
        }
        return out.toByteArray();
    }

    /** content_hash of a mapped row: first 8 bytes of SHA-256(payload), signed big-endian. */
    public static long contentHash(Map<String, Object> row) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(payload(row));
            return ByteBuffer.wrap(d, 0, 8).getLong();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }
}
