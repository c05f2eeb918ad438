-- wrk script for the submission benchmark (bench/run.py starts it; see docs/performance.md).
--
-- Every request POSTs one survey to a distinct single-use invitation link:
--   POST /s/i/<token>/answer/   with the answers as form fields named by question code.
-- Environment:
--   BENCH_TOKENS    file of raw invitation tokens, one per line (each used at most once)
--   BENCH_BODIES    file of url-encoded answer sets, one per line (cycled)
--   BENCH_DEADLINE  unix time after which no new request is sent, so that every request
--                   sent gets its answer before wrk stops (wrk runs a few seconds longer)
-- done() prints one JSON line: the status counts and the latency percentiles.

local tokens, bodies = {}, {}
local next_token, next_body = 1, 1
local deadline = tonumber(os.getenv("BENCH_DEADLINE") or "0")
local threads = {}
local thread_count = 1
thread_index = 0 -- set per thread by setup() (a global, so thread:set can reach it)
ok2xx, ok3xx, client4xx, server5xx, other, posted, exhausted = 0, 0, 0, 0, 0, 0, 0

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

local function read_lines(path, keep)
  local lines = {}
  local i = 0
  for line in io.lines(path) do
    if keep(i) and #line > 0 then
      table.insert(lines, line)
    end
    i = i + 1
  end
  return lines
end

function init(args)
  thread_count = tonumber(os.getenv("BENCH_THREADS") or "1")
  -- Each wrk thread takes its own share of the tokens, so no token is posted twice.
  tokens = read_lines(os.getenv("BENCH_TOKENS"), function(i)
    return i % thread_count == thread_index
  end)
  bodies = read_lines(os.getenv("BENCH_BODIES"), function(i) return true end)
end

function delay()
  if os.time() >= deadline or next_token > #tokens then
    return 3600000 -- stop sending: wrk ends while this connection waits
  end
  return 0
end

function request()
  local token = tokens[next_token]
  if token == nil then
    exhausted = 1
    token = "exhausted"
  end
  next_token = next_token + 1
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  posted = posted + 1
  return wrk.format("POST", "/s/i/" .. token .. "/answer/", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Host"] = "127.0.0.1",
  }, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok2xx = ok2xx + 1
  elseif status >= 300 and status < 400 then
    ok3xx = ok3xx + 1
  elseif status >= 400 and status < 500 then
    client4xx = client4xx + 1
  elseif status >= 500 then
    server5xx = server5xx + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local totals = { ok2xx = 0, ok3xx = 0, client4xx = 0, server5xx = 0, other = 0, posted = 0,
                   exhausted = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(totals) do
      totals[name] = totals[name] + (thread:get(name) or 0)
    end
  end
  io.write(string.format(
    '{"ok2xx": %d, "ok3xx": %d, "client4xx": %d, "server5xx": %d, "other": %d, ' ..
    '"posted": %d, "exhausted": %d, "completed": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "timeouts": %d, "duration_us": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    totals.ok2xx, totals.ok3xx, totals.client4xx, totals.server5xx, totals.other,
    totals.posted, totals.exhausted, summary.requests, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
