"""SnapStart hooks (handler/snapstart.py) on the built function, in the Lambda runtime client.

GIVEN the built x86_64 function with its layers and awslambdaric's hook runner,
WHEN the before-snapshot and after-restore hooks run as on a SnapStart init,
THEN the model was warmed, every usage part was rebuilt on fresh AWS clients, and the
restored function serves an authenticated request whose usage reaches DynamoDB Local.
Outside a Lambda runtime (the service venv has no snapshot_restore_py) nothing registers.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from handler.snapstart import register
from handler.usage import store
from tests.deploy.deploy_support import (
    EVENTS,
    LAMBDA_RUNTIME,
    REPO,
    FunctionStore,
    built_dir,
    host_arch,
    lay_out_opt,
    response_body,
)


@pytest.mark.integration
def test_snapshot_and_restore_hooks_keep_the_function_serving(
    built: Path, function_store: FunctionStore, tmp_path: Path
) -> None:
    arch = host_arch()
    opt = lay_out_opt(tmp_path, arch)
    task_root = built_dir(arch) / "EmbeddingsFunction"
    event: dict[str, Any] = json.loads((EVENTS / "http-api-v2-embeddings.json").read_text())
    event["requestContext"]["requestId"] = "snapstart-restored-request"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{task_root}:{opt / 'python'}",
        "MODEL_DIR": str(opt / "model"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        **function_store.env,
    }
    done = subprocess.run(
        [str(LAMBDA_RUNTIME / "bin" / "python"), str(REPO / "tests/deploy/snapstart_cycle.py")],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        env=env,
        cwd=task_root,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert "snapstart: model warmed" in done.stderr
    assert "snapstart: restored; AWS clients rebuilt" in done.stderr
    assert result["swapped"] == ["lookup", "gate", "recorder", "reader"]
    response = result["response"]
    assert response["statusCode"] == 200, response_body(response)
    assert response_body(response)["usage"]["prompt_tokens"] > 0
    item = function_store.client.get_item(
        TableName=function_store.usage_table, Key=store.request_key("snapstart-restored-request")
    )
    assert "Item" in item


@pytest.mark.unit
def test_nothing_registers_outside_a_lambda_runtime() -> None:
    # GIVEN the service venv, which has no snapshot_restore_py (uvicorn, tests)
    with pytest.raises(ImportError):
        import snapshot_restore_py  # noqa: F401
    # THEN register touches nothing it was given and says so
    assert register(None, None, None) is False  # type: ignore[arg-type]
