"""Offline checks of the rendered manifests, without a cluster.

Each overlay is rendered with kustomize. Then every resource is checked:

- core kinds against the Kubernetes OpenAPI schemas of :data:`KUBERNETES_VERSION`, in strict
  mode (an unknown field is an error), with ``kubernetes-validate``;
- custom resources against the CRDs kept in ``deploy/k8s/schemas/`` (Strimzi, Prometheus
  Operator, KEDA), made strict the same way: every object schema that lists its properties
  and does not keep unknown fields gets ``additionalProperties: false``, so a misspelt field
  fails instead of being dropped by the API server;
- a kind with no schema at all is an error, not a pass;
- every workload against the rules the deployment promises: probes, requests and limits,
  not root, read-only root filesystem, no capabilities, the default seccomp profile, settings
  only from ConfigMaps and secrets only from Secrets (no value written inline), a termination
  grace longer than the commit interval.

Every problem names the resource (``Kind/name``) and the field.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from liaison.errors import ConfigurationError

__all__ = [
    "KUBERNETES_VERSION",
    "KUSTOMIZE_VERSION",
    "CrdSchemas",
    "Validator",
    "find_kustomize",
    "render",
    "resource_name",
    "workload_problems",
]

# The Kubernetes release the manifests are checked against.
KUBERNETES_VERSION = "1.34.0"
# The kustomize that renders the overlays (scripts/ensure-kustomize installs it).
KUSTOMIZE_VERSION = "v5.7.1"

# The longest a process may need between SIGTERM and its last commit: a sink waiting out its
# longest retry (30 s) before it stores its offsets.
LONGEST_COMMIT_S = 30

_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
_SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "ENDPOINTS", "KEY")

Resource = dict[str, Any]


def resource_name(resource: Mapping[str, Any]) -> str:
    """``Kind/name`` of a resource, as problems name it."""
    name = (resource.get("metadata") or {}).get("name", "<unnamed>")
    return f"{resource.get('kind', '<no kind>')}/{name}"


def find_kustomize(cache_dir: Path) -> Path:
    """The kustomize binary: ``$KUSTOMIZE``, the one scripts/ensure-kustomize installed under
    ``cache_dir``, or one on the PATH."""
    candidates = [
        os.environ.get("KUSTOMIZE"),
        str(cache_dir / f"kustomize-{KUSTOMIZE_VERSION}" / "kustomize"),
        shutil.which("kustomize"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    raise ConfigurationError(
        f"no kustomize found: run scripts/ensure-kustomize (installs {KUSTOMIZE_VERSION} with "
        "`go install`) or set KUSTOMIZE to a kustomize binary"
    )


def render(overlay: Path, kustomize: Path) -> list[Resource]:
    """The resources ``kustomize build overlay`` gives."""
    done = subprocess.run(  # noqa: S603 - a binary and a directory of ours, no shell
        [str(kustomize), "build", str(overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise ConfigurationError(f"kustomize build {overlay} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def _strict(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` wherever an object lists its properties
    and neither keeps unknown fields nor says what extra properties may be."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    if strict.get("x-kubernetes-int-or-string") and "type" not in strict:
        strict.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return strict


class CrdSchemas:
    """The custom resources' schemas, by ``(apiVersion, kind)``, made strict."""

    def __init__(self, directory: Path) -> None:
        self.schemas: dict[tuple[str, str], dict[str, Any]] = {}
        for path in sorted(directory.rglob("*.yaml")):
            crd = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if not version.get("served", True):
                    continue
                schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                self.schemas[(f"{group}/{version['name']}", kind)] = schema
        if not self.schemas:
            raise ConfigurationError(f"no CustomResourceDefinitions under {directory}")

    def get(self, api_version: str, kind: str) -> dict[str, Any] | None:
        return self.schemas.get((api_version, kind))


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass
class Validator:
    """Checks resources against the Kubernetes and CRD schemas."""

    crds: CrdSchemas
    kubernetes_version: str = KUBERNETES_VERSION

    def problems(self, resource: Resource) -> list[str]:
        """What is wrong with ``resource``; empty when it is valid."""
        name = resource_name(resource)
        api_version, kind = resource.get("apiVersion"), resource.get("kind")
        if not api_version or not kind:
            return [f"{name}: no apiVersion or kind"]
        if not (resource.get("metadata") or {}).get("name"):
            return [f"{name}: metadata.name is missing"]
        schema = self.crds.get(api_version, kind)
        if schema is not None:
            validator = jsonschema.Draft7Validator(schema)
            return [
                f"{name}: {_path(error.absolute_path)}: {error.message}"
                for error in sorted(validator.iter_errors(resource), key=lambda e: e.path)
            ]
        try:
            kubernetes_validate.validate(resource, self.kubernetes_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [f"{name}: unknown kind {api_version} {kind}: no schema to check it against"]
        except kubernetes_validate.ValidationError as exc:  # the first error found
            return [f"{name}: {_path(exc.absolute_path)}: {exc.message}"]
        return []


def _pod_spec(resource: Resource) -> Mapping[str, Any] | None:
    spec = resource.get("spec") or {}
    if resource.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) if "template" in spec else None


def _containers(pod: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], bool]]:
    for key, main in (("initContainers", False), ("containers", True)):
        for container in pod.get(key) or []:
            yield container.get("name", "<unnamed>"), container, main


def workload_problems(resource: Resource) -> list[str]:
    """How a workload breaks the deployment's rules (none for other kinds)."""
    if resource.get("kind") not in _WORKLOAD_KINDS:
        return []
    name = resource_name(resource)
    pod = _pod_spec(resource)
    if pod is None:
        return [f"{name}: no pod template"]
    found: list[str] = []
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if grace <= LONGEST_COMMIT_S:
        found.append(
            f"{name}: spec.template.spec.terminationGracePeriodSeconds is {grace}, not longer "
            f"than the longest commit wait ({LONGEST_COMMIT_S} s)"
        )
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        found.append(f"{name}: spec.template.spec shares the host's namespaces")
    for container_name, container, main in _containers(pod):
        where = f"{name}: container {container_name}"
        found.extend(f"{where}: {problem}" for problem in _container_problems(pod, container, main))
    return found


def _container_problems(
    pod: Mapping[str, Any], container: Mapping[str, Any], main: bool
) -> Iterator[str]:
    pod_security = pod.get("securityContext") or {}
    security = container.get("securityContext") or {}
    if main:
        for probe in ("readinessProbe", "livenessProbe"):
            if not container.get(probe):
                yield f"{probe} is missing"
    resources = container.get("resources") or {}
    for bound in ("requests", "limits"):
        for quantity in ("cpu", "memory"):
            if not (resources.get(bound) or {}).get(quantity):
                yield f"resources.{bound}.{quantity} is missing"
    yield from _security_problems(pod_security, security)
    for variable in container.get("env") or []:
        variable_name = str(variable.get("name", ""))
        if "value" in variable:
            source = "a Secret" if any(w in variable_name for w in _SECRET_WORDS) else "a ConfigMap"
            yield f"env {variable_name} is written inline; take it from {source}"


def _security_problems(
    pod_security: Mapping[str, Any], security: Mapping[str, Any]
) -> Iterator[str]:
    non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
    user = security.get("runAsUser", pod_security.get("runAsUser"))
    if non_root is not True or user == 0:
        yield "securityContext.runAsNonRoot is not true (it may run as root)"
    if security.get("readOnlyRootFilesystem") is not True:
        yield "securityContext.readOnlyRootFilesystem is not true (a writable root filesystem)"
    if security.get("allowPrivilegeEscalation") is not False:
        yield "securityContext.allowPrivilegeEscalation is not false"
    if security.get("privileged"):
        yield "securityContext.privileged is true"
    if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
        yield "securityContext.capabilities.drop does not drop ALL"
    seccomp = security.get("seccompProfile") or pod_security.get("seccompProfile") or {}
    if seccomp.get("type") != "RuntimeDefault":
        yield "securityContext.seccompProfile.type is not RuntimeDefault"
