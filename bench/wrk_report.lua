-- wrk script: rotate through account ids (for detail pages) and print the
-- latency percentiles as one JSON line. Arguments after `--`: path template
-- with {id} (optional), first id, last id.
local template, first, last

function init(args)
  template = args[1]
  first = tonumber(args[2] or "1")
  last = tonumber(args[3] or "1")
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local path = template
  if path and string.find(path, "{id}", 1, true) then
    path = string.gsub(path, "{id}", tostring(math.random(first, last)))
  end
  return wrk.format(nil, path)
end

function done(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "seconds": %.2f, "errors": %d, "non2xx": %d, "p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
