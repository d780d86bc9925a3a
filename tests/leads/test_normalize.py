import random

import phonenumbers

from leads.normalize import _nanp_fast, normalize_phone


def full_parse(value: str) -> str:
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalized_or_empty(value: str) -> str:
    try:
        return normalize_phone(value, "US")
    except ValueError:
        return ""


def test_the_north_american_fast_path_agrees_with_full_parsing():
    rng = random.Random(11)
    spellings = [
        "+1{a}{b}{c}",
        "({a}) {b}-{c}",
        "{a}.{b}.{c}",
        "1{a}{b}{c}",
        "{a}-{b}-{c}",
        "+1 {a} {b} {c}",
        "{a}{b}{c}",
        "1 ({a}) {b}-{c}",
    ]
    taken = 0
    for _ in range(20_000):
        parts = {
            "a": rng.randint(100, 999),
            "b": f"{rng.randint(0, 999):03d}",
            "c": f"{rng.randint(0, 9999):04d}",
        }
        value = rng.choice(spellings).format(**parts)
        fast = _nanp_fast(value, "US")
        if fast:
            taken += 1
            assert fast == full_parse(value), value
        assert normalized_or_empty(value) == full_parse(value), value
    assert taken > 5_000  # the fast path is really used


def test_other_countries_take_the_full_path():
    assert _nanp_fast("+44 7911 123456", "US") == ""
    assert normalize_phone("+44 7911 123456") == "+447911123456"
    assert _nanp_fast("2125550142", "GB") == ""  # a bare national number outside NANP
