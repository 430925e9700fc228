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
    // Each character (or percent-encoded UTF-8 character) becomes one token of a folded view, as in phone.py:
    // '0'-'9' a figure (any decimal digit), 'a'-'j' a Chinese numeral, 'k'/'l' the spoken 幺/两, 'A'-'J' another
    // digit sign, ' ' a separator, '.' a dot, '#' anything else; invisible characters give no token.

    private static final String SEPARATORS = " \t\n\r-_./()+\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
            + "\uff0d\uff3f\uff0e\uff0f\uff08\uff09\uff0b"
            + "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
            + "\u00b7\u2022\u2027\u30fb\uff65";
    private static final String DOT_SEPARATORS = ".\uff0e";
    /** Every format character (Cf, Unicode 14), the variation selectors and the combining keycap. */
    private static final int[][] INVISIBLE_RANGES = {
        {0x00AD, 0x00AD}, {0x0600, 0x0605}, {0x061C, 0x061C}, {0x06DD, 0x06DD}, {0x070F, 0x070F}, {0x0890, 0x0891},
        {0x08E2, 0x08E2}, {0x180E, 0x180E}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F},
        {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x13438},
        {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F},
        {0xFE00, 0xFE0F}, {0x20E3, 0x20E3},
    };
    private static final String CHINESE_NUMERALS = "〇零一二三四五六七八九";
    private static final String CHINESE_VALUES = "00123456789";
    /** Digit signs that are no decimal digits (Unicode No with a digit value): {first, last, value of first}. */
    private static final int[][] DIGIT_SIGN_RANGES = {
        {0xB2, 0xB3, 2}, {0xB9, 0xB9, 1}, {0x1369, 0x1371, 1}, {0x19DA, 0x19DA, 1}, {0x2070, 0x2070, 0},
        {0x2074, 0x2079, 4}, {0x2080, 0x2089, 0}, {0x2460, 0x2468, 1}, {0x2474, 0x247C, 1}, {0x2488, 0x2490, 1},
        {0x24EA, 0x24EA, 0}, {0x24F5, 0x24FD, 1}, {0x24FF, 0x24FF, 0}, {0x2776, 0x277E, 1}, {0x2780, 0x2788, 1},
        {0x278A, 0x2792, 1}, {0x10A40, 0x10A43, 1}, {0x10E60, 0x10E68, 1}, {0x11052, 0x1105A, 1},
        {0x1F100, 0x1F100, 0}, {0x1F101, 0x1F10A, 0},
    };
    private static final String KEYCAP_TAIL = "\ufe0e\ufe0f\u20e3";

    private static String hex(int cp) {
        return "\\x{" + Integer.toHexString(cp) + "}";
    }

    private static String classOf(String chars) {
        StringBuilder b = new StringBuilder();
        chars.codePoints().forEach(cp -> b.append(hex(cp)));
        return b.toString();
    }

    private static String rangesOf(int[][] ranges) {
        StringBuilder b = new StringBuilder();
        for (int[] r : ranges) b.append(hex(r[0])).append('-').append(hex(r[1]));
        return b.toString();
    }

    private static final String DIGITISH = ND + classOf(CHINESE_NUMERALS + "幺两") + rangesOf(DIGIT_SIGN_RANGES);
    private static final String EXTRA = classOf(SEPARATORS) + rangesOf(INVISIBLE_RANGES);
    private static final Pattern ROUGH_ASCII = Pattern.compile("[0-9][-0-9 \\t\\n\\r_./()+]{9,}[0-9]");
    private static final Pattern ROUGH_ASCII_PCT = Pattern.compile("[0-9%][-0-9 \\t\\n\\r_./()+%A-Fa-f]{9,}[0-9A-Fa-f]");
    private static final Pattern ROUGH =
            Pattern.compile("[" + DIGITISH + "%][" + DIGITISH + EXTRA + "%A-Fa-f]{9,}[" + DIGITISH + "A-Fa-f]");
    private static final Pattern V_CHAIN = Pattern.compile("[0-9a-lA-J]+(?:[ .]+[0-9a-lA-J]+)*");
    private static final Pattern V_GROUP = Pattern.compile("[0-9]+|[a-l]+|[A-J]+");
    private static final String[] PLUS_BEFORE = {"+", "\uff0b", "%2B", "%2b"};
    private static final String[] PREFIXES = new String[16];

    static {
        PREFIXES[11] = "";
        PREFIXES[12] = "0";
        PREFIXES[13] = "86";
        PREFIXES[15] = "0086";
    }

    /** One mobile inside text: [start, end) in UTF-16 units of the text, and its national number. */
    public record Hit(int start, int end, String nsn) {}

    private static boolean in(int[][] ranges, int cp) {
        for (int[] r : ranges) if (cp >= r[0] && cp <= r[1]) return true;
        return false;
    }

    /** The token of one code point: a view character, "" (invisible) or "#". */
    static String token(int cp) {
        if (cp < 0x80) {
            if (cp >= '0' && cp <= '9') return String.valueOf((char) cp);
            if (cp == '.') return ".";
            return SEPARATORS.indexOf(cp) >= 0 ? " " : "#";
        }
        if (SEPARATORS.indexOf(cp) >= 0) return DOT_SEPARATORS.indexOf(cp) >= 0 ? "." : " ";
        if (in(INVISIBLE_RANGES, cp)) return "";
        int h = CHINESE_NUMERALS.indexOf(cp);
        if (h >= 0) return String.valueOf((char) ('a' + CHINESE_VALUES.charAt(h) - '0'));
        if (cp == '幺') return "k";
        if (cp == '两') return "l";
        for (int[] r : DIGIT_SIGN_RANGES) {
            if (cp >= r[0] && cp <= r[1]) return String.valueOf((char) ('A' + r[2] + cp - r[0]));
        }
        int v = (Character.getType(cp) == Character.DECIMAL_DIGIT_NUMBER || (cp >= 0x16AC0 && cp <= 0x16AC9))
                ? digitValue(cp) : -1;
        return v >= 0 ? String.valueOf((char) ('0' + v)) : "#";
    }

    private static int hexByte(String text, int k, int end) {
        if (k + 2 >= end || text.charAt(k) != '%') return -1;
        int hi = Character.digit(text.charAt(k + 1), 16), lo = Character.digit(text.charAt(k + 2), 16);
        if (text.charAt(k + 1) > 0x7f || text.charAt(k + 2) > 0x7f || hi < 0 || lo < 0) return -1;
        return hi * 16 + lo;
    }

    /** The token of the percent escape at text[i] and its length in UTF-16 units; {"#", 1} for a lone '%'. */
    private static Object[] escape(String text, int i) {
        int end = text.length();
        int b0 = hexByte(text, i, end);
        if (b0 < 0) return new Object[] {"#", 1};
        if (b0 < 0x80) {
            String t = "#";
            if (b0 >= 0x30 && b0 <= 0x39) t = String.valueOf((char) b0);
            else if (b0 == 0x2E) t = ".";
            else if (" -_/()+".indexOf(b0) >= 0) t = " ";
            return new Object[] {t, 3};
        }
        int need = b0 >= 0xC2 && b0 <= 0xDF ? 1 : b0 >= 0xE0 && b0 <= 0xEF ? 2 : b0 >= 0xF0 && b0 <= 0xF4 ? 3 : 0;
        if (need == 0) return new Object[] {"#", 3};
        int cp = b0 & (need == 1 ? 0x1F : need == 2 ? 0x0F : 0x07);
        int k = i + 3;
        for (int n = 0; n < need; n++) {
            int b = hexByte(text, k, end);
            if (b < 0) return new Object[] {"#", 3};
            // well-formed UTF-8 only (Python's strict decoder): no overlongs, surrogates or code points past U+10FFFF
            int lo = 0x80, hi = 0xBF;
            if (n == 0 && b0 == 0xE0) lo = 0xA0;
            if (n == 0 && b0 == 0xED) hi = 0x9F;
            if (n == 0 && b0 == 0xF0) lo = 0x90;
            if (n == 0 && b0 == 0xF4) hi = 0x8F;
            if (b < lo || b > hi) return new Object[] {"#", 3};
            cp = (cp << 6) | (b & 0x3F);
            k += 3;
        }
        return new Object[] {token(cp), k - i};
    }

    /** The folded view of text[a, b) and where each token starts and ends in text (UTF-16 units). */
    private static Object[] fold(String text, int a, int b) {
        StringBuilder view = new StringBuilder();
        List<Integer> starts = new ArrayList<>(), ends = new ArrayList<>();
        int i = a;
        while (i < b) {
            int cp = text.codePointAt(i);
            String t;
            int n;
            if (cp == '%') {
                Object[] e = escape(text, i);
                t = (String) e[0];
                n = (Integer) e[1];
            } else {
                t = token(cp);
                n = Character.charCount(cp);
            }
            if (!t.isEmpty()) {
                view.append(t);
                starts.add(i);
                ends.add(i + n);
            }
            i += n;
        }
        int[] s = new int[starts.size()], e = new int[ends.size()];
        for (int k = 0; k < s.length; k++) {
            s[k] = starts.get(k);
            e[k] = ends.get(k);
        }
        return new Object[] {view.toString(), s, e};
    }

    private static boolean isAscii(String s) {
        for (int k = 0; k < s.length(); k++) if (s.charAt(k) > 0x7f) return false;
        return true;
    }

    private static boolean isOctet(String d) {
        return d.length() <= 3 && (d.equals("0") || d.charAt(0) != '0') && Integer.parseInt(d) <= 255;
    }

    /** Index ranges [from, to) of the chain's groups left when every dotted-quad IPv4 address is cut out. */
    private static List<int[]> ipv4FreeRuns(List<String> raw, List<String> digits, List<String> gaps) {
        int n = digits.size();
        boolean[] dot = new boolean[n];
        for (int k = 0; k < n - 1; k++) dot[k] = gaps.get(k).equals(".");
        List<int[]> runs = new ArrayList<>();
        int first = 0, i = 0;
        while (i + 3 < n) {
            boolean octets = true;
            for (int k = i; k < i + 4 && octets; k++) octets = raw.get(k).charAt(0) <= '9' && isOctet(digits.get(k));
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

    /** The longest mobile made of groups i.. of the run: {index of its last group, prefix, national number}. */
    private static Object[] mobileAt(List<String> raw, List<String> digits, List<String> gaps, int[] run, int i) {
        int start = run[0], stop = run[1];
        Object[] best = null;
        StringBuilder joined = new StringBuilder();
        int gluedBefore = 0;
        for (int k = i; k > start && gaps.get(k - 1).isEmpty(); k--) gluedBefore += digits.get(k - 1).length();
        for (int j = i; j < stop; j++) {
            int gluedAfter = 0;
            for (int k = j; k + 1 < stop && gaps.get(k).isEmpty(); k++) gluedAfter += digits.get(k + 1).length();
            joined.append(digits.get(j));
            int n = joined.length();
            if (n > 15) break;
            String prefix = PREFIXES[n];
            if (prefix == null || !joined.toString().startsWith(prefix)) continue;
            String nsn = joined.substring(prefix.length());
            if (nsn.charAt(0) != '1' || nsn.charAt(1) < '3') continue;
            if (j > i && !groupedLikeAPhone(mergeGlued(digits, gaps, i, j), prefix.length(), gluedBefore, gluedAfter)) {
                continue;
            }
            String spelled = String.join("", raw.subList(i, j + 1)).substring(prefix.length());
            if (spelled.indexOf('k') >= 0 || spelled.indexOf('l') >= 0) {
                boolean allChinese = true;
                for (int k = 0; k < spelled.length(); k++) allChinese &= spelled.charAt(k) >= 'a' && spelled.charAt(k) <= 'l';
                if (!allChinese) continue; // 幺/两 read as digits only in a number spelled wholly in Chinese numerals
            }
            best = new Object[] {j, prefix, nsn};
        }
        return best;
    }

    /** Groups i..j as written: runs of different kinds glued together (一3, ①3) are one group. */
    private static List<String> mergeGlued(List<String> digits, List<String> gaps, int i, int j) {
        List<String> merged = new ArrayList<>();
        merged.add(digits.get(i));
        for (int k = i + 1; k <= j; k++) {
            if (!gaps.get(k - 1).isEmpty()) merged.add(digits.get(k));
            else merged.set(merged.size() - 1, merged.get(merged.size() - 1) + digits.get(k));
        }
        return merged;
    }

    private static boolean groupedLikeAPhone(List<String> groups, int prefixLen, int gluedBefore, int gluedAfter) {
        int seen = 0, last = groups.size() - 1;
        boolean runsOk = true, onesOk = true;
        int[] lengths = new int[groups.size()];
        for (int k = 0; k <= last; k++) {
            lengths[k] = groups.get(k).length() + (k == 0 ? gluedBefore : 0) + (k == last ? gluedAfter : 0);
        }
        for (int k = 0; k <= last; k++) {
            int before = seen;
            seen += groups.get(k).length();
            if (seen - Math.max(before, prefixLen) > 1) onesOk = false;
            if (k < last && seen > prefixLen && (lengths[k] < 2 || lengths[k + 1] < 2)) runsOk = false;
        }
        return runsOk || onesOk;
    }

    private static final String ASCII_TOKENS;

    static {
        StringBuilder b = new StringBuilder();
        for (int c = 0; c < 128; c++) b.append(token(c));
        ASCII_TOKENS = b.toString();
    }

    /** Every mainland mobile inside text, in order. */
    public static List<Hit> findMobiles(String text) {
        List<Hit> found = new ArrayList<>();
        if (text == null || text.isEmpty() || text.codePointCount(0, text.length()) < 11) return found;
        Pattern roughPattern = isAscii(text) ? (text.indexOf('%') >= 0 ? ROUGH_ASCII_PCT : ROUGH_ASCII) : ROUGH;
        Matcher rough = roughPattern.matcher(text);
        while (rough.find()) {
            int a = rough.start(), b = rough.end();
            String chunk = text.substring(a, b);
            String view;
            int[] starts, ends;
            if (isAscii(chunk) && chunk.indexOf('%') < 0) {
                StringBuilder v = new StringBuilder(chunk.length());
                starts = new int[chunk.length()];
                ends = new int[chunk.length()];
                for (int k = 0; k < chunk.length(); k++) {
                    v.append(ASCII_TOKENS.charAt(chunk.charAt(k)));
                    starts[k] = a + k;
                    ends[k] = a + k + 1;
                }
                view = v.toString();
            } else {
                Object[] f = fold(text, a, b);
                view = (String) f[0];
                starts = (int[]) f[1];
                ends = (int[]) f[2];
            }
            Matcher chain = V_CHAIN.matcher(view);
            while (chain.find()) {
                int cs = chain.start(), ce = chain.end();
                if (ce - cs < 11) continue;
                List<String> raw = new ArrayList<>(), digits = new ArrayList<>(), gaps = new ArrayList<>();
                List<int[]> spans = new ArrayList<>();
                Matcher g = V_GROUP.matcher(view);
                g.region(cs, ce);
                int total = 0;
                while (g.find()) {
                    if (!spans.isEmpty()) gaps.add(view.substring(spans.get(spans.size() - 1)[1], g.start()));
                    raw.add(g.group());
                    String d = valueOf(g.group());
                    digits.add(d);
                    spans.add(new int[] {g.start(), g.end()});
                    total += d.length();
                }
                if (total < 11) continue;
                for (int[] run : ipv4FreeRuns(raw, digits, gaps)) {
                    int i = run[0];
                    while (i < run[1]) {
                        Object[] hit = mobileAt(raw, digits, gaps, run, i);
                        if (hit == null) {
                            i++;
                            continue;
                        }
                        int j = (Integer) hit[0];
                        String prefix = (String) hit[1];
                        int start = starts[spans.get(i)[0]], end = ends[spans.get(j)[1] - 1];
                        if (!prefix.isEmpty()) {
                            for (String p : PLUS_BEFORE) {
                                if (text.startsWith(p, start - p.length()) && start - p.length() >= 0) {
                                    start -= p.length();
                                    break;
                                }
                            }
                        }
                        while (end < text.length() && KEYCAP_TAIL.indexOf(text.charAt(end)) >= 0) end++;
                        found.add(new Hit(start, end, (String) hit[2]));
                        i = j + 1;
                    }
                }
            }
        }
        return found;
    }

    private static String valueOf(String group) {
        StringBuilder b = new StringBuilder(group.length());
        for (int k = 0; k < group.length(); k++) {
            char c = group.charAt(k);
            if (c >= 'a' && c <= 'j') b.append((char) ('0' + c - 'a'));
            else if (c == 'k') b.append('1');
            else if (c == 'l') b.append('2');
            else if (c >= 'A' && c <= 'J') b.append((char) ('0' + c - 'A'));
            else b.append(c);
        }
        return b.toString();
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
