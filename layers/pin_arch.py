"""Pin a built template to the architecture its layers were built for.

    build/tools-venv/bin/python layers/pin_arch.py .aws-sam/build/template.yaml arm64

The layers hold native wheels for one CPU, but `sam deploy` would still accept either value
of the Architecture parameter: an arm64 function on x86_64 wheels fails every cold start.
After this, the built template's Architecture defaults to the built one and allows no
other, so a mismatched `--parameter-overrides Architecture=...` fails before deploying.
Runs in the tools venv, whose samcli parses and writes CloudFormation YAML.
"""

from __future__ import annotations

import sys
from pathlib import Path

from samcli.yamlhelper import yaml_dump, yaml_parse


def pin(template: Path, arch: str) -> None:
    doc = yaml_parse(template.read_text())
    parameter = doc["Parameters"]["Architecture"]
    if arch not in parameter["AllowedValues"]:
        raise SystemExit(f"{arch!r} is not one of {parameter['AllowedValues']}")
    parameter["Default"] = arch
    parameter["AllowedValues"] = [arch]
    parameter["Description"] = f"Built for {arch}: rebuild with Architecture=... for another."
    template.write_text(yaml_dump(doc))


if __name__ == "__main__":
    pin(Path(sys.argv[1]), sys.argv[2])
