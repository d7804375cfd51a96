"""Print template.yaml as CloudFormation after the SAM transform, as JSON (tools venv only).

    build/tools-venv/bin/python tests/deploy/translate_template.py template.yaml

Uses samtranslator, the library `sam validate` and CloudFormation's own transform run, with
placeholder S3 locations for the code (as `sam validate` does) and no AWS calls.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}  # the template attaches no managed policy by name


def main(path: str) -> int:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # for pseudo parameters only
    with open(path) as handle:
        template: dict[str, Any] = yaml_parse(handle.read())
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in properties:
                properties[key] = "s3://bucket/key"
    json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
