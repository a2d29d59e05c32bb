-- wrk script: every request is a POST /certifications with a NEW imp_uid (scenario 5, and the
-- 100k fill of the memory test).
--
--   wrk -t1 -cC -dD -s newuid.lua URL -- IDS_FILE START COUNT
--
-- IDS_FILE holds one imp_uid a line; this run uses lines START+1 .. START+COUNT, each once, in
-- order. When they run out the thread stops sending (it never repeats one: a repeat would be a
-- cache hit). done() prints one JSON line with the percentiles (microseconds), the counts, and
-- `sent` (how many imp_uids were sent), so the driver can start the next run after them.
-- Use -t1: the slice is per thread.

-- Globals, not locals: done() reads `n` and `exhausted` with thread:get().
ids, start, count, n, exhausted = {}, 0, 0, 0, false
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local file, first, want = args[1], tonumber(args[2] or "0"), tonumber(args[3] or "0")
  local i = 0
  for line in io.lines(file) do
    i = i + 1
    if i > first then
      ids[#ids + 1] = line
      if #ids >= want then break end
    end
  end
  start, count = first, #ids
end

function request()
  n = n + 1
  if n > count then
    n = count
    exhausted = true
    wrk.thread:stop()
    -- wrk still needs a request from this call; it is never sent once the thread stops.
    return wrk.format("GET", "/__bench_exhausted")
  end
  return wrk.format("POST", "/certifications", { ["Content-Type"] = "application/json" },
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
