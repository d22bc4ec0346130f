"""deploy/: the Dockerfile under hadolint, the Kubernetes manifests against the Kubernetes schemas
(kubernetes-validate, offline), every YAML file under yamllint, and the facts the README promises
about them (non-root, probes, replicas, settings that frwatch accepts, the image's file layout).

No Docker engine is needed: the image's layout is rebuilt in a temporary folder from the
Dockerfile's own COPY lines and frwatch is run from there the way the image runs it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from frwatch.settings import Settings
from frwatch.sources_config import load_sources
from frwatch.timeutil import parse_duration

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
K8S = DEPLOY / "kubernetes"
COMPOSE = DEPLOY / "docker-compose.yml"


def tool(name: str) -> str:
    """A linter installed with the test extras (next to this interpreter, or on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        message = f"{name} is not installed (pip install -e '.[test]')"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def kubernetes_validate() -> Any:
    """The kubernetes-validate package (test extras): its schemas ship with it, no network."""
    try:
        import kubernetes_validate as module
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("kubernetes-validate is not installed (pip install -e '.[test]')")
        pytest.skip("kubernetes-validate is not installed")
    return module


def manifests() -> dict[str, list[dict[str, Any]]]:
    """Every Kubernetes document under deploy/kubernetes, by file name (kustomization excluded)."""
    return {path.name: [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
            for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"}


def resource(kind: str, name: str) -> dict[str, Any]:
    for docs in manifests().values():
        for doc in docs:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise AssertionError(f"no {kind}/{name} in deploy/kubernetes")


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


# --- Dockerfile --------------------------------------------------------------------------------

def test_dockerfile_is_hadolint_clean() -> None:
    proc = subprocess.run([tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_dockerfile_final_stage_is_slim_non_root_with_healthcheck_and_run() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2, "multi-stage: dependencies are built apart from the final image"
    args = dict(rest.split("=", 1) for keyword, rest in dockerfile_instructions()
                if keyword == "ARG" and "=" in rest)
    base = args.get("PYTHON_IMAGE", "")
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base), base
    assert {rest.split()[0] for keyword, rest in build + final if keyword == "FROM"} == {"${PYTHON_IMAGE}"}
    final_dict = {keyword: rest for keyword, rest in final}
    user = final_dict["USER"].split(":")[0]
    assert user.isdigit() and int(user) > 0, "a numeric non-root USER (runAsNonRoot can check it)"
    assert "/healthz" in final_dict["HEALTHCHECK"]
    assert final_dict["ENTRYPOINT"] == '["frwatch"]' and final_dict["CMD"] == '["run"]'
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert "FRWATCH_HOST=0.0.0.0" in env
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    for forbidden in ("apt-get install", "gcc", "build-essential", "pip install"):
        assert forbidden not in runs, f"the final image installs nothing with {forbidden!r}"
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies and all(rest.startswith("--from=build") for rest in copies), "only the build stage's output"


def image_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of the build stage's COPY lines, destinations relative to WORKDIR."""
    result = []
    for keyword, rest in stages()[0]:
        if keyword == "COPY" and not rest.startswith("--"):
            *sources, dest = shlex.split(rest)
            result.append((sources, dest))
    return result


def test_dockerignore_keeps_out_what_the_image_must_not_contain() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for pattern in (".git", "tests", "*.db", ".venv", "**/__pycache__", ".env"):
        assert pattern in ignored, pattern
    for sources, _ in image_copies():  # nothing the Dockerfile copies is ignored
        for source in sources:
            assert source.rstrip("/") not in ignored, source


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/app as the Dockerfile builds it: its COPY lines applied to a temporary folder."""
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "*.db", "*.db-*")
    for sources, dest in image_copies():
        for source in sources:
            origin = REPO / source
            base = app / dest  # COPY semantics: a folder's contents go into dest; a file into dest/
            if origin.is_dir():
                shutil.copytree(origin, base, ignore=skip, dirs_exist_ok=True)
            else:
                target = base / origin.name if dest.endswith("/") else base
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
    return app


def run_like_image(app: Path, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """frwatch from ``app`` as the image runs it: /app/services on sys.path (what the editable
    install's .pth adds), working directory /app, no FRWATCH_* from the caller."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FRWATCH_")}
    clean.update(PYTHONPATH=str(app / "services"), FRWATCH_LOG_FORMAT="text", **env)
    return subprocess.run([sys.executable, *args], cwd=app, env=clean, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_image_layout_keeps_repo_root_so_migrations_and_config_are_found(image_tree: Path, tmp_path: Path) -> None:
    probe = run_like_image(image_tree, "-c", "import frwatch, frwatch.migrate as m; "
                                             "print(frwatch.__file__); print(m.REPO_ROOT); print(m.head_revision())")
    assert probe.returncode == 0, probe.stderr
    module, root, head = probe.stdout.split()
    assert Path(module).is_relative_to(image_tree), "frwatch must load from the image's /app"
    assert Path(root) == image_tree and head not in ("", "None")
    for needed in ("alembic.ini", "migrations/env.py", "config/sources.yaml", "config/rules"):
        assert (image_tree / needed).exists(), needed
    migrated = run_like_image(image_tree, "-m", "frwatch", "migrate",
                              FRWATCH_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'image.db'}")
    assert migrated.returncode == 0 and "database at head" in migrated.stdout, migrated.stderr
    # the default sources file (FRWATCH_SOURCES=config/sources.yaml) resolves against WORKDIR /app
    assert load_sources(image_tree / Settings.from_env({}).sources)


def test_image_layout_finds_the_shipped_classifier_rules(image_tree: Path) -> None:
    line = ('{"id": "1", "title": "ICO fines Clearview AI £7.5 million over facial recognition", '
            '"summary": "The Information Commissioner\'s Office fined Clearview AI Inc £7,552,800."}\n')
    result = run_like_image(image_tree, "-m", "frwatch", "classify", stdin=line)
    assert result.returncode == 0, result.stderr
    assert '"is_enforcement": true' in result.stdout


def test_constraints_pin_every_runtime_dependency() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {re.split(r"[\[<>=!~; ]", spec, maxsplit=1)[0].lower().replace("_", "-")
              for spec in project["dependencies"]}
    pinned = {line.split("==")[0] for line in (DEPLOY / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert wanted <= pinned, f"regenerate deploy/constraints.txt (python deploy/generate.py): {wanted - pinned}"


# --- Kubernetes --------------------------------------------------------------------------------

def k8s_versions() -> list[str]:
    return ["1.30.0", kubernetes_validate().latest_version()]


@pytest.mark.parametrize("name", sorted(manifests()))
def test_kubernetes_manifest_is_valid_against_the_schemas(name: str) -> None:
    for version in k8s_versions():
        for doc in manifests()[name]:
            kubernetes_validate().validate(doc, version, strict=True)


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(set(manifests()) - {"secret.example.yaml"})


def test_kustomize_build_output_is_valid_when_kubectl_is_installed() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed (optional)")
    out = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True)
    docs = [doc for doc in yaml.safe_load_all(out.stdout) if doc]
    assert {doc["kind"] for doc in docs} == {"ConfigMap", "Deployment", "Service", "Job", "PodDisruptionBudget"}
    for doc in docs:
        kubernetes_validate().validate(doc, k8s_versions()[-1], strict=True)


def test_deployment_replicas_probes_resources_and_security() -> None:
    deployment = resource("Deployment", "frwatch")
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (container,) = pod["containers"]
    assert container["args"] == ["run"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert any(mount["mountPath"] == "/tmp" for mount in container["volumeMounts"])
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}
    env = resource("ConfigMap", "frwatch-env")["data"]
    assert port_names["http"] == int(env["FRWATCH_PORT"])


def test_deployment_grace_period_covers_prestop_and_frwatch_drain() -> None:
    pod = resource("Deployment", "frwatch")["spec"]["template"]["spec"]
    env = resource("ConfigMap", "frwatch-env")["data"]
    pre_stop = pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = parse_duration(env["FRWATCH_GRACE_PERIOD"]).total_seconds()
    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + drain + 10


def test_pod_settings_are_accepted_by_frwatch() -> None:
    """The env a pod gets (ConfigMap + example Secret) parses into Settings, as at start-up."""
    env = {**resource("ConfigMap", "frwatch-env")["data"], **resource("Secret", "frwatch")["stringData"]}
    settings = Settings.from_env(env)
    assert settings.host == "0.0.0.0" and not settings.is_sqlite
    pod = resource("Deployment", "frwatch")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    sources_volume = next(name for name, v in volumes.items() if v.get("configMap", {}).get("name") == "frwatch-sources")
    assert settings.sources == Path(mounts[sources_volume]) / "sources.yaml"
    sources_key = next(iter(resource("ConfigMap", "frwatch-sources")["data"]))
    assert sources_key == settings.sources.name


def test_migration_job_service_and_pdb_fit_the_deployment() -> None:
    deployment = resource("Deployment", "frwatch")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    job = resource("Job", "frwatch-migrate")["spec"]["template"]["spec"]
    assert job["containers"][0]["args"] == ["migrate"] and job["restartPolicy"] == "Never"
    assert job["containers"][0]["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert job["containers"][0]["envFrom"] == deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    service = resource("Service", "frwatch")["spec"]
    assert service["selector"].items() <= labels.items() and service["ports"][0]["targetPort"] == "http"
    pdb = resource("PodDisruptionBudget", "frwatch")["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    assert pdb.get("maxUnavailable") == 1 or pdb.get("minAvailable", 0) >= 1


def test_sources_configmap_is_config_sources_yaml_verbatim(tmp_path: Path) -> None:
    embedded = resource("ConfigMap", "frwatch-sources")["data"]["sources.yaml"]
    assert embedded == (REPO / "config" / "sources.yaml").read_text(), \
        "deploy/kubernetes/sources-configmap.yaml is stale: run `python deploy/generate.py`"
    (tmp_path / "sources.yaml").write_text(embedded)
    assert load_sources(tmp_path / "sources.yaml")


# --- compose and YAML style ----------------------------------------------------------------------

def expand(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set in the environment."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value for key, value in pairs}


def test_compose_postgres_migrate_and_scalable_frwatch() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    postgres, migrate, app = services["postgres"], services["migrate"], services["frwatch"]
    assert postgres["healthcheck"]["test"] and any(v.split(":")[0] in compose["volumes"] for v in postgres["volumes"])
    assert "container_name" not in app, "a fixed container name cannot be scaled"
    assert all(":" not in p or "-" in p.rsplit(":", 1)[0] for p in app.get("ports", [])), \
        "a fixed host port cannot be scaled: publish a range or let Docker pick"
    assert app["command"] == ["run"] and migrate["command"] == ["migrate"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    grace = parse_duration(read_env_file(REPO / "config" / "example.env")["FRWATCH_GRACE_PERIOD"])
    assert parse_duration(app["stop_grace_period"]) > grace
    for service in (migrate, app):
        build = service["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        env: dict[str, str] = {}
        for env_file in service["env_file"]:
            assert env_file.endswith("config/example.env")
            env.update(read_env_file((COMPOSE.parent / env_file).resolve()))
        env.update({key: expand(str(value)) for key, value in service["environment"].items()})
        settings = Settings.from_env(env)
        assert settings.host == "0.0.0.0" and settings.database_url.startswith("postgresql+asyncpg://")
        assert "@postgres:5432/" in settings.database_url


def test_deploy_yaml_is_yamllint_clean() -> None:
    proc = subprocess.run([tool("yamllint"), "--strict", "-f", "parsable", "-c", str(DEPLOY / "yamllint.yaml"),
                           "deploy"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
