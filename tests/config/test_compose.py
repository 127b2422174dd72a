"""docker-compose.yml and the Dockerfile: valid, self-consistent, and mounting only real files."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"


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
    assert conditions("grafana") == {"prometheus": "service_healthy"}
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
    assert "${POSTGRES_PASSWORD:-driftmon}" in driftmon_config["database"]["url"]

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
    # The image installs the package with the DuckDB extra, so duckdb:/// sources work there.
    assert re.search(r'^RUN pip install "\.\[duckdb\]"', text, re.MULTILINE)
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
