"""verify on a stack whose container crash-loops: a failed ``crashed`` check with the last log lines and
the cause (a missing shared object), never an internal error (issue 13 item 6).

The image is real and really broken: FROM the local Debian base, the library /bin/ls links against is
deleted, so the dynamic loader itself refuses to start the command and Docker restarts it forever."""

from __future__ import annotations

import io
import time
import uuid

import pytest
import yaml

from migrate.verify import crash_cause, verify_stack

pytestmark = pytest.mark.docker


def test_crash_cause_from_real_loader_and_module_messages() -> None:
    loader = ("/bin/ls: error while loading shared libraries: libselinux.so.1: cannot open shared object file: "
              "No such file or directory")
    assert crash_cause(loader, {}).startswith("missing shared object libselinux.so.1")
    nginx = ('nginx: [emerg] dlopen() "/usr/share/nginx/modules/ngx_http_echo_module.so" failed '
             "(/usr/share/nginx/modules/ngx_http_echo_module.so: cannot open shared object file)")
    cause = crash_cause(nginx, {"libnginx-mod-http-echo": "owns /usr/share/nginx/modules/ngx_http_echo_module.so"})
    assert "ngx_http_echo_module.so" in cause and "libnginx-mod-http-echo owns it" in cause
    apache = ("httpd: Syntax error on line 1 of php8.2.load: Cannot load /usr/lib/apache2/modules/libphp8.2.so "
              "into server")
    assert "libphp8.2.so" in crash_cause(apache, {})
    assert crash_cause("all fine\n", {}) is None


def test_verify_reports_a_crash_looping_container(tmp_path, docker_engine, base_image) -> None:
    project = f"migcrash{uuid.uuid4().hex[:8]}"
    tag = f"{project}:latest"
    df = (f"FROM {base_image}\n"
          "RUN for f in /lib/*/libselinux.so.1 /usr/lib/*/libselinux.so.1; do rm -f \"$f\"; done\n"
          'CMD ["/bin/ls", "/"]\n')
    list(docker_engine.api.build(fileobj=io.BytesIO(df.encode()), tag=tag, decode=True, rm=True))
    out = tmp_path / "stack"
    out.mkdir()
    (out / "compose.yaml").write_text(yaml.safe_dump({"name": project, "services": {
        "broken": {"image": tag, "restart": "always"}}}))
    try:
        res = docker_engine.compose("-p", project, "-f", str(out / "compose.yaml"), "up", "-d", cwd=out)
        assert res.returncode == 0, res.output
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until Docker has restarted it at least once
            found = docker_engine.containers([f"com.docker.compose.project={project}"])
            if found and int(docker_engine.inspect_container(found[0]["Id"]).get("RestartCount") or 0) >= 1:
                break
            time.sleep(0.5)
        report = verify_stack(out, engine=docker_engine, scan=False)
        crashed = [c for c in report.checks if c.kind == "crashed"]
        assert len(crashed) == 1 and not crashed[0].ok and crashed[0].service == "broken"
        assert "cause: missing shared object libselinux.so.1" in crashed[0].detail
        assert "error while loading shared libraries" in crashed[0].detail  # the log line itself
        assert "restarted" in crashed[0].actual
        assert not report.ok and crashed[0] in report.failed
    finally:
        docker_engine.compose("-p", project, "-f", str(out / "compose.yaml"), "down", "-t", "1", cwd=out)
        docker_engine.remove_image(tag, force=True)


def test_swarm_task_that_failed_before_the_service_converged_is_shown_not_failed(tmp_path, docker_engine,
                                                                                base_image) -> None:
    """Swarm starts services in no order: a task that exits while a dependency is not up yet is replaced
    by a new one. Once the service runs healthy, the failed task is reported (ok) with its log lines; a
    service that never converges stays a failure (the test above)."""
    import subprocess

    project = f"migconv{uuid.uuid4().hex[:8]}"
    out = tmp_path / "stack"
    out.mkdir()
    # the first task finds no marker in its volume, leaves one and fails; the next one runs
    script = ("if [ -f /state/started-once ]; then exec sleep 600; fi; "
              "echo 'upstream not ready yet' >&2; touch /state/started-once; exit 1")
    (out / "compose.yaml").write_text(yaml.safe_dump({"services": {"flaky": {  # swarm's schema: no name:
        "image": base_image, "command": ["sh", "-c", script],
        "volumes": [{"type": "volume", "source": "state", "target": "/state"}],
        "deploy": {"restart_policy": {"condition": "on-failure", "delay": "1s"}}}},
        "volumes": {"state": {}}}))
    try:
        subprocess.run(["docker", "stack", "deploy", "-c", str(out / "compose.yaml"), project], check=True,
                       capture_output=True, timeout=120)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # until the second task runs
            found = docker_engine.containers([f"com.docker.stack.namespace={project}"], all=True)
            if any(c.get("State") == "running" for c in found) and len(found) >= 2:
                break
            time.sleep(1)
        report = verify_stack(out, project=project, engine=docker_engine, scan=False)
        assert report.mode == "swarm"
        crashed = [c for c in report.checks if c.kind == "crashed"]
        assert len(crashed) == 1 and crashed[0].ok and "swarm replaced it" in crashed[0].actual
        assert "upstream not ready yet" in crashed[0].detail
        assert crashed[0] not in report.failed
    finally:
        subprocess.run(["docker", "stack", "rm", project], capture_output=True, timeout=120)
        deadline = time.monotonic() + 60  # swarm removes the task containers asynchronously
        while time.monotonic() < deadline and docker_engine.containers(
                [f"com.docker.stack.namespace={project}"], all=True):
            time.sleep(1)
        subprocess.run(["docker", "volume", "rm", "-f", f"{project}_state"], capture_output=True, timeout=60)
