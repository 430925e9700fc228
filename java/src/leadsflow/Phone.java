package leadsflow;

import com.google.i18n.phonenumbers.NumberParseException;
import com.google.i18n.phonenumbers.PhoneNumberUtil;
import com.google.i18n.phonenumbers.Phonenumber.PhoneNumber;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Phone normalisation (E.164, default region CN), masking, and phones inside text: the Java twin of
 * plugins/leads_flow/rules/phone.py (docs/phone-protection.md). Python's strings are code points and Java's are
 * UTF-16 units; where the Python code counts characters this class counts code points. Messages never hold the
 * input.
 */
public final class Phone {
    private Phone() {}

    /** Not a valid phone; the message never contains it. Reason code {@code phone_invalid}. */
    public static final class InvalidPhone extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        public InvalidPhone(String message) {
            super(message);
        }

        public String reason() {
            return "phone_invalid";
        }
    }

    public static final String DEFAULT_REGION = "CN";
    private static volatile PhoneNumberUtil util = PhoneNumberUtil.getInstance();

    /**
     * Judge numbers by this library instance: one whose metadata matches the Python pin's (phonenumbers 9.0.43),
     * e.g. {@link PhoneMetadataOverlay}. Two metadata versions disagree on which numbers are valid.
     */
    public static void useLibrary(PhoneNumberUtil library) {
        util = library;
    }
    private static final int MAX_INPUT_LEN = 250;
    /**
     * The CN mobile national-number pattern of the metadata the Python side uses (phonenumbers 9.0.43); the
     * fast path takes it from its installed metadata, so a libphonenumber upgrade on either side must move it.
     */
    static final Pattern CN_MOBILE =
            Pattern.compile("1(?:610\\d|740[0-5])\\d{6}|1(?:[38]\\d|4[57]|[59][0-35-9]|6[25-7]|7[0-35-8])\\d{8}");

    /** Python's str.isspace() (what str.strip() removes), Unicode 14. */
    static boolean isPySpace(int c) {
        return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f
                || c == 0x3000;
    }

    /** Python's str.strip() without arguments. */
    public static String pyStrip(String s) {
        int a = 0, b = s.length();
        while (a < b && isPySpace(s.charAt(a))) a++;
        while (b > a && isPySpace(s.charAt(b - 1))) b--;
        return s.substring(a, b);
    }

    /** Unicode 14 decimal digits (Python's \d): Java 17 knows Unicode 13, which lacks Tangsa (U+16AC0..9). */
    static final String ND = "\\p{Nd}\\x{16AC0}-\\x{16AC9}";

    static int digitValue(int cp) {
        if (cp >= 0x16AC0 && cp <= 0x16AC9) return cp - 0x16AC0;
        return Character.digit(cp, 10);
    }

    // --- normalisation ----------------------------------------------------------------------------------------

    private static String fold(String raw) {
        StringBuilder b = new StringBuilder(raw.length());
        for (int k = 0; k < raw.length(); k++) {
            char c = raw.charAt(k);
            if (" -()\u3000\uff0d\uff08\uff09".indexOf(c) >= 0) continue;
            if (c >= 0xff10 && c <= 0xff19) b.append((char) ('0' + (c - 0xff10)));
            else if (c == 0xff0b) b.append('+');
            else b.append(c);
        }
        return b.toString();
    }

    static String fastPath(String raw) {
        if (raw.codePointCount(0, raw.length()) > MAX_INPUT_LEN) return null;
        String d = pyStrip(fold(raw));
        int n = d.length();
        String nsn;
        if (n == 11) nsn = d;
        else if (n == 14 && d.startsWith("+86")) nsn = d.substring(3);
        else if (n == 12 && d.charAt(0) == '0') nsn = d.substring(1);
        else if (n == 13 && d.startsWith("86")) nsn = d.substring(2);
        else if (n == 15 && d.startsWith("0086")) nsn = d.substring(4);
        else return null;
        return CN_MOBILE.matcher(nsn).matches() ? "+86" + nsn : null;
    }

    /** libphonenumber reads digits with Character.digit; Python's port knows Unicode 14 digits too. */
    private static String foldTangsa(String raw) {
        StringBuilder b = new StringBuilder(raw.length());
        raw.codePoints().forEach(cp -> {
            if (cp >= 0x16AC0 && cp <= 0x16AC9) b.append((char) ('0' + cp - 0x16AC0));
            else b.appendCodePoint(cp);
        });
        return b.toString();
    }

    /** E.164 via libphonenumber only (region CN): the definition the fast path must match. */
    public static String normalizeReference(String raw) {
        if (raw == null || pyStrip(raw).isEmpty()) throw new InvalidPhone("phone is empty");
        PhoneNumberUtil u = util;
        PhoneNumber num;
        try {
            num = u.parse(foldTangsa(raw), DEFAULT_REGION);
        } catch (NumberParseException e) {
            throw new InvalidPhone("phone could not be parsed");
        }
        if (!u.isValidNumber(num)) throw new InvalidPhone("phone is not a valid number");
        return u.format(num, PhoneNumberUtil.PhoneNumberFormat.E164);
    }

    /** E.164 of a raw phone; throws InvalidPhone. */
    public static String normalize(String raw) {
        if (raw == null) throw new InvalidPhone("phone is empty");
        String fast = fastPath(raw);
        return fast != null ? fast : normalizeReference(raw);
    }

    // --- masking ----------------------------------------------------------------------------------------------

    static final Pattern E164 = Pattern.compile("\\+[1-9][0-9]{6,14}");

    static String maskNsn(String nsn) {
        int n = nsn.length();
        if (n >= 11) return nsn.substring(0, 3) + "****" + nsn.substring(n - 4);
        if (n >= 8) return nsn.substring(0, 2) + "****" + nsn.substring(n - 2);
        return "****" + (n >= 6 ? nsn.substring(n - 2) : "");
    }

    /** Display form, e.g. {@code 138****8000}: first 3 and last 4 national digits. */
    public static String mask(String e164) {
        if (e164 == null || !E164.matcher(e164).matches()) {
            throw new InvalidPhone("mask() expects an E.164 string from normalize()");
        }
        if (e164.length() == 14 && e164.startsWith("+861")) {
            return e164.substring(3, 6) + "****" + e164.substring(e164.length() - 4);
        }
        PhoneNumberUtil u = util;
        try {
            return maskNsn(u.getNationalSignificantNumber(u.parse(e164, "ZZ")));
        } catch (NumberParseException e) {
            throw new InvalidPhone("mask() expects an E.164 string from normalize()");
        }
    }

    // --- phones inside text (docs/phone-protection.md, "A phone inside text") -------------------------------

    private static final String SEPARATORS = " \t\n\r\u00a0\u3000-_./()+\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
            + "\uff0d\uff3f\uff0e\uff0f\uff08\uff09\uff0b";

    private static String classOf(String chars) {
        StringBuilder b = new StringBuilder();
        chars.codePoints().forEach(cp -> b.append("\\x{").append(Integer.toHexString(cp)).append('}'));
        return b.toString();
    }

    private static final String DIGIT = "(?:(?!(?<=%)[0-9][0-9A-Fa-f])(?:(?<!%[0-9A-Fa-f])[0-9]|(?![0-9])[" + ND
            + "])|%3[0-9]|%[Ee][Ff]%[Bb][Cc]%9[0-9])";
    private static final String SEP = "(?:[" + classOf(SEPARATORS) + "]|%(?:2[0DdEeFf89Bb]|5[Ff]))";
    private static final Pattern CHAIN = Pattern.compile(DIGIT + "+(?:" + SEP + "+" + DIGIT + "+)*");
    private static final Pattern ROUGH_ASCII = Pattern.compile("[0-9%][-0-9 \\t\\n\\r_./()+%A-Fa-f]{9,}[0-9]");
    private static final Pattern ROUGH =
            Pattern.compile("[" + ND + "%][" + ND + classOf(SEPARATORS) + "%A-Fa-f]{9,}[" + ND + "]");
    private static final Pattern GROUP = Pattern.compile(DIGIT + "+");
    private static final Pattern DIGIT_TOKEN = Pattern.compile(DIGIT);
    private static final String[] PLUS_BEFORE = {"+", "\uff0b", "%2B", "%2b"};

    /** One mobile inside text: [start, end) in UTF-16 units of the text, and its national number. */
    public record Hit(int start, int end, String nsn) {}

    /** Python's pattern.finditer(text, pos, endpos): lookbehind sees before pos, nothing sees past endpos. */
    private static Matcher matcher(Pattern p, String text, int pos, int endpos) {
        Matcher m = p.matcher(endpos >= text.length() ? text : text.substring(0, endpos));
        m.region(pos, Math.min(endpos, text.length()));
        m.useTransparentBounds(true);
        m.useAnchoringBounds(false);
        return m;
    }

    private static boolean isAscii(String s) {
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) > 0x7f) return false;
        return true;
    }

    static String digitsOf(String run) {
        boolean plain = !run.isEmpty();
        for (int k = 0; k < run.length() && plain; k++) plain = run.charAt(k) >= '0' && run.charAt(k) <= '9';
        if (plain) return run;
        StringBuilder b = new StringBuilder();
        Matcher m = DIGIT_TOKEN.matcher(run);
        while (m.find()) {
            String t = m.group();
            if (t.charAt(0) == '%') b.append(t.charAt(t.length() - 1));
            else b.append(digitValue(t.codePointAt(0)));
        }
        return b.toString();
    }

    private static boolean isOctet(String d) {
        return d.length() <= 3 && (d.equals("0") || d.charAt(0) != '0') && Integer.parseInt(d) <= 255;
    }

    private static boolean isDot(String s) {
        return s.equals(".") || s.equals("\uff0e") || s.equals("%2E") || s.equals("%2e");
    }

    /** Index ranges [from, to) of the chain's groups left when every dotted-quad IPv4 address is cut out. */
    private static List<int[]> ipv4FreeRuns(String text, List<int[]> spans, List<String> digits) {
        int n = digits.size();
        boolean[] dot = new boolean[n];
        for (int k = 0; k < n - 1; k++) dot[k] = isDot(text.substring(spans.get(k)[1], spans.get(k + 1)[0]));
        List<int[]> runs = new ArrayList<>();
        int first = 0, i = 0;
        while (i + 3 < n) {
            boolean octets = true;
            for (int k = i; k < i + 4 && octets; k++) octets = isOctet(digits.get(k));
            if (dot[i] && dot[i + 1] && dot[i + 2] && !dot[i + 3] && !(i > 0 && dot[i - 1]) && octets) {
                runs.add(new int[] {first, i});
                first = i = i + 4;
            } else {
                i++;
            }
        }
        runs.add(new int[] {first, n});
        runs.removeIf(r -> r[1] <= r[0]);
        return runs;
    }

    private static final String[] PREFIXES = new String[16];

    static {
        PREFIXES[11] = "";
        PREFIXES[12] = "0";
        PREFIXES[13] = "86";
        PREFIXES[15] = "0086";
    }

    /** The longest mobile made of groups i..: {index of its last group, prefix length} and its national number. */
    private static Object[] mobileAt(List<String> digits, int i, int stop) {
        Object[] best = null;
        StringBuilder joined = new StringBuilder();
        for (int j = i; j < stop; j++) {
            joined.append(digits.get(j));
            int n = joined.length();
            if (n > 15) break;
            String prefix = PREFIXES[n];
            if (prefix == null || !joined.toString().startsWith(prefix)) continue;
            String nsn = joined.substring(prefix.length());
            if (nsn.charAt(0) == '1' && nsn.charAt(1) >= '3'
                    && (j == i || groupedLikeAPhone(digits.subList(i, j + 1), prefix.length()))) {
                best = new Object[] {j, prefix, nsn};
            }
        }
        return best;
    }

    private static boolean groupedLikeAPhone(List<String> groups, int prefixLen) {
        int seen = 0;
        boolean runsOk = true, onesOk = true;
        for (int k = 0; k < groups.size(); k++) {
            String g = groups.get(k);
            int before = seen;
            seen += g.length();
            if (seen - Math.max(before, prefixLen) > 1) onesOk = false;
            if (k + 1 < groups.size() && seen > prefixLen && (g.length() < 2 || groups.get(k + 1).length() < 2)) {
                runsOk = false;
            }
        }
        return runsOk || onesOk;
    }

    /** Every mainland mobile inside text, in order. */
    public static List<Hit> findMobiles(String text) {
        List<Hit> found = new ArrayList<>();
        if (text == null || text.isEmpty() || text.codePointCount(0, text.length()) < 11) return found;
        Matcher rough = (isAscii(text) ? ROUGH_ASCII : ROUGH).matcher(text);
        while (rough.find()) {
            // endpos + 2 (code points): a last digit that opens a percent escape must see its second hex digit
            int endpos = rough.end();
            for (int k = 0; k < 2 && endpos < text.length(); k++) endpos = text.offsetByCodePoints(endpos, 1);
            Matcher chain = matcher(CHAIN, text, rough.start(), endpos);
            while (chain.find()) {
                int start = chain.start(), end = chain.end();
                if (text.codePointCount(start, end) < 11) continue;
                List<String> digits = new ArrayList<>();
                List<int[]> spans = new ArrayList<>();
                Matcher g = matcher(GROUP, text, start, end);
                int total = 0;
                while (g.find()) {
                    String d = digitsOf(g.group());
                    digits.add(d);
                    spans.add(new int[] {g.start(), g.end()});
                    total += d.length();
                }
                if (total < 11) continue;
                for (int[] run : ipv4FreeRuns(text, spans, digits)) {
                    int i = run[0];
                    while (i < run[1]) {
                        Object[] hit = mobileAt(digits, i, run[1]);
                        if (hit == null) {
                            i++;
                            continue;
                        }
                        int j = (Integer) hit[0];
                        String prefix = (String) hit[1];
                        int a = spans.get(i)[0];
                        if (!prefix.isEmpty()) {
                            String head = text.substring(0, a);
                            for (String p : PLUS_BEFORE) {
                                if (head.endsWith(p)) {
                                    a -= p.length();
                                    break;
                                }
                            }
                        }
                        found.add(new Hit(a, spans.get(j)[1], (String) hit[2]));
                        i = j + 1;
                    }
                }
            }
        }
        return found;
    }

    public static boolean containsMobile(String text) {
        return !findMobiles(text).isEmpty();
    }

    private static String slice(String s, int a, int b) {
        return a < b ? s.substring(a, b) : "";
    }

    /** Text with every mainland mobile inside it (prefix included) replaced by its mask, the rest kept. */
    public static String maskPhonesInText(String text) {
        List<Hit> hits = findMobiles(text);
        if (hits.isEmpty()) return text;
        StringBuilder out = new StringBuilder();
        int last = 0;
        for (Hit h : hits) {
            out.append(slice(text, last, h.start())).append(maskNsn(h.nsn()));
            last = h.end();
        }
        out.append(slice(text, last, text.length()));
        return out.toString();
    }
}
