"""`python -m devhost` as a user runs it: loads an app module, exports local.settings.json, serves, stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

APP_SOURCE = '''
import os
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.route(route="setting/{name}", methods=["GET"])
def setting(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(os.environ.get(req.route_params["name"], "<unset>"))
'''


def test_cli_serves_the_app_with_local_settings_and_stops_on_sigint(tmp_path: Path, http_call) -> None:
    (tmp_path / "cli_app.py").write_text(APP_SOURCE)
    (tmp_path / "local.settings.json").write_text(json.dumps(
        {"IsEncrypted": False, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "WARDEN_DEMO": "from-file"}}
    ))
    env = {**os.environ, "PYTHONPATH": str(REPO), "DEVHOST_FUNCTION_KEY": "cli-key"}
    env.pop("WARDEN_DEMO", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "devhost", "--app", "cli_app:app", "--port", "0",
         "--host-json", str(REPO / "host.json")],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        banner: list[str] = []
        for line in proc.stdout:
            banner.append(line)
            if "setting:" in line:
                break
        url = re.search(r"(http://127\.0\.0\.1:\d+)/api/setting", "".join(banner))
        assert url, "".join(banner)
        assert "Function key: cli-key" in "".join(banner)
        base = url.group(1)
        assert http_call(base, "GET", "/api/setting/WARDEN_DEMO").status == 401
        reply = http_call(base, "GET", "/api/setting/WARDEN_DEMO", headers={"x-functions-key": "cli-key"})
        assert (reply.status, reply.body) == (200, b"from-file")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
