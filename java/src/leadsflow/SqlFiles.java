package leadsflow;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The statements of include/sql, rendered as the Python side renders them (plugins/leads_flow/io/db.py,
 * {@code render}): {@code -- include: other} lines expanded, comment lines dropped, {@code {slot}}s filled (a slot
 * without a value is an error), statements split on {@code ;\n}, {@code :name} placeholders turned into JDBC's
 * {@code ?} with their names kept in order. The files are read from the class path ({@code sql/mysql/NAME.sql},
 * else {@code sql/common/NAME.sql}): the jar carries them, so Java and Python run the same SQL text.
 */
final class SqlFiles {
    private SqlFiles() {}

    /** One statement: JDBC text and the names of its parameters, in order. */
    record Stmt(String sql, List<String> params) {}

    private static final Pattern INCLUDE = Pattern.compile("^-- include: ([a-z_][a-z0-9_]*)$", Pattern.MULTILINE);
    private static final Pattern SLOT = Pattern.compile("\\{([a-z_][a-z0-9_]*)\\}");
    private static final Pattern NAMED = Pattern.compile("(?<![:\\w]):([a-z_][a-z0-9_]*)");
    private static final Map<String, String> TEXTS = new ConcurrentHashMap<>();

    static String text(String dialect, String name) {
        String key = dialect + "/" + name;
        String cached = TEXTS.get(key);
        if (cached != null) return cached;
        String raw = null;
        for (String folder : List.of(dialect, "common")) {
            try (InputStream in = SqlFiles.class.getClassLoader().getResourceAsStream("sql/" + folder + "/" + name + ".sql")) {
                if (in != null) {
                    raw = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                    break;
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        if (raw == null) throw new IllegalStateException("no SQL named " + name + " for " + dialect + " on the class path (sql/)");
        Matcher m = INCLUDE.matcher(raw);
        StringBuilder b = new StringBuilder();
        while (m.find()) m.appendReplacement(b, Matcher.quoteReplacement(stripTrailingNewlines(text(dialect, m.group(1)))));
        m.appendTail(b);
        String out = b.toString();
        TEXTS.put(key, out);
        return out;
    }

    private static String stripTrailingNewlines(String s) {
        int end = s.length();
        while (end > 0 && s.charAt(end - 1) == '\n') end--;
        return s.substring(0, end);
    }

    static List<Stmt> render(String name, Map<String, String> slots) {
        StringBuilder noComments = new StringBuilder();
        for (String line : text("mysql", name).split("\n", -1)) {
            if (line.stripLeading().startsWith("--")) continue;
            if (noComments.length() > 0) noComments.append('\n');
            noComments.append(line);
        }
        Matcher m = SLOT.matcher(noComments);
        StringBuilder filled = new StringBuilder();
        while (m.find()) {
            String v = slots.get(m.group(1));
            if (v == null) throw new IllegalArgumentException("SQL slot {" + m.group(1) + "} has no value");
            m.appendReplacement(filled, Matcher.quoteReplacement(v));
        }
        m.appendTail(filled);
        List<Stmt> out = new ArrayList<>();
        for (String part : filled.toString().split(";\n", -1)) {
            String s = part.strip();
            while (s.endsWith(";")) s = s.substring(0, s.length() - 1);
            if (s.isBlank()) continue;
            List<String> params = new ArrayList<>();
            Matcher p = NAMED.matcher(s);
            StringBuilder jdbc = new StringBuilder();
            while (p.find()) {
                params.add(p.group(1));
                p.appendReplacement(jdbc, "?");
            }
            p.appendTail(jdbc);
            out.add(new Stmt(jdbc.toString(), List.copyOf(params)));
        }
        return out;
    }

    static Stmt one(String name, Map<String, String> slots) {
        List<Stmt> s = render(name, slots);
        if (s.size() != 1) throw new IllegalStateException(name + ".sql holds " + s.size() + " statements, expected one");
        return s.get(0);
    }
}
