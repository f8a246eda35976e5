"""Every PHONEBANK_* setting the code reads is documented in .env.example."""

import re

from tests.conftest import REPO_ROOT


def test_every_setting_is_documented():
    code = "\n".join(p.read_text() for p in (REPO_ROOT / "phonebank").rglob("*.py"))
    read = set(re.findall(r'env(?:_bool|_int)?\("([A-Z_]+)"', code))
    documented = set(
        re.findall(r"^PHONEBANK_([A-Z_]+)=", (REPO_ROOT / ".env.example").read_text(), re.M)
    )
    assert read, "no settings found: the pattern is out of date"
    assert read - documented == set()
