"""docker-compose.yml and the Dockerfile: valid, self-consistent, and mounting only real files."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from sqlalchemy.engine import make_url

from driftmon.config import load_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
LOCK_FILE = REPO / "requirements.lock"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]  # type: ignore[no-any-return]


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))


def bind_sources(service: dict[str, Any]) -> list[str]:
    """Host paths of the service's bind mounts (short `src:dst[:mode]` or long syntax)."""
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                sources.append(volume["source"])
        else:
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/", "~")):
                sources.append(source)
    return sources


def named_volumes(service: dict[str, Any]) -> list[str]:
    names = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "volume":
                names.append(volume["source"])
        elif ":" in volume and not volume.startswith((".", "/", "~")):
            names.append(volume.split(":", 1)[0])
    return names


@pytest.mark.parametrize("name", sorted(services()))
def test_every_mounted_host_path_exists_in_the_repo(name: str) -> None:
    for source in bind_sources(services()[name]):
        assert not source.startswith(("/", "~")), f"{name} mounts a path outside the repo: {source}"
        path = (REPO / source).resolve()
        assert path.is_relative_to(REPO), f"{name} mounts {source}, outside the repo"
        assert path.exists(), f"{name} mounts {source}, which does not exist"
    for env_file in services()[name].get("env_file", []):
        assert (REPO / env_file).is_file(), f"{name} reads missing env_file {env_file}"


def test_every_build_context_and_dockerfile_exists() -> None:
    built = {n: s["build"] for n, s in services().items() if "build" in s}
    assert "driftmon" in built
    for name, build in built.items():
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = (
            build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        )
        assert context.is_dir(), f"{name}: build context {context} missing"
        assert (context / dockerfile).is_file(), f"{name}: {dockerfile} missing"


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    used = {v for s in services().values() for v in named_volumes(s)}
    assert used, "the stack keeps its data in named volumes"
    assert used == declared


def test_stack_has_every_service_with_a_health_check() -> None:
    assert {"driftmon", "postgres", "prometheus", "alertmanager", "grafana"} <= set(services())
    for name, service in services().items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert "pg_isready" in str(services()["postgres"]["healthcheck"]["test"])
    assert services()["postgres"]["image"] == "postgres:16"


def test_depends_on_waits_for_health_where_it_matters() -> None:
    def conditions(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services()[name]["depends_on"].items()}

    assert conditions("driftmon") == {"postgres": "service_healthy"}
    assert conditions("grafana") == {
        "prometheus": "service_healthy",
        "postgres": "service_healthy",  # its results-database panels
    }
    assert conditions("prometheus")["alertmanager"] == "service_healthy"
    for name, service in services().items():
        for dependency, spec in service.get("depends_on", {}).items():
            assert dependency in services(), f"{name} depends on unknown {dependency}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in services()[dependency]


def test_published_ports_bind_loopback_only() -> None:
    for name, service in services().items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


def test_services_are_wired_to_each_other() -> None:
    """The configs name the compose services and ports the stack actually has."""
    driftmon_config = load_yaml("config/docker/driftmon.yaml")
    port = driftmon_config["server"]["port"]
    assert driftmon_config["server"]["host"] == "0.0.0.0"
    assert "@postgres:5432/driftmon" in driftmon_config["database"]["url"]
    assert driftmon_config["database"]["password"] == "${POSTGRES_PASSWORD:-driftmon}"

    prometheus = load_yaml("config/prometheus/prometheus.yml")
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "driftmon"]
    assert job["static_configs"][0]["targets"] == [f"driftmon:{port}"]
    am_targets = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am_targets == ["alertmanager:9093"]

    datasource = load_yaml("config/grafana/provisioning/datasources/prometheus.yml")
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"

    alertmanager = load_yaml("config/alertmanager/alertmanager.yml")
    urls = [w["url"] for r in alertmanager["receivers"] for w in r.get("webhook_configs", [])]
    assert urls
    assert all(u.startswith("http://alert-sink:8080/") for u in urls)
    assert "alert-sink" in services()

    mounts = services()["driftmon"]["volumes"]
    assert "./config/docker/driftmon.yaml:/etc/driftmon/driftmon.yaml:ro" in mounts
    assert "./config/prometheus:/etc/prometheus:ro" in services()["prometheus"]["volumes"]
    assert "./config/alertmanager:/etc/alertmanager:ro" in services()["alertmanager"]["volumes"]


def test_example_config_has_the_documented_monitor() -> None:
    (monitor,) = load_yaml("config/docker/driftmon.yaml")["monitors"]
    assert monitor["name"] == "example"
    assert monitor["schedule"] == {"every": "1m"}
    assert monitor["reference"]["path"].startswith("/app/examples/data/")
    assert monitor["live"]["min_rows"] == 100
    assert [f["name"] for f in monitor["features"]] == ["age", "income", "country", "device"]
    assert monitor["thresholds"] == {"warning": 0.05, "critical": 0.2}


def test_example_data_paths_come_from_the_repo() -> None:
    """The image copies the tree to /app: each data file is in it or made by the generator."""
    (monitor,) = load_yaml("config/docker/driftmon.yaml")["monitors"]
    generator = REPO / "examples" / "generate_data.py"
    for source in (monitor["reference"], monitor["live"]):
        relative = Path(source["path"]).relative_to("/app")
        assert (REPO / relative).is_file() or generator.is_file(), relative
    assert "examples/generate_data.py" in DOCKERFILE.read_text(encoding="utf-8")


def test_example_config_loads_with_driftmon_config_loader() -> None:
    """driftmon itself accepts the compose config, with the password default interpolated."""
    loader = pytest.importorskip("driftmon.config.loader")
    config = loader.load_config(REPO / "config" / "docker" / "driftmon.yaml", environ={})
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9464
    assert [m.name for m in config.monitors] == ["example"]


def test_dockerfile_runs_driftmon_as_non_root_with_a_health_check() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.MULTILINE)
    assert re.search(r"^EXPOSE 9464$", text, re.MULTILINE)
    (user,) = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert user not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*urllib.*/healthz", text, re.MULTILINE)
    assert text.rstrip().endswith('CMD ["driftmon", "run", "-c", "/etc/driftmon/driftmon.yaml"]')
    assert (REPO / ".dockerignore").is_file()


def test_compose_file_is_valid(docker_compose: str) -> None:
    """`docker-compose config -q` parses, validates and interpolates without an engine."""
    result = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def rendered(docker_compose: str, environ: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yml as ``docker-compose config`` interpolates it with ``environ``."""
    result = subprocess.run(
        [docker_compose, "-f", str(COMPOSE_FILE), "config"],
        cwd=REPO,
        env={**environ, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = yaml.safe_load(result.stdout)
    return data


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


@pytest.mark.parametrize("password", ["p@ss/w#rd", "a:b?c%20d&e=f", "driftmon"])
def test_any_postgres_password_reaches_the_compose_database(
    docker_compose: str, password: str
) -> None:
    """The rendered stack gives driftmon the postgres service's host, database and password."""
    stack = rendered(docker_compose, {"POSTGRES_PASSWORD": password})["services"]
    server_password = environment(stack["postgres"])["POSTGRES_PASSWORD"]
    driftmon_env = environment(stack["driftmon"])
    assert server_password == driftmon_env["POSTGRES_PASSWORD"] == password
    config = load_config(REPO / "config" / "docker" / "driftmon.yaml", environ=driftmon_env)
    url = make_url(config.database.url)
    assert (url.host, url.port, url.database) == ("postgres", 5432, "driftmon")
    assert (url.username, url.password) == ("driftmon", password)
    assert password not in config.database.masked_url or password == "driftmon"


def dockerfile_steps() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    steps: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        current = f"{current} {line}" if current else line
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        steps.append(current)
        current = ""
    return steps


def test_dockerfile_installs_the_locked_dependencies_before_copying_the_source() -> None:
    """Layer caching: a source edit reuses the dependency layer, built from the lock alone."""
    steps = dockerfile_steps()

    def first(match: Callable[[str], bool]) -> int:
        found = [i for i, step in enumerate(steps) if match(step)]
        assert found, steps
        return found[0]

    copy_lock = first(lambda s: s.startswith("COPY requirements.lock "))
    install_lock = first(
        lambda s: (
            s.startswith("RUN pip install --require-hashes --no-deps -r ")
            and "requirements.lock" in s
        )
    )
    copy_source = first(lambda s: s.startswith("COPY . "))
    install_driftmon = first(lambda s: s.startswith("RUN pip install") and " . " in f"{s} ")
    assert copy_lock < install_lock < copy_source < install_driftmon
    before = [s for s in steps[:install_lock] if s.startswith(("COPY", "ADD"))]
    assert before == [steps[copy_lock]], "only the lock is copied before the dependencies"
    # driftmon itself resolves and downloads nothing: everything came from the lock.
    for flag in ("--no-deps", "--no-index", "--no-build-isolation"):
        assert flag in steps[install_driftmon].split()
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert "requirements.lock" not in ignored


def locked() -> dict[str, tuple[str, int]]:
    """requirements.lock as {normalised name: (version, number of sha256 hashes)}."""
    entries: dict[str, tuple[str, int]] = {}
    name = ""
    for line in LOCK_FILE.read_text(encoding="utf-8").splitlines():
        pin = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if pin:
            name = canonicalize_name(pin.group(1))
            entries[name] = (pin.group(2), 0)
        elif line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[name]
            entries[name] = (version, hashes + 1)
    return entries


def test_the_lock_pins_every_dependency_with_hashes() -> None:
    """Dependencies, the postgres and duckdb extras (the image reads DuckDB sources too) and
    the build backend: in the lock, in range, hashed."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    needed = [
        *pyproject["project"]["dependencies"],
        *pyproject["project"]["optional-dependencies"]["postgres"],
        *pyproject["project"]["optional-dependencies"]["duckdb"],
        *pyproject["build-system"]["requires"],
    ]
    lock = locked()
    for text in needed:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} is missing from requirements.lock: bash scripts/lock.sh"
        version = lock[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {req.name}=={version}, outside {req.specifier}: "
            "bash scripts/lock.sh"
        )
    assert "psycopg-binary" in lock  # psycopg[binary]: the extra's own package
    unhashed = [n for n, (_, hashes) in lock.items() if hashes == 0]
    assert unhashed == []


def test_psycopg_is_the_postgres_extra_and_part_of_the_test_extra() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    names = {canonicalize_name(Requirement(r).name) for r in pyproject["project"]["dependencies"]}
    assert "psycopg" not in names
    extras = pyproject["project"]["optional-dependencies"]
    # psycopg for the database, ADBC for PostgreSQL source rows by binary COPY.
    assert [Requirement(r).name for r in extras["postgres"]] == [
        "psycopg",
        "adbc-driver-postgresql",
    ]
    assert set(extras["postgres"]) <= set(extras["test"])
