"""wrk, the C load generator, posting one lead per request (unique phones) with its Lua
script; shared by the benches that must not share their own interpreter with the load."""

import os
import re
import subprocess
import tempfile

WRK_SCRIPT = """
-- The request headers come in WRK_HEADERS ("Name: value" lines), not as -H arguments: an
-- API key on wrk's command line would be in every process listing.
for line in string.gmatch(os.getenv("WRK_HEADERS") or "", "[^\\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
local counter = 0
local areas = {312, 415, 646, 213, 617, 206, 303, 404}
local threads = {}
local offset = tonumber(os.getenv("LEAD_OFFSET") or "0")
local source = os.getenv("LEAD_SOURCE") or "bench"
local think = tonumber(os.getenv("THINK_MS") or "0")
local arrivals = os.getenv("ARRIVALS") or "exponential"
if think > 0 then
  -- Each connection waits between requests: a random time (exponential, mean THINK_MS,
  -- independent clients: Poisson arrivals in all), or exactly THINK_MS ("fixed": the
  -- connections stay in step, all of them sending at once every THINK_MS).
  function delay()
    if arrivals == "fixed" then return think end
    return math.floor(-think * math.log(1 - math.random()))
  end
end
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  math.randomseed(os.time() * 100 + tid)
end
request = function()
  counter = counter + 1
  local id = offset + counter * 8 + tid
  -- 7,000,000 numbers per area code, eight area codes: a run's ids (8 per request) wrap
  -- only after 56,000,000, so one run's leads are never repeats of an earlier run's.
  local area = areas[math.floor(id / 7000000) % #areas + 1]
  local exchange = 200 + math.floor(id / 10000) % 700
  local phone = string.format("+1%d%03d%04d", area, exchange, id % 10000)
  local body = string.format(
    '{"first_name":"Bench","last_name":"L%d","phone":"%s","email":"b%d@example.com",'
    .. '"source":"%s","custom":{"n":%d}}', id, phone, id, source, id)
  return wrk.format("POST", wrk.path, wrk.headers, body)
end
"""


def wrk(
    url: str,
    seconds: float,
    clients: int,
    headers: dict,
    offset: int,
    think_ms: int = 0,
    source: str = "bench",
    arrivals: str = "exponential",
) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds:g}s", "--latency", "-s", script.name]
    run_env = {
        **os.environ,
        "WRK_HEADERS": "\n".join(f"{name}: {value}" for name, value in headers.items()),
        "LEAD_OFFSET": str(offset),
        "THINK_MS": str(think_ms),
        "LEAD_SOURCE": source,
        "ARRIVALS": arrivals,
    }
    try:
        out = subprocess.run([*cmd, url], capture_output=True, text=True, env=run_env).stdout
    finally:
        os.unlink(script.name)
    if os.environ.get("BENCH_VERBOSE"):
        print(out)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pcts = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rate": rate,
        "p50": pcts.get("50"),
        "p99": pcts.get("99"),
        "non2xx": errors,
        "requests": requests,
    }
