package leadsflow;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Drives {@link LeadsFlowRepository} from files of JSON lines (the agreement test, tests/integration/
 * test_java_repository.py, and make bench-java). The JDBC URL comes from the environment variable
 * {@code LEADS_JDBC_URL} and the keyring from a file, never from the command line.
 *
 * <pre>
 *   [--metadata EXPORT] --keyring KEYRING.json COMMAND ...
 *   submit IN OUT [RUN_ID]   (transient errors retried as LeadsFlowRepository.retrying does)
 *                            one leads_aggr row a line (legacy column names, datetimes as ISO text); one outcome a line:
 *                            {"result": "written"|"erased"} | {"reasons": [...]} | {"error": "invalid"|"db_transient"|
 *                            "db_permanent"}
 *   find-phone IN OUT        {"phone": raw} a line; {"lead_ids": [...]} | {"error": "invalid_phone"}
 *   find-union IN OUT        {"union_id": u} a line; {"lead_ids": [...]} | {"error": "invalid"}
 *   find-channel IN OUT      {"from_channel", "join_from", "join_to", "page"} a line; {"lead_ids": [...]} (every page)
 * </pre>
 *
 * The keyring file may be in KMS mode ({@link KmsUnwrap}): its data keys are unwrapped once, at start. A keyring
 * that cannot be loaded ends the process with its message on stderr (names a kid or field, never a key) and exit
 * status 75 when a retry may cure it (the KMS unavailable), 3 when not.
 * Output holds lead ids, reason codes and error kinds only, never a value of a lead.
 */
public final class RepositoryRunner {
    private RepositoryRunner() {}

    /** Exit status when the keyring cannot be loaded: a retry may cure it (sysexits' EX_TEMPFAIL), or not. */
    static final int EXIT_TRANSIENT = 75, EXIT_PERMANENT = 3;

    public static void main(String[] args) throws Exception {
        List<String> a = new ArrayList<>(Arrays.asList(args));
        if (a.size() >= 2 && a.get(0).equals("--metadata")) {
            Phone.useLibrary(PhoneMetadataOverlay.load(Path.of(a.get(1))).util());
            a = a.subList(2, a.size());
        }
        if (a.size() < 4 || !a.get(0).equals("--keyring")) usage();
        PhoneCipher cipher = keyring(Path.of(a.get(1)));
        String url = System.getenv("LEADS_JDBC_URL");
        if (url == null || url.isEmpty()) {
            System.err.println("LEADS_JDBC_URL is not set");
            System.exit(2);
        }
        LeadsFlowRepository repo = new LeadsFlowRepository(LeadsFlowRepository.driverManager(url), cipher,
                LeadsFlowRepository.Settings.fromEnv());
        String cmd = a.get(2);
        List<String> rest = a.subList(3, a.size());
        switch (cmd) {
            case "submit" -> lines(rest, 2, 3, line -> submit(repo, line, rest.size() > 2 ? rest.get(2) : LeadsFlowRepository.ONLINE_RUN_ID));
            case "find-phone" -> lines(rest, 2, 2, line -> {
                try {
                    return ids(repo.findByPhone((String) line.get("phone"), Boolean.TRUE.equals(line.get("include_deleted"))));
                } catch (Phone.InvalidPhone e) {
                    return Map.of("error", "invalid_phone");
                }
            });
            case "find-union" -> lines(rest, 2, 2, line -> {
                try {
                    return ids(repo.findByUnionId((String) line.get("union_id"), Boolean.TRUE.equals(line.get("include_deleted"))));
                } catch (IllegalArgumentException e) {
                    return Map.of("error", "invalid");
                }
            });
            case "find-channel" -> lines(rest, 2, 2, line -> {
                List<LeadsFlowRepository.Lead> all = new ArrayList<>();
                repo.iterByChannel((String) line.get("from_channel"),
                        LeadsFlowRepository.legacyDatetime(line.get("join_from"), "join_from"),
                        LeadsFlowRepository.legacyDatetime(line.get("join_to"), "join_to"),
                        ((Long) line.get("page")).intValue(), Boolean.TRUE.equals(line.get("include_deleted"))).forEach(all::add);
                return ids(all);
            });
            default -> usage();
        }
    }

    /** The keyring file (plain or KMS mode); a keyring error ends the process: exit 75 transient, 3 permanent. */
    private static PhoneCipher keyring(Path file) throws java.io.IOException {
        try {
            return Keyring.fromFiles(file, null);
        } catch (KmsUnwrap.KmsException e) {
            System.err.println("keyring: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            System.exit(e.isTransient() ? EXIT_TRANSIENT : EXIT_PERMANENT);
        } catch (Keyring.KeyringError e) {
            System.err.println("keyring: KeyringError: " + e.getMessage());
            System.exit(EXIT_PERMANENT);
        }
        throw new AssertionError("unreachable");
    }

    private static void usage() {
        System.err.println("usage: RepositoryRunner [--metadata EXPORT] --keyring FILE submit IN OUT [RUN_ID] | find-phone IN OUT"
                + " | find-union IN OUT | find-channel IN OUT   (LEADS_JDBC_URL in the environment)");
        System.exit(2);
    }

    private static Map<String, Object> ids(List<LeadsFlowRepository.Lead> leads) {
        List<Object> ids = new ArrayList<>();
        for (LeadsFlowRepository.Lead l : leads) ids.add(l.leadId());
        return Map.of("lead_ids", ids);
    }

    private static Map<String, Object> submit(LeadsFlowRepository repo, Map<String, Object> lead, String runId) {
        try {
            LeadsFlowRepository.SubmitResult r = LeadsFlowRepository.retrying(() -> repo.submitLead(lead, runId));
            return Map.of("result", r == LeadsFlowRepository.SubmitResult.WRITTEN ? "written" : "erased");
        } catch (LeadsFlowRepository.LeadRejected e) {
            return Map.of("reasons", new ArrayList<Object>(e.reasons()));
        } catch (IllegalArgumentException e) {
            return Map.of("error", "invalid");
        } catch (LeadsFlowRepository.TransientDbException e) {
            return Map.of("error", "db_transient");
        } catch (LeadsFlowRepository.PermanentDbException e) {
            return Map.of("error", "db_permanent");
        }
    }

    @FunctionalInterface
    private interface Line {
        Map<String, Object> apply(Map<String, Object> in);
    }

    @SuppressWarnings("unchecked")
    private static void lines(List<String> args, int min, int max, Line fn) throws Exception {
        if (args.size() < min || args.size() > max) usage();
        long n = 0;
        try (BufferedReader r = Files.newBufferedReader(Path.of(args.get(0)), StandardCharsets.UTF_8);
                BufferedWriter w = Files.newBufferedWriter(Path.of(args.get(1)), StandardCharsets.UTF_8)) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.isEmpty()) continue;
                w.write(Json.write(new LinkedHashMap<>(fn.apply((Map<String, Object>) Json.parse(line)))));
                w.write('\n');
                n++;
            }
        }
        System.out.println("lines: " + n);
    }
}
