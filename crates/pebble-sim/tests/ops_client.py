"""Drives the simulator with the real ops.pebble.Client (run by tests/ops_compat.rs).

Usage: python ops_client.py SOCKET ROOT
"""

import os
import sys

import ops.pebble as pebble

socket_path, root = sys.argv[1], sys.argv[2]
client = pebble.Client(socket_path=socket_path)


def expect(error_type, call):
    try:
        call()
    except error_type as error:
        return error
    raise AssertionError(f"expected {error_type.__name__}")


# System and plan.
assert client.get_system_info().version.startswith("v")
layer = {
    "services": {
        "synapse": {
            "override": "replace",
            "command": "/start.py",
            "startup": "enabled",
            "environment": {"SYNAPSE_SERVER_NAME": "example.com"},
        }
    },
    "checks": {
        "synapse-ready": {
            "override": "replace",
            "level": "ready",
            "http": {"url": "http://localhost:8008/health"},
        }
    },
}
client.add_layer("synapse", layer, combine=True)
plan = client.get_plan()
assert plan.services["synapse"].command == "/start.py"
assert plan.services["synapse"].environment == {"SYNAPSE_SERVER_NAME": "example.com"}
assert plan.checks["synapse-ready"].level == pebble.CheckLevel.READY

# Services.
client.replan_services()
service = client.get_services(["synapse"])[0]
assert service.current == pebble.ServiceStatus.ACTIVE and service.is_running(), service
client.restart_services(["synapse"])
client.stop_services(["synapse"])
assert not client.get_services(["synapse"])[0].is_running()
client.start_services(["synapse"])
client.send_signal("SIGHUP", ["synapse"])
error = expect(pebble.APIError, lambda: client.start_services(["nope"]))
assert error.code == 400 and error.message == 'cannot start services: service "nope" does not exist', error

# Files.
client.push(
    "/data/homeserver.yaml",
    "server_name: example.com\n",
    make_dirs=True,
    permissions=0o600,
    user_id=991,
    group_id=991,
)
assert client.pull("/data/homeserver.yaml").read() == "server_name: example.com\n"
assert client.pull("/data/homeserver.yaml", encoding=None).read() == b"server_name: example.com\n"
[info] = client.list_files("/data", pattern="*.yaml")
assert (info.name, info.type, info.permissions, info.user_id, info.group_id) == (
    "homeserver.yaml",
    pebble.FileType.FILE,
    0o600,
    991,
    991,
), info
[itself] = client.list_files("/data", itself=True)
assert itself.type == pebble.FileType.DIRECTORY
error = expect(pebble.PathError, lambda: client.pull("/data/missing"))
assert error.kind == "not-found", error
error = expect(pebble.APIError, lambda: client.list_files("/data/missing"))
assert error.code == 404, error
client.make_dir("/data/media/local", make_parents=True, permissions=0o750)
error = expect(pebble.PathError, lambda: client.make_dir("/data/media"))
assert error.kind == "generic-file-error", error
client.remove_path("/data/media", recursive=True)
assert not os.path.exists(os.path.join(root, "data/media"))
error = expect(pebble.PathError, lambda: client.remove_path("/data/media"))
assert error.kind == "not-found", error

# Exec: scripted, host, failures, timeout.
process = client.exec(["/usr/bin/scripted", "arg"], stdin="input")
assert process.wait_output() == ("scripted-out\n", "scripted-err\n")
error = expect(pebble.ExecError, lambda: client.exec(["/usr/bin/fails"]).wait_output())
assert error.exit_code == 2 and error.stdout == "failed\n", error
process = client.exec(["/bin/sh", "-c", "cat; echo err >&2"], stdin="abc", environment={"K": "v"})
assert process.wait_output() == ("abc", "err\n")
out, err = client.exec(["/bin/sh", "-c", "echo $K"], environment={"K": "v"}).wait_output()
assert out == "v\n", out
process = client.exec(["/bin/sh", "-c", "echo both; echo err >&2"], combine_stderr=True)
out, err = process.wait_output()
assert "both" in out and "err" in out and err is None, (out, err)
error = expect(pebble.APIError, lambda: client.exec(["no-such-binary"]))
assert error.message == 'cannot find executable "no-such-binary"', error
error = expect(pebble.ChangeError, lambda: client.exec(["/bin/sleep", "5"], timeout=0.3).wait())
assert "timed out after 300ms" in error.err, error

# Changes: waiting on a change that cannot finish in time.
response = client._request("POST", "/v1/exec", body={"command": ["/usr/bin/scripted"], "split-stderr": True})
change_id = pebble.ChangeID(response["change"])
expect(pebble.TimeoutError, lambda: client.wait_change(change_id, timeout=0.5))
assert any(c.id == change_id for c in client.get_changes(pebble.ChangeState.IN_PROGRESS))

# Checks and notices.
[check] = client.get_checks(level=pebble.CheckLevel.READY)
assert check.name == "synapse-ready" and check.status == pebble.CheckStatus.UP, check
notice_id = client.notify(pebble.NoticeType.CUSTOM, "example.com/backup", data={"k": "v"})
notice = client.get_notice(notice_id)
assert notice.key == "example.com/backup" and notice.last_data == {"k": "v"}, notice
assert [n.id for n in client.get_notices(types=[pebble.NoticeType.CUSTOM])] == [notice_id]

print("ops client: all good")
