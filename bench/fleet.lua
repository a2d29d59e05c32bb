-- wrk script: the store scenarios. Every request is a POST of a NEW imp_uid, spread over
-- several gateways: thread i connects to the i-th port and uses its own slice of the id list.
--
--   FLEET_PORTS=P1,P2,... wrk -tN -cC -dD -s fleet.lua URL -- IDS_FILE START PER_THREAD PATH
--
-- (setup() runs before the script's arguments are known, so the ports come in FLEET_PORTS.)
-- Thread i (0-based) uses lines START + i*PER_THREAD + 1 .. START + (i+1)*PER_THREAD, each
-- once; when they run out it stops sending. done() prints the same JSON line as newuid.lua.

ids, count, n, exhausted, path = {}, 0, 0, false, "/"
local threads = {}
local next_tid = 0

function setup(thread)
  local ports = {}
  for p in string.gmatch(os.getenv("FLEET_PORTS"), "[^,]+") do ports[#ports + 1] = p end
  local port = ports[(next_tid % #ports) + 1]
  thread.addr = wrk.lookup("127.0.0.1", port)[1]
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function init(args)
  local file, first, per = args[1], tonumber(args[2]), tonumber(args[3])
  path = args[4]
  local from = first + tid * per
  local i = 0
  for line in io.lines(file) do
    i = i + 1
    if i > from then
      ids[#ids + 1] = line
      if #ids >= per then break end
    end
  end
  count = #ids
end

function request()
  n = n + 1
  if n > count then
    n = count
    exhausted = true
    wrk.thread:stop()
    return wrk.format("GET", "/__bench_exhausted")
  end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" },
                    '{"imp_uid":"' .. ids[n] .. '"}')
end

function done(summary, latency, requests)
  local sent, ex = 0, false
  for _, t in ipairs(threads) do
    sent = sent + (t:get("n") or 0)
    ex = ex or t:get("exhausted")
  end
  local e = summary.errors
  io.write(string.format(
    '{"duration_us":%d,"requests":%d,"sent":%d,"exhausted":%s,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p99.9":%d}}\n',
    summary.duration, summary.requests, sent, tostring(ex),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
