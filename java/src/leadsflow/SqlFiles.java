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
 * The statements of include/sql, rendered as the Python side renders them (plugins/leads_flow/io/sql.py,
 * {@code render}): comment lines dropped, a {@code {slot}} that names another SQL file replaced by that fragment,
 * the other {@code {slot}}s filled (a slot without a value is an error), statements split on {@code ;\n},
 * {@code :name} placeholders turned into JDBC's {@code ?} with their names kept in order. The files are read from
 * the class path as {@code sql/NAME.sql}: MySQL's text of each statement, exported from include/sql's layout by
 * java/tools/export_sql.py into the build (and the jar), so Java and Python run the same SQL text.
 */
final class SqlFiles {
    private SqlFiles() {}

    /** One statement: JDBC text and the names of its parameters, in order. */
    record Stmt(String sql, List<String> params) {}

    private static final Pattern SLOT = Pattern.compile("\\{([a-z_][a-z0-9_]*)\\}");
    private static final Pattern NAMED = Pattern.compile("(?<![:\\w]):([a-z_][a-z0-9_]*)");
    private static final Map<String, String> TEXTS = new ConcurrentHashMap<>();
    /** Slots with a default, as io/sql.py's: the table an upsert fragment writes (the bulk path names a shadow). */
    private static final Map<String, String> DEFAULT_SLOTS = Map.of("flow_table", "leads_flow");

    /** The raw text of sql/NAME.sql on the class path, or null. */
    private static String resource(String name) {
        try (InputStream in = SqlFiles.class.getClassLoader().getResourceAsStream("sql/" + name + ".sql")) {
            return in == null ? null : new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String stripComments(String text) {
        StringBuilder out = new StringBuilder();
        for (String line : text.split("\n", -1)) {
            if (line.stripLeading().startsWith("--")) continue;
            if (out.length() > 0) out.append('\n');
            out.append(line);
        }
        return out.toString();
    }

    /** A statement's text without comment lines, each slot that names another SQL file replaced by its text. */
    static String text(String name) {
        String cached = TEXTS.get(name);
        if (cached != null) return cached;
        String raw = resource(name);
        if (raw == null) throw new IllegalStateException("no SQL named " + name + " on the class path (sql/)");
        Matcher m = SLOT.matcher(stripComments(raw));
        StringBuilder b = new StringBuilder();
        while (m.find()) {
            String slot = m.group(1);
            if (slot.equals(name)) throw new IllegalStateException("SQL " + name + " fills a slot with itself");
            String fragment = resource(slot) == null ? m.group(0) : stripTrailingNewlines(text(slot));
            m.appendReplacement(b, Matcher.quoteReplacement(fragment));
        }
        m.appendTail(b);
        String out = b.toString();
        TEXTS.put(name, out);
        return out;
    }

    private static String stripTrailingNewlines(String s) {
        int end = s.length();
        while (end > 0 && s.charAt(end - 1) == '\n') end--;
        return s.substring(0, end);
    }

    static List<Stmt> render(String name, Map<String, String> slots) {
        Matcher m = SLOT.matcher(text(name));
        StringBuilder filled = new StringBuilder();
        while (m.find()) {
            String v = slots.getOrDefault(m.group(1), DEFAULT_SLOTS.get(m.group(1)));
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
