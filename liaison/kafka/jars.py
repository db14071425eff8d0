"""Resolve the Apache Kafka broker jars from Maven Central into a local cache.

The versions are pinned here and nowhere else. The first call runs
``mvn dependency:copy-dependencies`` on the pom shipped in this package; later
calls find the completed cache and return at once.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from liaison.errors import ToolchainError

__all__ = ["KAFKA_VERSION", "LOG4J_VERSION", "MIN_JAVA", "ensure_jars", "java_command"]

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.26.1"
MIN_JAVA = 17

_COMPLETE_MARKER = ".complete"


def _library_dir(cache_dir: Path) -> Path:
    return cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"


def java_command() -> str:
    """Path of a ``java`` of at least version 17, or a clear error."""
    java = shutil.which("java")
    if java is None:
        raise ToolchainError(
            f"java not found on PATH: Liaison's embedded Kafka needs Java {MIN_JAVA}+"
        )
    result = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False, timeout=60
    )
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if match is None:
        raise ToolchainError(f"could not read the version of {java}: {result.stderr.strip()[:200]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise ToolchainError(f"{java} is Java {major}; the embedded Kafka needs Java {MIN_JAVA}+")
    return java


def ensure_jars(cache_dir: Path) -> Path:
    """Return the directory holding the broker's runtime classpath, fetching it if needed."""
    libs = _library_dir(cache_dir)
    if (libs / _COMPLETE_MARKER).is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ToolchainError("mvn not found on PATH: it fetches the Kafka jars (install Maven)")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Resolve into a scratch directory and rename, so an interrupted fetch never
    # leaves a half-filled classpath that looks complete.
    scratch = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    pom = resources.files("liaison.kafka").joinpath("broker-pom.xml")
    with resources.as_file(pom) as pom_path:
        result = subprocess.run(
            [
                mvn,
                "--batch-mode",
                "--quiet",
                "--file",
                str(pom_path),
                f"-Dkafka.version={KAFKA_VERSION}",
                f"-Dlog4j.version={LOG4J_VERSION}",
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={scratch}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
    if result.returncode != 0 or not any(scratch.glob("kafka_2.13-*.jar")):
        shutil.rmtree(scratch, ignore_errors=True)
        output = (result.stdout + result.stderr).strip().splitlines()[-30:]
        raise ToolchainError(
            f"mvn could not resolve Kafka {KAFKA_VERSION} (exit {result.returncode}):\n"
            + "\n".join(output)
        )
    (scratch / _COMPLETE_MARKER).write_text(f"kafka {KAFKA_VERSION}, log4j {LOG4J_VERSION}\n")
    if libs.exists():
        shutil.rmtree(libs)
    scratch.rename(libs)
    return libs
