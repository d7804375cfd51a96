"""The generated reference pages: current, complete, and caught when stale."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from handler.settings import Settings
from tools.docs import reference

pytestmark = pytest.mark.unit


def test_generated_pages_are_current() -> None:
    stale = [p.name for p in reference.stale_pages()]
    assert stale == [], f"stale: {stale}; run `make docs-reference` and commit the pages"


def test_a_hand_edit_or_a_source_change_makes_a_page_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN both pages written from the current sources into a scratch folder
    config, params = tmp_path / "configuration.md", tmp_path / "template-parameters.md"
    monkeypatch.setattr(reference, "CONFIGURATION_PAGE", config)
    monkeypatch.setattr(reference, "PARAMETERS_PAGE", params)
    assert reference.main([]) == 0
    assert reference.main(["--check"]) == 0
    # WHEN a row is edited by hand, THEN the check fails and names the page
    config.write_text(
        config.read_text().replace("| `BATCH_SIZE` | `32` |", "| `BATCH_SIZE` | `64` |")
    )
    assert reference.stale_pages() == [config]
    assert reference.main(["--check"]) == 1
    # WHEN the template gains a parameter, THEN its page no longer matches
    reference.main([])
    template = tmp_path / "template.yaml"
    template.write_text(
        reference.TEMPLATE.read_text().replace(
            "Parameters:\n",
            "Parameters:\n  NewKnob:\n    Type: Number\n    Default: 3\n    MinValue: 1\n"
            "    Description: A knob added after the page was written.\n",
            1,
        )
    )
    page = reference.parameters_page(template)
    assert "| `NewKnob` | Number | `3` | ≥ 1 | A knob added after the page was written. |" in page
    assert page != params.read_text()


def test_every_setting_has_its_variable_default_and_meaning_on_the_page() -> None:
    page = reference.configuration_page()
    sources = [f.metadata["env"] for f in fields(Settings) if "env" in f.metadata]
    assert len(sources) == page.count("\n| `")
    for source in sources:
        assert source.doc.strip(), f"{source.name} has no doc= in handler/settings.py"
        assert page.count(f"| `{source.name}` |") == 1
    assert "| `MAX_TOKENS_PER_INPUT` | `8192` | 1 to 65,536 |" in page
    assert "| `USAGE_RECORD_TTL_DAYS` | `90` | ≥ 15 |" in page


def test_every_template_parameter_is_on_the_page_with_its_description() -> None:
    parameters = reference.template_parameters()
    page = reference.parameters_page()
    assert len(parameters) == page.count("\n| `")
    for name, spec in parameters.items():
        assert spec.get("Description"), f"template.yaml parameter {name} has no Description"
        assert page.count(f"| `{name}` |") == 1
    assert "| `Architecture` | String | `arm64` | `arm64`, `x86_64` |" in page
