"""Serves a log folder with real TensorBoard (loopback, a free port) and asks its HParams
plugin what a user's HPARAMS tab shows: the experiment (hyper-parameters and metrics) and the
session groups (one per point, its runs as sessions with their metrics). Prints JSON."""
import json
import sys
import time
import urllib.request

from tensorboard import program


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", "X-XSRF-Protected": "1"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


tb = program.TensorBoard()
tb.configure(argv=[None, "--logdir", sys.argv[1], "--host", "127.0.0.1", "--port", "0", "--load_fast", "false", "--reload_interval", "1"])
url = tb.launch().rstrip("/")
expected_sessions = int(sys.argv[2])
deadline = time.time() + 60
while True:
    experiment = post(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""})
    groups = post(f"{url}/data/plugin/hparams/session_groups", {
        "experimentName": "",
        "allowedStatuses": ["STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING", "STATUS_UNKNOWN"],
        "colParams": [], "startIndex": 0, "sliceSize": 1000,
    })
    sessions = sum(len(g["sessions"]) for g in groups.get("sessionGroups", []))
    if sessions >= expected_sessions or time.time() > deadline:
        break
    time.sleep(0.5)
print(json.dumps({"experiment": experiment, "groups": groups}))
