"""Helpers for the deployment tests.

The built stacks come from `make deploy-prereqs` (layers/layers.mk): one `sam build` per
architecture under build/sam/<arch>/build, plus the tool venvs. The Runtime Interface
Emulator is the binary inside the aws-sam-cli wheel; the runtime client is `awslambdaric`
in build/lambda-runtime, which stands in for Lambda's python3.13 image.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.dynamodb_local import free_port

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
TOOLS_VENV = REPO / "build" / "tools-venv"
CHECKOV_VENV = REPO / "build" / "checkov-venv"
LAMBDA_RUNTIME = REPO / "build" / "lambda-runtime"
ARCHES = ("arm64", "x86_64")
MB = 1_000_000  # the budgets are in decimal megabytes, the stricter reading of "MB"
DEV_KEY = "sk-local-dev"  # the key the events/ fixtures send


@dataclass(frozen=True)
class FunctionStore:
    env: dict[str, str]  # what the deployed function's environment would say, but local
    client: Any  # a botocore DynamoDB client on DynamoDB Local
    keys_table: str
    usage_table: str


def built_dir(arch: str) -> Path:
    return REPO / "build" / "sam" / arch / "build"


def host_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[machine]


def rie_binary(arch: str) -> Path:
    site = next((TOOLS_VENV / "lib").glob("python3.*/site-packages"))
    return site / "samcli" / "local" / "rapid" / f"aws-lambda-rie-{arch}"


def tree_bytes(path: Path) -> int:
    """Unzipped size as Lambda counts it: the sum of the files' sizes."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def load_template(path: Path) -> dict[str, Any]:
    """A CloudFormation YAML template (short-form tags and all) as plain data, parsed by
    samcli's own loader in the tools venv."""
    code = (
        "import json, sys; from samcli.yamlhelper import yaml_parse; "
        "print(json.dumps(yaml_parse(open(sys.argv[1]).read())))"
    )
    out = subprocess.run(
        [str(TOOLS_VENV / "bin" / "python"), "-c", code, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    parsed: dict[str, Any] = json.loads(out.stdout)
    return parsed


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    """A tool (sam, cfn-lint, checkov) in the repo, without telemetry; the caller checks."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    return subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, env=env, timeout=300, check=False
    )


def cfn_yaml(path: Path) -> dict[str, Any]:
    """template.yaml as plain data, short-form tags as their long form (as samcli's loader
    gives them), without the tools venv: the IAM contracts need no build."""

    class Loader(yaml.SafeLoader):
        pass

    def construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if suffix == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    Loader.add_multi_constructor("!", construct)
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=Loader)  # noqa: S506
    return loaded


NO_VALUE = {"Ref": "AWS::NoValue"}


def policy_statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements in every deployment: both branches of a conditional one."""
    found: list[dict[str, Any]] = []
    for statement in policy["PolicyDocument"]["Statement"]:
        branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
        found.extend(b for b in branches if b != NO_VALUE)
    return found


def deployed(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The resources CloudFormation would create for these parameter values (the others at
    their defaults): those whose Condition is false dropped, each Fn::If resolved, and every
    AWS::NoValue left out. Only the condition functions the template uses are evaluated."""
    values = {name: str(spec.get("Default", "")) for name, spec in template["Parameters"].items()}
    values.update(parameters)

    def value(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return str(node) if isinstance(node, int) else node

    def holds(name: str) -> bool:
        return evaluate(template["Conditions"][name])

    def evaluate(node: dict[str, Any]) -> bool:
        [(function, arguments)] = node.items()
        if function in ("Condition", "Fn::Condition"):  # samcli's loader; cfn_yaml's
            return holds(arguments)
        if function == "Fn::Equals":
            return bool(value(arguments[0]) == value(arguments[1]))
        if function == "Fn::Not":
            return not evaluate(arguments[0])
        if function == "Fn::And":
            return all(evaluate(a) for a in arguments)
        if function == "Fn::Or":
            return any(evaluate(a) for a in arguments)
        raise AssertionError(f"deployed() cannot evaluate {function}")

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"}:
                condition, if_true, if_false = node["Fn::If"]
                return resolve(if_true if holds(condition) else if_false)
            pairs = ((k, resolve(v)) for k, v in node.items())
            return {k: v for k, v in pairs if v != NO_VALUE}
        if isinstance(node, list):
            return [v for v in map(resolve, node) if v != NO_VALUE]
        return node

    resolved: dict[str, Any] = {
        name: resolve(resource)
        for name, resource in template["Resources"].items()
        if "Condition" not in resource or holds(resource["Condition"])
    }
    return resolved


def lay_out_opt(root: Path, arch: str) -> Path:
    """An /opt as Lambda would extract the two layers into it, in a temp dir: /opt itself
    is not ours to write, and MODEL_DIR/PYTHONPATH point here instead."""
    opt = root / "opt"
    opt.mkdir()
    (opt / "python").symlink_to(built_dir(arch) / "DependencyLayer" / "python")
    (opt / "model").symlink_to(built_dir(arch) / "ModelLayer" / "model")
    return opt


@dataclass
class RuntimeEmulator:
    """aws-lambda-rie running `python -m awslambdaric <handler>` over a built function."""

    task_root: Path
    opt: Path
    env: dict[str, str]
    handler: str = "handler.app.handler"
    arch: str = field(default_factory=host_arch)
    log_path: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> RuntimeEmulator:
        self.port = free_port()
        api_port = free_port()
        assert self.log_path is not None
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LAMBDA_TASK_ROOT": str(self.task_root),
            # Lambda's order: the function's code, then the layers' python/ folder.
            "PYTHONPATH": f"{self.task_root}:{self.opt / 'python'}",
            "MODEL_DIR": str(self.opt / "model"),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
            **self.env,
        }
        command = [
            str(rie_binary(self.arch)),
            "--runtime-interface-emulator-address",
            f"127.0.0.1:{self.port}",
            "--runtime-api-address",
            f"127.0.0.1:{api_port}",
            str(LAMBDA_RUNTIME / "bin" / "python"),
            "-m",
            "awslambdaric",
            self.handler,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.task_root,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its runtime child goes down with it
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the emulator did not listen within {timeout}s: {self.log()}")

    def invoke(self, event: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
            data=json.dumps(event).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def init_durations_ms(self) -> tuple[float | None, float | None]:
        """(rapid's `INIT REPORT(durationMs: ...)`, the REPORT line's `Init Duration`).

        The emulator starts the runtime on the first invocation; its own INIT REPORT covers
        process start, imports and the model load (what Lambda reports as Init Duration)."""
        text = self.log()
        rapid = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", text)
        report = re.search(r"REPORT RequestId: \S+\s+Init Duration: ([0-9.]+) ms", text)
        return (
            float(rapid.group(1)) if rapid else None,
            float(report.group(1)) if report else None,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def response_body(response: dict[str, Any]) -> Any:
    """The decoded body of a Lambda proxy response: JSON when it parses, else text."""
    raw = response.get("body") or ""
    data = base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    if headers.get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    try:
        return json.loads(data)
    except ValueError:
        return data.decode(errors="replace")


def invoke_without_layers(
    function: str, handler: str, env: dict[str, str], events: list[dict[str, Any]], tmp: Path
) -> tuple[list[dict[str, Any]], str]:
    """Each event invoked, in order, on a sam-built function the template gives no layers
    (the replay function, the aggregator: the runtime's own botocore) under the emulator;
    (the answers, the emulator's log)."""
    opt = tmp / "opt"
    opt.mkdir(exist_ok=True)
    emulator = RuntimeEmulator(
        task_root=built_dir(host_arch()) / function,
        opt=opt,
        env=env,
        handler=handler,
        log_path=tmp / "rie.log",
    ).start()
    try:
        answers = [emulator.invoke(event) for event in events]
    finally:
        emulator.stop()
    return answers, emulator.log()
