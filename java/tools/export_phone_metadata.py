"""Export the phone metadata of the Python pin (phonenumbers, requirements.txt) as JSON for the Java kit.

The Python side is the reference of what a valid phone is (plugins/leads_flow/rules/phone.py). The kit builds
with Debian's libphonenumber jar, whose metadata is older; leadsflow.PhoneMetadataOverlay loads this export into
that library so both sides judge numbers by the same metadata. A Java service in production uses a
libphonenumber release with the same metadata instead (docs/interfaces.md, "Java conformance kit").

    python java/tools/export_phone_metadata.py OUT.json
"""

from __future__ import annotations

import json
import sys
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata

DESCS = (
    "general_desc",
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "emergency",
    "voicemail",
    "short_code",
    "standard_rate",
    "carrier_specific",
    "sms_services",
    "no_international_dialling",
)
SCALARS = (
    "id",
    "country_code",
    "international_prefix",
    "preferred_international_prefix",
    "national_prefix",
    "preferred_extn_prefix",
    "national_prefix_for_parsing",
    "national_prefix_transform_rule",
    "same_mobile_and_fixed_line_pattern",
    "main_country_for_code",
    "leading_digits",
    "leading_zero_possible",
    "mobile_number_portable_region",
)
FORMAT_FIELDS = (
    "pattern",
    "format",
    "national_prefix_formatting_rule",
    "national_prefix_optional_when_formatting",
    "domestic_carrier_code_formatting_rule",
)


def _desc(d: Any) -> dict | None:
    if d is None:
        return None
    return {
        "national_number_pattern": d.national_number_pattern,
        "example_number": d.example_number,
        "possible_length": list(d.possible_length or ()),
        "possible_length_local_only": list(d.possible_length_local_only or ()),
    }


def _format(f: Any) -> dict:
    out = {k: getattr(f, k) for k in FORMAT_FIELDS}
    out["leading_digits_pattern"] = list(f.leading_digits_pattern or ())
    return out


def _metadata(m: PhoneMetadata) -> dict:
    out: dict[str, Any] = {k: getattr(m, k) for k in SCALARS}
    out.update({k: _desc(getattr(m, k)) for k in DESCS})
    out["number_format"] = [_format(f) for f in m.number_format]
    out["intl_number_format"] = [_format(f) for f in m.intl_number_format]
    return out


def export() -> dict:
    return {
        "phonenumbers_version": phonenumbers.__version__,
        "regions": {r: _metadata(PhoneMetadata.metadata_for_region(r)) for r in sorted(phonenumbers.SUPPORTED_REGIONS)},
        "non_geo": {
            str(cc): _metadata(PhoneMetadata.metadata_for_nongeo_region(cc))
            for cc in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
        },
        "country_code_to_region_code": {
            str(cc): list(regions) for cc, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items())
        },
    }


if __name__ == "__main__":
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(export(), f, ensure_ascii=True)
