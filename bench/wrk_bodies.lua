-- Posts pre-signed Stripe events, each once, from a file of "<signature>\t<body>" lines.
-- Usage: wrk -s bench/wrk_bodies.lua URL -- FILE THREADS [DONE_FILE]
-- With DONE_FILE, a thread that has as many answers as its slice has lines stops and
-- writes that file (bench/burst.py then interrupts wrk, which prints its summary); the
-- connections still open by then send at most one repeat each (counted in "repeats").
-- Thread i sends lines i, i+THREADS, ... so no event id is sent twice; a thread
-- that runs out starts its slice again and counts it in "repeats".
-- done() prints one line "BENCH_JSON {...}" for bench/ingest.py to read.

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  done_file = args[3]
  requests, sent, responses, non2xx, repeats = {}, 0, 0, 0, 0
  local n = 0
  for line in io.lines(file) do
    if n % nthreads == tid then
      local sig, body = line:match("^([^\t]+)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", nil,
        {["Content-Type"] = "application/json", ["Stripe-Signature"] = sig}, body)
    end
    n = n + 1
  end
end

function request()
  sent = sent + 1
  if sent > #requests then repeats = repeats + 1 end
  return requests[(sent - 1) % #requests + 1]
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if done_file and responses == #requests then
    io.open(done_file, "w"):close()
    wrk.thread:stop()
  end
end

function done(summary, latency, reqs)
  local totals = {sent = 0, responses = 0, non2xx = 0, repeats = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(totals) do totals[key] = totals[key] + thread:get(key) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"sent":%d,"responses":%d,"non2xx":%d,"repeats":%d,' ..
    '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, totals.sent, totals.responses, totals.non2xx, totals.repeats,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
