package leadsflow;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * e1 tokens and blind indexes for E.164 phones (docs/phone-protection.md; the twin of rules/crypto.py):
 * keys by HKDF-SHA256 (empty salt, 32 bytes) from a root key per kid, AES-256-GCM with a 96-bit nonce and the
 * AAD {@code e1:<kid>:leads.phone}, the token {@code e1:<kid>:<base64url(nonce || ciphertext || tag), unpadded>},
 * the blind index the first 8 bytes of HMAC-SHA256 as a signed big-endian long. Messages never hold a phone,
 * key or token.
 */
public final class PhoneCipher {
    public static final byte[] ENC_INFO = "leads-pii/v1/enc/leads.phone".getBytes(StandardCharsets.US_ASCII);
    public static final byte[] BIDX_INFO = "leads-pii/v1/bidx/leads.phone".getBytes(StandardCharsets.US_ASCII);
    static final int NONCE_LEN = 12;
    static final int TAG_LEN = 16;
    static final int MAX_TOKEN_LEN = 96;
    private static final Pattern KID = Pattern.compile("[0-9a-z]{1,8}");
    private static final Pattern B64URL = Pattern.compile("[A-Za-z0-9_-]+");
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A token that cannot be decrypted (malformed, unknown kid, failed authentication). */
    public static class TokenError extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public TokenError(String message) {
            super(message);
        }
    }

    /** A well-formed token under an encryption kid this keyring lacks: the reader's keyring is behind the writers'. */
    public static final class UnknownKid extends TokenError {
        private static final long serialVersionUID = 1L;

        public UnknownKid(String message) {
            super(message);
        }
    }

    /** What gets stored for one phone: no plaintext. */
    public record Protected(String cipher, long bidx, String bidxKid, String masked) {}

    private final Map<String, byte[]> encKeys = new LinkedHashMap<>();
    private final Map<String, byte[]> bidxKeys = new LinkedHashMap<>();
    private final String encKid;
    private final String bidxKid;

    /** Root keys by kid (32 bytes each) and the active kids. */
    public PhoneCipher(Map<String, byte[]> encRoots, String activeEncKid, Map<String, byte[]> bidxRoots,
            String activeBidxKid) {
        for (Map.Entry<String, byte[]> e : encRoots.entrySet()) encKeys.put(checkKid(e.getKey()), hkdf(e.getValue(), ENC_INFO));
        for (Map.Entry<String, byte[]> e : bidxRoots.entrySet()) bidxKeys.put(checkKid(e.getKey()), hkdf(e.getValue(), BIDX_INFO));
        if (!encKeys.containsKey(activeEncKid) || !bidxKeys.containsKey(activeBidxKid)) {
            throw new IllegalArgumentException("an active kid is not in its ring");
        }
        this.encKid = activeEncKid;
        this.bidxKid = activeBidxKid;
    }

    public static PhoneCipher single(String kid, byte[] encRoot, byte[] bidxRoot) {
        return new PhoneCipher(Map.of(kid, encRoot), kid, Map.of(kid, bidxRoot), kid);
    }

    private static String checkKid(String kid) {
        if (!KID.matcher(kid).matches()) throw new IllegalArgumentException("a kid does not match [0-9a-z]{1,8}");
        return kid;
    }

    private static byte[] hmac(byte[] key, byte[] msg) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(msg);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    /** HKDF-SHA256 (RFC 5869), empty salt (= 32 zero bytes), 32-byte output: one block. */
    static byte[] hkdf(byte[] root, byte[] info) {
        if (root.length != 32) throw new IllegalArgumentException("a root key must be exactly 32 bytes");
        byte[] prk = hmac(new byte[32], root);
        byte[] msg = new byte[info.length + 1];
        System.arraycopy(info, 0, msg, 0, info.length);
        msg[info.length] = 1;
        return hmac(prk, msg);
    }

    private static void checkE164(String e164) {
        if (e164 == null || !Phone.E164.matcher(e164).matches()) {
            throw new Phone.InvalidPhone("expected an E.164 string from Phone.normalize()");
        }
    }

    private static byte[] aad(String kid) {
        return ("e1:" + kid + ":leads.phone").getBytes(StandardCharsets.US_ASCII);
    }

    private String seal(String e164, byte[] nonce) {
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(encKeys.get(encKid), "AES"), new GCMParameterSpec(128, nonce));
            c.updateAAD(aad(encKid));
            byte[] ct = c.doFinal(e164.getBytes(StandardCharsets.US_ASCII));
            byte[] sealed = new byte[nonce.length + ct.length];
            System.arraycopy(nonce, 0, sealed, 0, nonce.length);
            System.arraycopy(ct, 0, sealed, nonce.length, ct.length);
            return "e1:" + encKid + ":" + Base64.getUrlEncoder().withoutPadding().encodeToString(sealed);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM unavailable", e);
        }
    }

    /** e1 token with the active kid and a fresh random nonce. */
    public String encrypt(String e164) {
        checkE164(e164);
        byte[] nonce = new byte[NONCE_LEN];
        RANDOM.nextBytes(nonce);
        return seal(e164, nonce);
    }

    /** Deterministic token for the test vectors only: a repeated nonce under one key breaks AES-GCM. */
    public String encryptWithNonceForTestVectorsOnly(String e164, byte[] nonce) {
        checkE164(e164);
        if (nonce.length != NONCE_LEN) throw new IllegalArgumentException("nonce must be 12 bytes");
        return seal(e164, nonce);
    }

    /** E.164 from an e1 token of any kid in the ring; throws TokenError. */
    public String decrypt(String token) {
        if (token == null || token.length() > MAX_TOKEN_LEN) throw new TokenError("token must be an e1 string of at most 96 characters");
        String[] parts = token.split(":", -1);
        if (parts.length != 3 || !parts[0].equals("e1")) throw new TokenError("token is not in the e1:<kid>:<base64url> format");
        String kid = parts[1], body = parts[2];
        if (!KID.matcher(kid).matches()) throw new TokenError("token kid does not match [0-9a-z]{1,8}");
        byte[] key = encKeys.get(kid);
        if (key == null) throw new UnknownKid("token kid is not in the keyring");
        if (!B64URL.matcher(body).matches() || body.length() % 4 == 1) throw new TokenError("token body is not unpadded base64url");
        byte[] raw = Base64.getUrlDecoder().decode(body);
        if (!Base64.getUrlEncoder().withoutPadding().encodeToString(raw).equals(body)) {
            throw new TokenError("token body is not canonical base64url");
        }
        if (raw.length <= NONCE_LEN + TAG_LEN) throw new TokenError("token is too short");
        byte[] plain;
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(key, "AES"), new GCMParameterSpec(128, raw, 0, NONCE_LEN));
            c.updateAAD(aad(kid));
            plain = c.doFinal(raw, NONCE_LEN, raw.length - NONCE_LEN);
        } catch (AEADBadTagException e) {
            throw new TokenError("token failed authentication (modified, wrong kid or wrong key)");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES-GCM unavailable", e);
        }
        String e164 = new String(plain, StandardCharsets.ISO_8859_1);
        if (!Phone.E164.matcher(e164).matches()) throw new TokenError("token decrypted to something that is not E.164");
        return e164;
    }

    /** Blind index under the active bidx kid (or {@code kid}). */
    public long bidx(String e164, String kid) {
        checkE164(e164);
        byte[] key = bidxKeys.get(kid == null ? bidxKid : kid);
        if (key == null) throw new TokenError("bidx kid is not in the keyring");
        byte[] d = hmac(key, e164.getBytes(StandardCharsets.US_ASCII));
        long v = 0;
        for (int k = 0; k < 8; k++) v = (v << 8) | (d[k] & 0xff);
        return v;
    }

    public long bidx(String e164) {
        return bidx(e164, null);
    }

    /** Index under every known bidx kid: what a lookup must search during a rotation. */
    public Map<String, Long> bidxAll(String e164) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (String kid : bidxKeys.keySet()) out.put(kid, bidx(e164, kid));
        return out;
    }

    public String activeBidxKid() {
        return bidxKid;
    }

    /** Everything to store for one phone: token, index (active kid) and mask. */
    public Protected protect(String e164) {
        checkE164(e164);
        return new Protected(encrypt(e164), bidx(e164), bidxKid, Phone.mask(e164));
    }
}
