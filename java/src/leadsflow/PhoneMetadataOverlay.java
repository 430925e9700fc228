package leadsflow;

import com.google.i18n.phonenumbers.MetadataLoader;
import com.google.i18n.phonenumbers.PhoneNumberUtil;
import com.google.i18n.phonenumbers.Phonemetadata.NumberFormat;
import com.google.i18n.phonenumbers.Phonemetadata.PhoneMetadata;
import com.google.i18n.phonenumbers.Phonemetadata.PhoneMetadataCollection;
import com.google.i18n.phonenumbers.Phonemetadata.PhoneNumberDesc;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * libphonenumber judging numbers by the metadata of the Python pin (java/tools/export_phone_metadata.py writes it
 * from phonenumbers): the kit builds with Debian's older jar, and two metadata versions disagree on which numbers
 * are valid (a CN fixed-line range, for one). The library code stays the jar's; only its data is replaced.
 */
public final class PhoneMetadataOverlay {
    private PhoneMetadataOverlay() {}

    /** The phonenumbers version the export came from, and a PhoneNumberUtil that uses it. */
    public record Loaded(String version, PhoneNumberUtil util, Map<String, Object> doc) {}

    @SuppressWarnings("unchecked")
    public static Loaded load(Path export) throws IOException {
        Map<String, Object> doc = (Map<String, Object>) Json.parse(Files.readString(export, StandardCharsets.UTF_8));
        Map<String, Object> regions = (Map<String, Object>) doc.get("regions");
        Map<String, Object> nonGeo = (Map<String, Object>) doc.get("non_geo");
        MetadataLoader loader = name -> {
            String key = name.substring(name.lastIndexOf('_') + 1);
            Object m = regions.containsKey(key) ? regions.get(key) : nonGeo.get(key);
            if (m == null) return null; // a region the export does not know: the library reports it missing
            PhoneMetadataCollection c = new PhoneMetadataCollection();
            c.addMetadata(metadata((Map<String, Object>) m));
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                c.writeExternal(out);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return new ByteArrayInputStream(bytes.toByteArray());
        };
        return new Loaded((String) doc.get("phonenumbers_version"), PhoneNumberUtil.createInstance(loader), doc);
    }

    @SuppressWarnings("unchecked")
    private static PhoneNumberDesc desc(Object o) {
        PhoneNumberDesc out = new PhoneNumberDesc();
        if (o == null) return out.addPossibleLength(-1); // a type the region lacks: matches nothing, as in the jar
        Map<String, Object> d = (Map<String, Object>) o;
        if (d.get("national_number_pattern") != null) out.setNationalNumberPattern((String) d.get("national_number_pattern"));
        if (d.get("example_number") != null) out.setExampleNumber((String) d.get("example_number"));
        for (Object n : (List<Object>) d.get("possible_length")) out.addPossibleLength(((Number) n).intValue());
        for (Object n : (List<Object>) d.get("possible_length_local_only")) out.addPossibleLengthLocalOnly(((Number) n).intValue());
        return out;
    }

    @SuppressWarnings("unchecked")
    private static NumberFormat format(Object o) {
        Map<String, Object> f = (Map<String, Object>) o;
        NumberFormat out = new NumberFormat();
        out.setPattern((String) f.get("pattern"));
        out.setFormat((String) f.get("format"));
        for (Object p : (List<Object>) f.get("leading_digits_pattern")) out.addLeadingDigitsPattern((String) p);
        if (f.get("national_prefix_formatting_rule") != null) {
            out.setNationalPrefixFormattingRule((String) f.get("national_prefix_formatting_rule"));
        }
        if (f.get("national_prefix_optional_when_formatting") != null) {
            out.setNationalPrefixOptionalWhenFormatting((Boolean) f.get("national_prefix_optional_when_formatting"));
        }
        if (f.get("domestic_carrier_code_formatting_rule") != null) {
            out.setDomesticCarrierCodeFormattingRule((String) f.get("domestic_carrier_code_formatting_rule"));
        }
        return out;
    }

    private static String str(Map<String, Object> m, String k) {
        return (String) m.get(k);
    }

    private static boolean flag(Map<String, Object> m, String k) {
        return Boolean.TRUE.equals(m.get(k));
    }

    @SuppressWarnings("unchecked")
    private static PhoneMetadata metadata(Map<String, Object> m) {
        PhoneMetadata out = new PhoneMetadata();
        out.setId(str(m, "id"));
        out.setCountryCode(((Number) m.get("country_code")).intValue());
        if (m.get("international_prefix") != null) out.setInternationalPrefix(str(m, "international_prefix"));
        if (m.get("preferred_international_prefix") != null) out.setPreferredInternationalPrefix(str(m, "preferred_international_prefix"));
        if (m.get("national_prefix") != null) out.setNationalPrefix(str(m, "national_prefix"));
        if (m.get("preferred_extn_prefix") != null) out.setPreferredExtnPrefix(str(m, "preferred_extn_prefix"));
        if (m.get("national_prefix_for_parsing") != null) out.setNationalPrefixForParsing(str(m, "national_prefix_for_parsing"));
        if (m.get("national_prefix_transform_rule") != null) out.setNationalPrefixTransformRule(str(m, "national_prefix_transform_rule"));
        if (m.get("leading_digits") != null) out.setLeadingDigits(str(m, "leading_digits"));
        out.setSameMobileAndFixedLinePattern(flag(m, "same_mobile_and_fixed_line_pattern"));
        out.setMainCountryForCode(flag(m, "main_country_for_code"));
        out.setLeadingZeroPossible(flag(m, "leading_zero_possible"));
        out.setMobileNumberPortableRegion(flag(m, "mobile_number_portable_region"));
        out.setGeneralDesc(desc(m.get("general_desc")));
        out.setFixedLine(desc(m.get("fixed_line")));
        out.setMobile(desc(m.get("mobile")));
        out.setTollFree(desc(m.get("toll_free")));
        out.setPremiumRate(desc(m.get("premium_rate")));
        out.setSharedCost(desc(m.get("shared_cost")));
        out.setPersonalNumber(desc(m.get("personal_number")));
        out.setVoip(desc(m.get("voip")));
        out.setPager(desc(m.get("pager")));
        out.setUan(desc(m.get("uan")));
        out.setEmergency(desc(m.get("emergency")));
        out.setVoicemail(desc(m.get("voicemail")));
        out.setShortCode(desc(m.get("short_code")));
        out.setStandardRate(desc(m.get("standard_rate")));
        out.setCarrierSpecific(desc(m.get("carrier_specific")));
        out.setSmsServices(desc(m.get("sms_services")));
        out.setNoInternationalDialling(desc(m.get("no_international_dialling")));
        for (Object f : (List<Object>) m.get("number_format")) out.addNumberFormat(format(f));
        for (Object f : (List<Object>) m.get("intl_number_format")) out.addIntlNumberFormat(format(f));
        return out;
    }
}
