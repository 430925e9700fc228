package leadsflow;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The conformance kit's runner (make test-java).
 *
 * <pre>
 *   [--metadata EXPORT]                     judge phones by the Python pin's metadata (java/tools/export_phone_metadata.py)
 *   vectors PHONE_VECTORS FIELD_VECTORS     check this module against tests/vectors/{phone_crypto,field_rules}.json
 *   map FIELD_VECTORS IN.jsonl OUT.jsonl    map legacy rows (one JSON object a line, the vectors' encoding) with the
 *                                           vectors' keys and settings; one result a line (flow row with its token,
 *                                           or the reasons)
 *   map-online FIELD_VECTORS IN OUT         the same through FieldRules.mapOnline (submit_lead's join-time bound)
 * </pre>
 *
 * Output names cases and columns only, never a value: the vector phones are test numbers, but a habit is a habit.
 */
public final class ConformanceRunner {
    private static final DateTimeFormatter SECONDS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    private static final DateTimeFormatter MICROS = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSSSSS");

    private ConformanceRunner() {}

    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("--metadata")) {
            useMetadata(Path.of(args[1]));
            args = java.util.Arrays.copyOfRange(args, 2, args.length);
        }
        if (args.length == 3 && args[0].equals("vectors")) {
            System.exit(vectors(Path.of(args[1]), Path.of(args[2])) == 0 ? 0 : 1);
        } else if (args.length == 4 && (args[0].equals("map") || args[0].equals("map-online"))) {
            map(Path.of(args[1]), Path.of(args[2]), Path.of(args[3]), args[0].equals("map-online"));
        } else {
            System.err.println("usage: ConformanceRunner vectors PHONE_VECTORS FIELD_VECTORS | map FIELD_VECTORS IN OUT");
            System.exit(2);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> readJson(Path p) throws Exception {
        return (Map<String, Object>) Json.parse(Files.readString(p, StandardCharsets.UTF_8));
    }

    static LocalDateTime datetime(Object v) {
        if (v == null) return null;
        String s = (String) v;
        return LocalDateTime.parse(s, s.length() > 19 ? MICROS : SECONDS);
    }

    static Object jsonValue(Object v) {
        if (v instanceof LocalDateTime) {
            LocalDateTime d = (LocalDateTime) v;
            return d.format(d.getNano() == 0 ? SECONDS : MICROS);
        }
        return v;
    }

    private static int failures = 0;

    @SuppressWarnings("unchecked")
    private static void useMetadata(Path export) throws Exception {
        PhoneMetadataOverlay.Loaded m = PhoneMetadataOverlay.load(export);
        Phone.useLibrary(m.util());
        Map<String, Object> cn = (Map<String, Object>) ((Map<String, Object>) m.doc().get("regions")).get("CN");
        String pattern = (String) ((Map<String, Object>) cn.get("mobile")).get("national_number_pattern");
        if (!Phone.CN_MOBILE.pattern().equals(pattern)) {
            throw new IllegalStateException("Phone.CN_MOBILE differs from the CN mobile pattern of phonenumbers "
                    + m.version() + ": update it (the fast path must take the metadata's pattern)");
        }
        Map<String, Object> codes = (Map<String, Object>) m.doc().get("country_code_to_region_code");
        for (Map.Entry<String, Object> e : codes.entrySet()) {
            List<String> java = m.util().getRegionCodesForCountryCode(Integer.parseInt(e.getKey()));
            if (!java.equals(e.getValue())) {
                System.out.println("NOTE calling code " + e.getKey() + ": regions differ from phonenumbers " + m.version());
            }
        }
        System.out.println("phone metadata: phonenumbers " + m.version() + " (export), library code libphonenumber jar");
    }

    private static void expect(boolean ok, String what) {
        if (!ok) {
            failures++;
            System.out.println("MISMATCH " + what);
        }
    }

    // --- phone vectors ------------------------------------------------------------------------------------------

    @SuppressWarnings("unchecked")
    private static int phoneVectors(Path path) throws Exception {
        Map<String, Object> doc = readJson(path);
        expect("e1".equals(doc.get("format")), "phone vectors format");
        int n = 0;
        for (Object o : (List<Object>) doc.get("cases")) {
            Map<String, Object> c = (Map<String, Object>) o;
            String name = "phone case " + n++;
            String input = (String) c.get("input");
            if (c.containsKey("error")) {
                try {
                    Phone.normalize(input);
                    expect(false, name + ": accepted an invalid input");
                } catch (Phone.InvalidPhone e) {
                    expect(e.reason().equals(c.get("error")), name + ": reason");
                }
                continue;
            }
            String kid = (String) c.get("kid");
            PhoneCipher cipher = PhoneCipher.single(kid, HexFormat.of().parseHex((String) c.get("enc_root_hex")),
                    HexFormat.of().parseHex((String) c.get("bidx_root_hex")));
            String e164 = Phone.normalize(input);
            expect(e164.equals(c.get("e164")), name + ": e164");
            expect(Phone.normalizeReference(input).equals(c.get("e164")), name + ": e164 (reference path)");
            String token = cipher.encryptWithNonceForTestVectorsOnly(e164, HexFormat.of().parseHex((String) c.get("nonce_hex")));
            expect(token.equals(c.get("token")), name + ": token");
            expect(cipher.decrypt((String) c.get("token")).equals(c.get("e164")), name + ": decrypt");
            expect(cipher.bidx(e164) == ((Number) c.get("bidx")).longValue(), name + ": bidx");
            expect(Phone.mask(e164).equals(c.get("masked")), name + ": mask");
            String tampered = token.substring(0, token.length() - 2) + (token.endsWith("A") ? "BA" : "AA");
            try {
                cipher.decrypt(tampered);
                expect(false, name + ": a tampered token decrypted");
            } catch (PhoneCipher.TokenError expected) {
                // the tag check (or the canonical-base64 check) refused it
            }
        }
        return n;
    }

    // --- field-rule vectors -------------------------------------------------------------------------------------

    @SuppressWarnings("unchecked")
    static FieldRules rulesOf(Map<String, Object> doc) {
        Map<String, Object> keys = (Map<String, Object>) doc.get("keys");
        Map<String, Object> settings = (Map<String, Object>) doc.get("settings");
        PhoneCipher cipher = PhoneCipher.single((String) keys.get("kid"), HexFormat.of().parseHex((String) keys.get("enc_root_hex")),
                HexFormat.of().parseHex((String) keys.get("bidx_root_hex")));
        return new FieldRules(cipher, datetime(settings.get("min_join_time")), datetime(settings.get("partition_end")),
                null);
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> legacyRow(Map<String, Object> doc, Map<String, Object> json) {
        List<Object> datetimes = (List<Object>) doc.get("datetime_columns");
        Map<String, Object> row = new LinkedHashMap<>();
        for (String c : FieldRules.LEGACY_COLUMNS) {
            if (!json.containsKey(c)) throw new IllegalArgumentException("legacy row without column " + c);
            Object v = json.get(c);
            row.put(c, datetimes.contains(c) ? datetime(v) : v);
        }
        return row;
    }

    @SuppressWarnings("unchecked")
    private static int fieldVectors(Path path) throws Exception {
        Map<String, Object> doc = readJson(path);
        expect("field_rules/1".equals(doc.get("format")), "field vectors format");
        expect(FieldRules.LEGACY_COLUMNS.equals(doc.get("legacy_columns")), "legacy columns");
        FieldRules rules = rulesOf(doc);
        Map<String, Object> keys = (Map<String, Object>) doc.get("keys");
        PhoneCipher cipher = PhoneCipher.single((String) keys.get("kid"), HexFormat.of().parseHex((String) keys.get("enc_root_hex")),
                HexFormat.of().parseHex((String) keys.get("bidx_root_hex")));
        int n = 0;
        for (Object o : (List<Object>) doc.get("cases")) {
            Map<String, Object> c = (Map<String, Object>) o;
            String name = "field case '" + c.get("name") + "'";
            n++;
            FieldRules.Result r = rules.map(legacyRow(doc, (Map<String, Object>) c.get("legacy")));
            if (c.containsKey("reasons")) {
                expect(r.rejected() && r.reasons().equals(c.get("reasons")), name + ": reasons");
                continue;
            }
            if (r.rejected()) {
                expect(false, name + ": rejected with " + r.reasons());
                continue;
            }
            Map<String, Object> want = (Map<String, Object>) c.get("flow");
            Map<String, Object> got = r.flow();
            for (Object col : (List<Object>) doc.get("flow_columns")) {
                String k = (String) col;
                expect(Objects.equals(jsonValue(got.get(k)), want.get(k)), name + ": " + k);
            }
            String token = (String) got.get("phone_cipher");
            expect(Objects.equals(token == null ? null : cipher.decrypt(token), want.get("e164")), name + ": token decrypts");
            expect(r.coerced().equals(c.get("coerced")), name + ": coercions");
        }
        return n;
    }

    static int vectors(Path phone, Path fields) throws Exception {
        int p = phoneVectors(phone);
        int f = fieldVectors(fields);
        System.out.println("phone vectors: " + p + " cases; field-rule vectors: " + f + " cases; mismatches: " + failures);
        return failures;
    }

    // --- agreement: map a file of legacy rows -------------------------------------------------------------------

    @SuppressWarnings("unchecked")
    static void map(Path vectors, Path in, Path out, boolean online) throws Exception {
        Map<String, Object> doc = readJson(vectors);
        FieldRules rules = rulesOf(doc);
        Map<String, Object> keys = (Map<String, Object>) doc.get("keys");
        PhoneCipher cipher = PhoneCipher.single((String) keys.get("kid"), HexFormat.of().parseHex((String) keys.get("enc_root_hex")),
                HexFormat.of().parseHex((String) keys.get("bidx_root_hex")));
        LocalDateTime minJoin = datetime(((Map<String, Object>) doc.get("settings")).get("min_join_time"));
        long n = 0;
        try (BufferedReader r = Files.newBufferedReader(in, StandardCharsets.UTF_8);
                BufferedWriter w = Files.newBufferedWriter(out, StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty()) continue;
                Map<String, Object> legacy = legacyRow(doc, (Map<String, Object>) Json.parse(line));
                FieldRules.Result res = online ? FieldRules.mapOnline(cipher, legacy, minJoin, null) : rules.map(legacy);
                Map<String, Object> o = new LinkedHashMap<>();
                if (res.rejected()) {
                    o.put("reasons", new ArrayList<Object>(res.reasons()));
                } else {
                    Map<String, Object> flow = new LinkedHashMap<>();
                    for (Map.Entry<String, Object> e : res.flow().entrySet()) flow.put(e.getKey(), jsonValue(e.getValue()));
                    o.put("flow", flow);
                    o.put("coerced", new ArrayList<Object>(res.coerced()));
                }
                w.write(Json.write(o));
                w.write('\n');
                n++;
            }
        }
        System.out.println("mapped " + n + " rows");
    }
}
