"""Every text the admin pages show through `_()` has its Spanish translation."""

import re
from pathlib import Path

from webapp.admin.i18n import catalogue

ROOT = Path(__file__).resolve().parents[3]
# _("...") or _('...') with a literal first argument, in templates and Python.
_LITERAL = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')""")
NAV_LABEL = re.compile(r'NavItem\([^,]+,\s*"([^"]+)"')


def _texts() -> dict[str, str]:
    found: dict[str, str] = {}
    sources = list((ROOT / "webapp" / "templates").rglob("*.html"))
    sources += [p for p in (ROOT / "webapp").rglob("*.py")]
    for path in sources:
        source = path.read_text(encoding="utf-8")
        for double, single in _LITERAL.findall(source):
            found[(double or single).replace('\\"', '"').replace("\\'", "'")] = str(path)
        for label in NAV_LABEL.findall(source):
            found[label] = str(path)
    return found


def test_every_text_has_a_spanish_translation() -> None:
    spanish = catalogue("es")
    missing = {text: where for text, where in _texts().items() if text not in spanish}
    assert not missing, f"add these to webapp/translations/es/*.json: {missing}"


def test_translations_keep_their_placeholders() -> None:
    placeholder = re.compile(r"\{(\w+)\}")
    for english, spanish in catalogue("es").items():
        assert set(placeholder.findall(english)) == set(placeholder.findall(spanish)), english
