-- GETs /api/v1/customers/<id>/access for ids read from a file, one per line, in turn.
-- Usage: wrk -s bench/wrk_access.lua URL -- FILE KEY
-- done() prints one line "BENCH_JSON {...}" for bench/access.py to read.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ids, sent, responses, non2xx = {}, 0, 0, 0
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  headers = {["Authorization"] = "Bearer " .. args[2]}
end

function request()
  sent = sent + 1
  return wrk.format("GET", "/api/v1/customers/" .. ids[(sent - 1) % #ids + 1] .. "/access", headers)
end

function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then non2xx = non2xx + 1 end
end

function done(summary, latency, reqs)
  local totals = {sent = 0, responses = 0, non2xx = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do totals[key] = totals[key] + thread:get(key) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"sent":%d,"responses":%d,"non2xx":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, totals.sent, totals.responses, totals.non2xx,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
