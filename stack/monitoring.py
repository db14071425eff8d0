"""A Prometheus of the local stack's own, on a free loopback port, with Liaison's rules.

The local stack (``liaison demo``) and the tests start the Prometheus installed on the
machine (Debian's ``prometheus`` package) with a scrape configuration naming every Liaison
process, and the rule files under ``deploy/prometheus/rules``. It keeps its data in a
folder of the caller's and is stopped with the stack.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from liaison.errors import LiaisonError
from liaison.kafka.embedded import free_port, read_log_tail

__all__ = ["RULES_DIR", "LocalPrometheus", "prometheus_binary"]

RULES_DIR = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "rules"


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class LocalPrometheus:
    """``targets``: job name -> {instance name: port on 127.0.0.1}."""

    def __init__(
        self,
        directory: Path,
        targets: Mapping[str, Mapping[str, int]],
        *,
        scrape_interval_s: float = 2.0,
        rules_dir: Path = RULES_DIR,
    ) -> None:
        self.directory, self.targets = directory, targets
        self.scrape_interval_s, self.rules_dir = scrape_interval_s, rules_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        interval = f"{self.scrape_interval_s:g}s"
        return {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [str(p) for p in sorted(self.rules_dir.glob("*.yml"))],
            "scrape_configs": [
                {
                    "job_name": job,
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{port}"], "labels": {"process": name}}
                        for name, port in sorted(instances.items())
                    ],
                }
                for job, instances in sorted(self.targets.items())
            ],
        }

    def start(self, timeout_s: float = 60.0) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise LiaisonError("prometheus is not installed (Debian package: prometheus)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "prometheus.yml"
        config.write_text(json.dumps(self.config(), indent=2))  # JSON is YAML
        (self.port,) = free_port()
        log = self.directory / "prometheus.log"
        with log.open("wb") as handle:
            self.process = subprocess.Popen(  # noqa: S603 - the installed binary, our flags
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--storage.tsdb.retention.time=1d",
                ],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LiaisonError("Prometheus did not start:\n" + read_log_tail(log, 20))
            time.sleep(0.3)

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:  # noqa: S310
                return bool(answer.status == 200)
        except OSError:
            return False

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (raises on a query error)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise LiaisonError(f"query failed: {body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
