package leadsflow;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;

/**
 * KMS mode of the keyring (the twin of plugins/leads_flow/io/kms.py): the data keys are stored only wrapped by an
 * OpenBao / Vault Transit key, and a service unwraps each one <b>once</b>, when it loads the keyring
 * ({@link Keyring#fromJson} calls {@link #unwrapped}), through Transit's decrypt over the JDK's HTTP client:
 *
 * <pre>
 *   {"kms": {"type": "openbao-transit", "url": "https://bao.internal:8200", "mount": "transit",
 *            "key": "leads-flow", "token_path": "/run/secrets/leads-flow-transit-token"},
 *    "wrapped_enc_keys": {"1": "vault:v1:..."}, "active_enc_kid": "1",
 *    "wrapped_bidx_keys": {"1": "vault:v1:..."}, "active_bidx_kid": "1"}
 * </pre>
 *
 * ({@code role_id} + {@code secret_id_path} instead of {@code token_path}: AppRole login at {@code approle_mount};
 * optional {@code ca_cert} (a PEM file of the CA to trust instead of the JDK's), {@code namespace},
 * {@code timeout_s}). Transit's plaintext is the base64 text a plain keyring holds under {@code enc_keys} /
 * {@code bidx_keys}, so the plain extra this returns goes through the same checks and the data keys, e1 tokens and
 * blind indexes are those of the plain keyring. Only the configured credential is used (never VAULT_TOKEN).
 *
 * <p>Errors name the kid and the KMS (url, mount, key), never a key, and chain no client exception (its text may
 * echo a request): {@link KmsUnavailable} is transient (no connection, timeout, 429, 5xx, sealed: a retry may cure
 * it, as {@code LeadsFlowRepository.TransientDbException}), {@link KmsDenied} permanent (401/403 permission or
 * token, 400/404/405 a key or ciphertext Transit refuses, an unreadable credential file, a TLS certificate not
 * accepted: as {@code PermanentDbException}). A malformed {@code kms} block is a {@link Keyring.KeyringError}.
 */
public final class KmsUnwrap {
    private KmsUnwrap() {}

    public static final String KMS_TYPE = "openbao-transit";
    static final double DEFAULT_TIMEOUT_S = 10.0;
    private static final List<String> RINGS = List.of("enc", "bidx");

    /** The KMS could not unwrap a data key; the message names the kid and the KMS, never a key. */
    public abstract static class KmsException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final boolean retryable;

        KmsException(String message, boolean retryable) {
            super(message);
            this.retryable = retryable;
        }

        /** True when a retry may cure it ({@link KmsUnavailable}). */
        public final boolean isTransient() {
            return retryable;
        }
    }

    /** The KMS could not be reached or failed (no connection, timeout, 429, 5xx, sealed): a retry may cure it. */
    public static final class KmsUnavailable extends KmsException {
        private static final long serialVersionUID = 1L;

        public KmsUnavailable(String message) {
            super(message, true);
        }
    }

    /** The KMS refused the unwrap or cannot do it (permission, token, key, ciphertext, TLS): no retry cures it. */
    public static final class KmsDenied extends KmsException {
        private static final long serialVersionUID = 1L;

        public KmsDenied(String message) {
            super(message, false);
        }
    }

    /** The {@code kms} block of a keyring extra, checked (messages name fields, never a credential). */
    public record TransitConfig(String url, String key, String mount, String tokenPath, String roleId,
            String secretIdPath, String approleMount, String namespace, String caCert, Duration timeout) {

        static TransitConfig from(Object raw, String where) {
            if (!(raw instanceof Map<?, ?> doc)) throw new Keyring.KeyringError(where + ": 'kms' must be a JSON object");
            if (!KMS_TYPE.equals(doc.get("type"))) throw new Keyring.KeyringError(where + ": kms.type must be '" + KMS_TYPE + "'");
            for (String field : List.of("url", "key")) {
                if (!(doc.get(field) instanceof String s) || s.isEmpty()) throw new Keyring.KeyringError(where + ": kms." + field + " is missing");
            }
            if (doc.containsKey("token") || doc.containsKey("secret_id")) {
                throw new Keyring.KeyringError(where + ": kms must name a token_path / secret_id_path file, not hold a credential");
            }
            String tokenPath = text(doc, "token_path", where);
            String roleId = text(doc, "role_id", where);
            String secretIdPath = text(doc, "secret_id_path", where);
            if (tokenPath == null && (roleId == null || secretIdPath == null)) {
                throw new Keyring.KeyringError(where + ": kms needs token_path, or role_id and secret_id_path (AppRole)");
            }
            double seconds = timeoutSeconds(doc.get("timeout_s"), where);
            String mount = text(doc, "mount", where);
            String approle = text(doc, "approle_mount", where);
            return new TransitConfig(stripEnd((String) doc.get("url"), "/"), (String) doc.get("key"),
                    strip(mount == null ? "transit" : mount), tokenPath, roleId, secretIdPath,
                    strip(approle == null ? "approle" : approle), text(doc, "namespace", where),
                    text(doc, "ca_cert", where), Duration.ofMillis(Math.max(1, (long) (seconds * 1000))));
        }

        /** io/kms.py's {@code float(timeout_s or 10)}: a number (or its text); absent, null or 0 is the default. */
        private static double timeoutSeconds(Object t, String where) {
            double s;
            try {
                s = t == null ? 0 : t instanceof Number n ? n.doubleValue() : Double.parseDouble(((String) t).strip());
            } catch (RuntimeException e) {
                s = -1;
            }
            if (s < 0 || Double.isNaN(s) || Double.isInfinite(s)) {
                throw new Keyring.KeyringError(where + ": kms.timeout_s must be a number of seconds");
            }
            return s == 0 ? DEFAULT_TIMEOUT_S : s;
        }

        private static String text(Map<?, ?> doc, String field, String where) {
            Object v = doc.get(field);
            if (v == null || (v instanceof String s && s.isEmpty())) return null;
            if (!(v instanceof String s)) throw new Keyring.KeyringError(where + ": kms." + field + " must be a string");
            return s;
        }

        @Override
        public String toString() {
            return "OpenBao Transit " + url + " (key '" + key + "' at mount '" + mount + "')";
        }
    }

    /** True when the keyring document is in KMS mode (it has a {@code kms} block). */
    public static boolean isKmsExtra(Map<String, Object> doc) {
        return doc.containsKey("kms");
    }

    /**
     * {@code doc} unchanged when it is not in KMS mode; otherwise the plain extra ({@code enc_keys} /
     * {@code bidx_keys} as base64 data keys, the active kids), every wrapped key decrypted through Transit, one call
     * per key. {@code where} names the document in messages.
     *
     * @throws Keyring.KeyringError malformed
     * @throws KmsDenied permanent
     * @throws KmsUnavailable transient
     */
    public static Map<String, Object> unwrapped(Map<String, Object> doc, String where) {
        if (!isKmsExtra(doc)) return doc;
        TransitConfig kms = TransitConfig.from(doc.get("kms"), where);
        for (String f : List.of("enc_keys", "bidx_keys")) {
            if (doc.containsKey(f)) {
                throw new Keyring.KeyringError(where + " is in KMS mode but also holds " + f + ": keep only wrapped_*_keys");
            }
        }
        Map<String, Map<String, String>> rings = new LinkedHashMap<>();
        for (String ring : RINGS) {
            Map<String, String> wrapped = wrappedRing(doc, ring, where);
            if (wrapped != null) rings.put(ring, wrapped);
        }
        if (rings.isEmpty()) throw new Keyring.KeyringError(where + " is in KMS mode but holds no wrapped_enc_keys / wrapped_bidx_keys");
        Transit transit = new Transit(kms);
        Map<String, Object> out = new LinkedHashMap<>();
        for (String ring : RINGS) {
            Map<String, String> wrapped = rings.get(ring);
            if (wrapped != null) {
                Map<String, Object> keys = new LinkedHashMap<>();
                for (Map.Entry<String, String> e : wrapped.entrySet()) {
                    keys.put(e.getKey(), transit.decrypt(e.getValue(), ring + " kid '" + e.getKey() + "' of the " + where));
                }
                out.put(ring + "_keys", keys);
            }
            String active = "active_" + ring + "_kid";
            if (doc.containsKey(active)) out.put(active, doc.get(active));
        }
        return out;
    }

    private static Map<String, String> wrappedRing(Map<String, Object> doc, String ring, String where) {
        String field = "wrapped_" + ring + "_keys";
        if (!doc.containsKey(field)) return null;
        if (!(doc.get(field) instanceof Map<?, ?> raw) || raw.isEmpty()) {
            throw new Keyring.KeyringError(where + ": " + field + " must be a non-empty object of kid to Transit ciphertext");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<?, ?> e : raw.entrySet()) {
            if (!(e.getValue() instanceof String s) || !s.startsWith("vault:v")) {
                throw new Keyring.KeyringError(where + ": " + field + "['" + e.getKey() + "'] is not a Transit ciphertext (vault:v<n>:...)");
            }
            out.put((String) e.getKey(), s);
        }
        return out;
    }

    /** One logged-in Transit client: the token read (or AppRole login done) at the first call, then reused. */
    private static final class Transit {
        private final TransitConfig kms;
        private final HttpClient http;
        private String token;

        Transit(TransitConfig kms) {
            this.kms = kms;
            HttpClient.Builder b = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .followRedirects(HttpClient.Redirect.NEVER).connectTimeout(kms.timeout());
            if (kms.caCert() != null) b.sslContext(trusting(kms));
            this.http = b.build();
        }

        /** The base64 text of one data key (as a plain keyring holds it). */
        String decrypt(String ciphertext, String what) {
            String doing = "unwrapping " + what;
            Map<String, Object> resp = post(kms.mount() + "/decrypt/" + kms.key(),
                    Map.of("ciphertext", ciphertext), token(), doing);
            if (resp.get("data") instanceof Map<?, ?> data && data.get("plaintext") instanceof String plaintext) {
                return plaintext;
            }
            throw new KmsDenied(kms + ": " + doing + " returned no plaintext");
        }

        private String token() {
            if (token != null) return token;
            if (kms.tokenPath() != null) {
                token = secretFile(kms.tokenPath(), "token");
            } else {
                String doing = "AppRole login";
                Map<String, Object> resp = post("auth/" + kms.approleMount() + "/login",
                        Map.of("role_id", kms.roleId(), "secret_id", secretFile(kms.secretIdPath(), "AppRole secret_id")), null, doing);
                if (!(resp.get("auth") instanceof Map<?, ?> auth) || !(auth.get("client_token") instanceof String t) || t.isEmpty()) {
                    throw new KmsDenied(kms + ": " + doing + " returned no token");
                }
                token = t;
            }
            return token;
        }

        private String secretFile(String path, String what) {
            String text;
            try {
                text = Files.readString(Path.of(path), StandardCharsets.UTF_8).strip();
            } catch (IOException | RuntimeException e) {
                throw new KmsDenied(kms + ": cannot read the " + what + " file '" + path + "' (" + e.getClass().getSimpleName() + ")");
            }
            if (text.isEmpty()) throw new KmsDenied(kms + ": the " + what + " file '" + path + "' is empty");
            return text;
        }

        /** POST {url}/v1/{path} with a JSON body; the parsed 200 response, or the error classified. */
        @SuppressWarnings("unchecked")
        private Map<String, Object> post(String path, Map<String, Object> body, String token, String doing) {
            HttpRequest.Builder req;
            try {
                req = HttpRequest.newBuilder(URI.create(kms.url() + "/v1/" + path));
            } catch (IllegalArgumentException e) {
                throw new Keyring.KeyringError(kms + ": kms.url, mount and key do not form a URL");
            }
            req.timeout(kms.timeout()).header("Content-Type", "application/json").header("X-Vault-Request", "true")
                    .POST(HttpRequest.BodyPublishers.ofString(Json.write(body)));
            if (token != null) req.header("X-Vault-Token", token);
            if (kms.namespace() != null) req.header("X-Vault-Namespace", kms.namespace());
            HttpResponse<String> resp;
            try {
                resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw classify(e, doing);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new KmsUnavailable(kms + ": " + doing + " interrupted");
            }
            int status = resp.statusCode();
            if (status != 200) throw classify(status, doing);  // the body is never read into a message
            try {
                return (Map<String, Object>) Json.parse(resp.body());
            } catch (RuntimeException e) {
                throw new KmsDenied(kms + ": " + doing + " returned a response that is not a JSON object");
            }
        }

        private KmsException classify(IOException e, String doing) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof SSLException) {  // an impostor or a wrong ca_cert: retrying will not cure it
                    return new KmsDenied(kms + ": " + doing + " failed, the KMS's TLS certificate was not accepted ("
                            + t.getClass().getSimpleName() + ")");
                }
            }
            return new KmsUnavailable(kms + ": " + doing + " failed, KMS unreachable or unavailable (" + e.getClass().getSimpleName() + ")");
        }

        /** The HTTP status as io/kms.py's classify_error splits hvac's exceptions. */
        private KmsException classify(int status, String doing) {
            return switch (status) {
                case 401, 403 -> new KmsDenied(kms + ": " + doing + " denied (HTTP " + status + "); the token must be allowed update on "
                        + kms.mount() + "/decrypt/" + kms.key());
                case 400, 404, 405 -> new KmsDenied(kms + ": " + doing + " refused (HTTP " + status + ")");
                default -> status == 429 || status >= 500
                        ? new KmsUnavailable(kms + ": " + doing + " failed, KMS unreachable or unavailable (HTTP " + status + ")")
                        : new KmsUnavailable(kms + ": " + doing + " failed (HTTP " + status + ")");
            };
        }
    }

    /** An SSL context trusting only the CA certificates of {@code kms.ca_cert} (PEM). */
    private static SSLContext trusting(TransitConfig kms) {
        try (InputStream in = new ByteArrayInputStream(Files.readAllBytes(Path.of(kms.caCert())))) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int n = 0;
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) store.setCertificateEntry("ca" + n++, c);
            if (n == 0) throw new KmsDenied(kms + ": the ca_cert file '" + kms.caCert() + "' holds no certificate");
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), null);
            return ctx;
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            if (e instanceof KmsDenied d) throw d;
            throw new KmsDenied(kms + ": cannot use the ca_cert file '" + kms.caCert() + "' (" + e.getClass().getSimpleName() + ")");
        }
    }

    private static String strip(String s) {
        int a = 0, b = s.length();
        while (a < b && s.charAt(a) == '/') a++;
        while (b > a && s.charAt(b - 1) == '/') b--;
        return s.substring(a, b);
    }

    private static String stripEnd(String s, String c) {
        String out = s;
        while (out.endsWith(c)) out = out.substring(0, out.length() - c.length());
        return out;
    }
}
