package leadsflow;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The phone keyring from the JSON contract of the Python side's {@code leads_pii} connection extra
 * (plugins/leads_flow/rules/crypto.py, {@code Keyring.from_extra} / {@code from_extras}):
 *
 * <pre>
 *   {"enc_keys": {"&lt;kid&gt;": "&lt;base64 32 bytes&gt;", ...}, "active_enc_kid": "&lt;kid&gt;",
 *    "bidx_keys": {"&lt;kid&gt;": "&lt;base64 32 bytes&gt;", ...}, "active_bidx_kid": "&lt;kid&gt;"}
 * </pre>
 *
 * Kids match {@code [0-9a-z]{1,8}}; keys are strict base64 (standard or URL-safe alphabet, padding optional) of
 * exactly 32 bytes; the two rings never share a key. The blind-index ring may come from a second document (the
 * {@code leads_pii_bidx} connection): that one must not hold the encryption ring, and a main document that still
 * holds a blind-index ring must hold the identical one. Messages name fields and kids, never a key.
 *
 * <p>Either document may be in KMS mode (a {@code kms} block and {@code wrapped_enc_keys} /
 * {@code wrapped_bidx_keys}, io/kms.py): {@link KmsUnwrap} then unwraps each data key through OpenBao Transit
 * while the document is loaded, one call per key, and the plain keys go through the same checks. Load the keyring
 * once at start and keep the cipher; a {@link KmsUnwrap.KmsUnavailable} is transient (retry the load),
 * a {@link KmsUnwrap.KmsDenied} permanent.
 */
public final class Keyring {
    private Keyring() {}

    /** The keyring JSON is invalid; the message names the field, never a key. */
    public static final class KeyringError extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public KeyringError(String message) {
            super(message);
        }
    }

    private static final Pattern KID = Pattern.compile("[0-9a-z]{1,8}");
    private static final Pattern B64STD = Pattern.compile("[A-Za-z0-9+/]+={0,2}");
    private static final Pattern B64URL_PAD = Pattern.compile("[A-Za-z0-9_-]+={0,2}");
    private static final List<String> ENC_FIELDS = List.of("enc_keys", "active_enc_kid");
    private static final List<String> BIDX_FIELDS = List.of("bidx_keys", "active_bidx_kid");

    private record Ring(Map<String, byte[]> keys, String active) {
        boolean sameAs(Ring o) {
            if (!active.equals(o.active) || !keys.keySet().equals(o.keys.keySet())) return false;
            for (Map.Entry<String, byte[]> e : keys.entrySet()) if (!Arrays.equals(e.getValue(), o.keys.get(e.getKey()))) return false;
            return true;
        }
    }

    /** A cipher from one keyring document (JSON text) holding both rings. */
    public static PhoneCipher fromJson(String extra) {
        return fromJson(extra, null);
    }

    /** A cipher from the main keyring document plus, when not null, the blind-index document (either in KMS mode). */
    public static PhoneCipher fromJson(String extra, String bidxExtra) {
        Map<String, Object> doc = KmsUnwrap.unwrapped(object(extra, "keyring extra"), "keyring extra");
        Ring enc = ring(doc, "enc", "keyring extra");
        Ring bidx;
        if (bidxExtra == null) {
            bidx = ring(doc, "bidx", "keyring extra");
        } else {
            Map<String, Object> bdoc = KmsUnwrap.unwrapped(object(bidxExtra, "blind-index keyring extra"), "blind-index keyring extra");
            for (String f : ENC_FIELDS) {
                if (bdoc.containsKey(f)) {
                    throw new KeyringError("the blind-index keyring extra must not hold " + f
                            + "; keep the encryption ring in the main keyring only");
                }
            }
            bidx = ring(bdoc, "bidx", "blind-index keyring extra");
            if (BIDX_FIELDS.stream().anyMatch(doc::containsKey) && !ring(doc, "bidx", "keyring extra").sameAs(bidx)) {
                throw new KeyringError("the main keyring extra and the blind-index keyring extra hold different "
                        + "blind-index keys; remove bidx_keys and active_bidx_kid from the main one");
            }
        }
        for (byte[] e : enc.keys.values()) {
            for (byte[] b : bidx.keys.values()) {
                if (Arrays.equals(e, b)) throw new KeyringError("enc_keys and bidx_keys must not share a key; use independent keys");
            }
        }
        return new PhoneCipher(enc.keys, enc.active, bidx.keys, bidx.active);
    }

    /** A cipher from a keyring file (and an optional blind-index keyring file): UTF-8 JSON. */
    public static PhoneCipher fromFiles(Path extra, Path bidxExtra) throws java.io.IOException {
        return fromJson(Files.readString(extra, StandardCharsets.UTF_8),
                bidxExtra == null ? null : Files.readString(bidxExtra, StandardCharsets.UTF_8));
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> object(String text, String what) {
        if (text == null) throw new KeyringError(what + " must be a JSON object");
        Object v;
        try {
            v = Json.parse(text);
        } catch (RuntimeException e) {
            throw new KeyringError(what + " is not valid JSON");
        }
        if (!(v instanceof Map)) throw new KeyringError(what + " must be a JSON object");
        return (Map<String, Object>) v;
    }

    private static Ring ring(Map<String, Object> doc, String name, String what) {
        String field = name + "_keys";
        if (!doc.containsKey(field)) throw new KeyringError(what + " is missing '" + field + "'");
        Object raw = doc.get(field);
        if (!(raw instanceof Map) || ((Map<?, ?>) raw).isEmpty()) {
            throw new KeyringError(field + " must be a non-empty object of kid to base64 key");
        }
        Map<String, byte[]> keys = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : ((Map<?, ?>) raw).entrySet()) {
            String kid = (String) e.getKey();
            if (!KID.matcher(kid).matches()) throw new KeyringError("a kid in " + field + " does not match [0-9a-z]{1,8}");
            keys.put(kid, decodeKey(e.getValue(), field + "['" + kid + "']"));
        }
        String activeField = "active_" + name + "_kid";
        if (!doc.containsKey(activeField)) throw new KeyringError(what + " is missing '" + activeField + "'");
        Object active = doc.get(activeField);
        if (!(active instanceof String) || !KID.matcher((String) active).matches()) {
            throw new KeyringError(activeField + " must be a string matching [0-9a-z]{1,8}");
        }
        if (!keys.containsKey(active)) throw new KeyringError(activeField + " '" + active + "' is not a kid in " + field);
        return new Ring(keys, (String) active);
    }

    /** Strict base64 (standard or URL-safe alphabet, padding optional) of exactly 32 bytes. */
    static byte[] decodeKey(Object text, String where) {
        if (!(text instanceof String)) throw new KeyringError(where + " must be a base64 string");
        String s = Phone.pyStrip((String) text);
        boolean url;
        if (B64STD.matcher(s).matches()) url = false;
        else if (B64URL_PAD.matcher(s).matches()) url = true;
        else throw new KeyringError(where + " is not valid base64");
        int end = s.length();
        while (end > 0 && s.charAt(end - 1) == '=') end--;
        s = s.substring(0, end);
        if (s.length() % 4 == 1) throw new KeyringError(where + " is not valid base64");
        byte[] key;
        try {
            key = (url ? Base64.getUrlDecoder() : Base64.getDecoder()).decode(s);
        } catch (IllegalArgumentException e) {
            throw new KeyringError(where + " is not valid base64");
        }
        if (key.length != 32) throw new KeyringError(where + " must decode to 32 bytes, got " + key.length);
        return key;
    }
}
