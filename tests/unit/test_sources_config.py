from pathlib import Path

import pytest

from frwatch.errors import ConfigError
from frwatch.sources_config import load_sources

REPO = Path(__file__).resolve().parents[2]


def test_shipped_sources_file_is_valid() -> None:
    specs = load_sources(REPO / "config" / "sources.yaml")
    ids = {spec.id for spec in specs}
    # the regulators named in the issue, and news
    for expected in ("edpb-news", "ftc-press", "cnil-fr", "cnil-en", "opc-pipeda", "ap-nl", "oaic",
                     "ico-enforcement", "garante", "oipc-bc", "ec-presscorner", "biometricupdate", "therecord"):
        assert expected in ids
    assert {spec.language for spec in specs} >= {"en", "fr", "it", "de", "nl", "es"}
    assert all(spec.url.startswith("https://") for spec in specs)


@pytest.mark.parametrize("entry, expected", [
    ("{id: Bad_Id, name: x, url: 'https://a.example/f', kind: news}", "entry Bad_Id: id:"),
    ("{id: a, name: x, url: 'ftp://a.example/f', kind: news}", "entry a: url:"),
    ("{id: a, name: x, url: 'https://a.example/f', kind: blog}", "entry a: kind:"),
    ("{id: a, name: x, url: 'https://a.example/f', kind: news, poll_interval: often}", "entry a: poll_interval:"),
    ("{id: a, name: x, url: 'https://a.example/f', kind: news, jurisdiction: United Kingdom}", "entry a: jurisdiction:"),
    ("{id: a, name: x, url: 'https://a.example/f', kind: news, colour: red}", "entry a: colour: unknown field"),
    ("{id: a, url: 'https://a.example/f', kind: news}", "entry a: name: missing"),
])
def test_invalid_entry_names_entry_and_field(tmp_path: Path, entry: str, expected: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(f"sources:\n  - {{id: ok, name: ok, url: 'https://ok.example/f', kind: news}}\n  - {entry}\n")
    with pytest.raises(ConfigError, match=expected):
        load_sources(path)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n" + "  - {id: a, name: x, url: 'https://a.example/f', kind: news}\n" * 2)
    with pytest.raises(ConfigError, match="entry a: id: duplicate"):
        load_sources(path)
