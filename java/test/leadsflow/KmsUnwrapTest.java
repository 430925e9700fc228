package leadsflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import leadsflow.KmsUnwrap.KmsDenied;
import leadsflow.KmsUnwrap.KmsException;
import leadsflow.KmsUnwrap.KmsUnavailable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * KMS mode of the keyring against a stand-in for Transit's HTTP API on loopback (the JDK's HttpServer): the
 * requests it receives, the classification of every kind of answer, and the checks of the {@code kms} block.
 * tests/e2e/test_kms_keyring.py runs the same class against a real OpenBao, keys wrapped by Python.
 */
class KmsUnwrapTest {
    static final byte[] ENC = LeadsFlowRepositoryTest.range(0), BIDX = LeadsFlowRepositoryTest.range(32);
    /** In every error body: a message of ours must never hold it. */
    static final String BODY_MARKER = "body-echoes-the-request";

    @TempDir
    Path tmp;
    HttpServer server;
    String url;
    /** Status of the next decrypt answers; 200 answers the plaintext registered under the ciphertext. */
    volatile int status = 200;
    final Map<String, String> plaintexts = new java.util.concurrent.ConcurrentHashMap<>();
    final List<String> seen = new ArrayList<>();
    final AtomicInteger decrypts = new AtomicInteger();

    @BeforeEach
    void start() throws IOException {
        plaintexts.put("vault:v1:enc1", b64(ENC));
        plaintexts.put("vault:v1:bidx1", b64(BIDX));
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/v1/", ex -> {
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            String path = ex.getRequestURI().getPath();
            synchronized (seen) {
                seen.add(ex.getRequestMethod() + " " + path + " token=" + ex.getRequestHeaders().getFirst("X-Vault-Token"));
            }
            String answer;
            int code;
            @SuppressWarnings("unchecked")
            Map<String, Object> req = (Map<String, Object>) Json.parse(body);
            if (path.equals("/v1/auth/approle/login")) {
                boolean ok = "role-1".equals(req.get("role_id")) && "secret-1".equals(req.get("secret_id"));
                code = ok ? 200 : 400;
                answer = ok ? "{\"auth\": {\"client_token\": \"approle-token\"}}" : "{\"errors\": [\"" + BODY_MARKER + "\"]}";
            } else if (path.equals("/v1/transit/decrypt/leads-flow")) {
                decrypts.incrementAndGet();
                String plain = plaintexts.get((String) req.get("ciphertext"));
                code = status;
                if (code == 200 && plain == null) code = 400;
                answer = code == 200 ? (plain.equals("none") ? "{\"data\": {}}" : "{\"data\": {\"plaintext\": \"" + plain + "\"}}")
                        : "{\"errors\": [\"" + BODY_MARKER + " " + req.get("ciphertext") + "\"]}";
            } else {
                code = 404;
                answer = "{\"errors\": []}";
            }
            byte[] out = answer.getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(code, out.length);
            try (OutputStream os = ex.getResponseBody()) {
                os.write(out);
            }
        });
        server.start();
        url = "http://127.0.0.1:" + server.getAddress().getPort();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    static String b64(byte[] k) {
        return Base64.getEncoder().encodeToString(k);
    }

    Path tokenFile(String token) throws IOException {
        Path p = tmp.resolve("token-" + System.nanoTime());
        Files.writeString(p, token + "\n");
        return p;
    }

    Map<String, Object> kmsBlock(Path token) {
        Map<String, Object> kms = new LinkedHashMap<>();
        kms.put("type", "openbao-transit");
        kms.put("url", url + "/");
        kms.put("mount", "/transit/");
        kms.put("key", "leads-flow");
        kms.put("token_path", token.toString());
        return kms;
    }

    Map<String, Object> wrapped(Map<String, Object> kms) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("kms", kms);
        doc.put("wrapped_enc_keys", Map.of("1", "vault:v1:enc1"));
        doc.put("active_enc_kid", "1");
        doc.put("wrapped_bidx_keys", Map.of("1", "vault:v1:bidx1"));
        doc.put("active_bidx_kid", "1");
        return doc;
    }

    static String plainJson() {
        return Json.write(Map.of("enc_keys", Map.of("1", b64(ENC)), "active_enc_kid", "1",
                "bidx_keys", Map.of("1", b64(BIDX)), "active_bidx_kid", "1"));
    }

    void assertClean(KmsException e, String kid) {
        String m = e.getMessage();
        assertTrue(m.contains(url) && m.contains("'leads-flow'") && m.contains("kid '" + kid + "'"), m);
        assertFalse(m.contains(BODY_MARKER) || m.contains("vault:v1:"), "a response body or ciphertext in the message");
        assertFalse(m.contains(b64(ENC)) || m.contains(b64(BIDX)) || m.contains("the-token"), "a key or token in the message");
        assertNull(e.getCause(), "a client exception chained");
    }

    @Test
    void unwrapsEachKeyOnceIntoThePlainKeyring() throws IOException {
        PhoneCipher kms = Keyring.fromJson(Json.write(wrapped(kmsBlock(tokenFile("the-token")))));
        PhoneCipher plain = Keyring.fromJson(plainJson());
        String phone = "+8613800138000";
        assertEquals(phone, kms.decrypt(plain.encrypt(phone)));
        assertEquals(plain.bidx(phone), kms.bidx(phone));
        assertEquals(2, decrypts.get());
        assertEquals(List.of("POST /v1/transit/decrypt/leads-flow token=the-token", "POST /v1/transit/decrypt/leads-flow token=the-token"), seen);
    }

    @Test
    void aBlindIndexDocumentInKmsModeBesideAPlainMain() throws IOException {
        Map<String, Object> bidxOnly = wrapped(kmsBlock(tokenFile("the-token")));
        bidxOnly.remove("wrapped_enc_keys");
        bidxOnly.remove("active_enc_kid");
        String main = Json.write(Map.of("enc_keys", Map.of("1", b64(ENC)), "active_enc_kid", "1"));
        PhoneCipher c = Keyring.fromJson(main, Json.write(bidxOnly));
        assertEquals(Keyring.fromJson(plainJson()).bidx("+8613800138000"), c.bidx("+8613800138000"));
        assertEquals(1, decrypts.get());
    }

    @Test
    void appRoleLogsInOnceThenDecryptsWithItsToken() throws IOException {
        Map<String, Object> kms = kmsBlock(tokenFile("unused"));
        kms.remove("token_path");
        kms.put("role_id", "role-1");
        kms.put("secret_id_path", tokenFile("secret-1").toString());
        Keyring.fromJson(Json.write(wrapped(kms)));
        assertEquals(List.of("POST /v1/auth/approle/login token=null", "POST /v1/transit/decrypt/leads-flow token=approle-token",
                "POST /v1/transit/decrypt/leads-flow token=approle-token"), seen);

        kms.put("secret_id_path", tokenFile("wrong").toString());
        KmsDenied e = assertThrows(KmsDenied.class, () -> Keyring.fromJson(Json.write(wrapped(kms))));
        assertTrue(e.getMessage().contains("AppRole login") && !e.getMessage().contains(BODY_MARKER), e.getMessage());
    }

    @Test
    void permissionAndRefusalArePermanent() throws IOException {
        String doc = Json.write(wrapped(kmsBlock(tokenFile("the-token"))));
        for (int code : new int[] {401, 403}) {
            status = code;
            KmsDenied e = assertThrows(KmsDenied.class, () -> Keyring.fromJson(doc));
            assertClean(e, "1");
            assertTrue(e.getMessage().contains("transit/decrypt/leads-flow") && e.getMessage().contains("enc kid"), e.getMessage());
            assertFalse(e.isTransient());
        }
        for (int code : new int[] {400, 404, 405}) {
            status = code;
            assertClean(assertThrows(KmsDenied.class, () -> Keyring.fromJson(doc)), "1");
        }
        status = 200;
        plaintexts.put("vault:v1:bidx1", "none");
        KmsDenied none = assertThrows(KmsDenied.class, () -> Keyring.fromJson(doc));
        assertTrue(none.getMessage().contains("bidx kid '1'") && none.getMessage().contains("no plaintext"), none.getMessage());
        plaintexts.put("vault:v1:bidx1", Base64.getEncoder().encodeToString(new byte[16]));
        Keyring.KeyringError shortKey = assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(doc));
        assertTrue(shortKey.getMessage().contains("32 bytes"), shortKey.getMessage());
    }

    @Test
    void anUnavailableKmsIsTransient() throws IOException {
        String doc = Json.write(wrapped(kmsBlock(tokenFile("the-token"))));
        for (int code : new int[] {429, 500, 502, 503}) {
            status = code;
            KmsUnavailable e = assertThrows(KmsUnavailable.class, () -> Keyring.fromJson(doc));
            assertClean(e, "1");
            assertTrue(e.isTransient() && e.getMessage().contains("HTTP " + code), e.getMessage());
        }
        int closed;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        Map<String, Object> kms = kmsBlock(tokenFile("the-token"));
        kms.put("url", "http://127.0.0.1:" + closed);
        kms.put("timeout_s", 2);
        KmsUnavailable down = assertThrows(KmsUnavailable.class, () -> Keyring.fromJson(Json.write(wrapped(kms))));
        assertTrue(down.getMessage().contains("127.0.0.1:" + closed) && down.getMessage().contains("kid '1'"), down.getMessage());
        assertNull(down.getCause());
    }

    @Test
    void anUnreadableCredentialFileIsPermanent() throws IOException {
        Map<String, Object> kms = kmsBlock(tmp.resolve("missing"));
        KmsDenied missing = assertThrows(KmsDenied.class, () -> Keyring.fromJson(Json.write(wrapped(kms))));
        assertTrue(missing.getMessage().contains("token file") && missing.getMessage().contains(url), missing.getMessage());
        kms.put("token_path", tokenFile("  ").toString());
        assertTrue(assertThrows(KmsDenied.class, () -> Keyring.fromJson(Json.write(wrapped(kms)))).getMessage().contains("is empty"));
        assertEquals(0, decrypts.get());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aMalformedKmsBlockIsAKeyringError() throws IOException {
        Path token = tokenFile("the-token");
        List<java.util.function.Consumer<Map<String, Object>>> breakages = List.of(
                d -> d.put("kms", "not an object"),
                d -> ((Map<String, Object>) d.get("kms")).put("type", "aws-kms"),
                d -> ((Map<String, Object>) d.get("kms")).remove("url"),
                d -> ((Map<String, Object>) d.get("kms")).put("key", ""),
                d -> ((Map<String, Object>) d.get("kms")).put("token", "inline"),
                d -> ((Map<String, Object>) d.get("kms")).put("secret_id", "inline"),
                d -> ((Map<String, Object>) d.get("kms")).remove("token_path"),
                d -> ((Map<String, Object>) d.get("kms")).put("timeout_s", "soon"),
                d -> d.put("enc_keys", Map.of("1", b64(ENC))),
                d -> d.put("wrapped_enc_keys", Map.of()),
                d -> d.put("wrapped_bidx_keys", Map.of("1", b64(BIDX))),
                d -> {
                    d.remove("wrapped_enc_keys");
                    d.remove("wrapped_bidx_keys");
                });
        for (java.util.function.Consumer<Map<String, Object>> breakage : breakages) {
            Map<String, Object> doc = wrapped(new LinkedHashMap<>(kmsBlock(token)));
            breakage.accept(doc);
            Keyring.KeyringError e = assertThrows(Keyring.KeyringError.class, () -> Keyring.fromJson(Json.write(doc)));
            assertFalse(e.getMessage().contains(b64(ENC)) || e.getMessage().contains(b64(BIDX)) || e.getMessage().contains("inline"));
        }
        assertEquals(0, decrypts.get());
    }
}
