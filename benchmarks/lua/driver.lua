-- One virtual user per wrk thread (run with -t N -c N): request() and response() then
-- alternate on one connection, so a flow can carry a link from one step to the next.
-- Configured by environment: BENCH_LUA_DIR, BENCH_SHAPES (which server's request shapes),
-- BENCH_WORKLOAD, BENCH_IDENTITIES (a file, one signed-in user pair per line),
-- BENCH_POOL_DIR and BENCH_POOL_COUNT (secrets made by "fill", spent by "reveal").

local shapes = dofile(os.getenv("BENCH_LUA_DIR") .. "/" .. os.getenv("BENCH_SHAPES") .. ".lua")
local workload = os.getenv("BENCH_WORKLOAD")

-- Setup and done share one environment: it keeps every thread to add up their counters.
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua environment).
iterations = 0
failures = 0
sample = ""
exhausted = 0
pooled = 0 -- secrets this thread had to reveal
local user = {}
local step = 1
local link = nil
local pool = {}
local pool_out = nil
local pool_target = 0

local function identity(line)
  local v, start = {}, 1
  while true do
    local tab = string.find(line, "\t", start, true)
    table.insert(v, string.sub(line, start, tab and tab - 1 or nil))
    if not tab then break end
    start = tab + 1
  end
  return { creator_cookie = v[1], creator_csrf = v[2], recipient_cookie = v[3],
           recipient_csrf = v[4], recipient_email = v[5] }
end

-- Files are opened only briefly: wrk sizes each thread's event loop for its sockets, and a
-- file descriptor numbered beyond that makes a later thread's connect fail.
function init(args)
  local path = os.getenv("BENCH_IDENTITIES")
  if path and path ~= "" then
    local handle = assert(io.open(path, "r"))
    local n = 0
    for line in handle:lines() do
      if n == index then
        user = identity(line)
        break
      end
      n = n + 1
    end
    handle:close()
  end
  local dir = os.getenv("BENCH_POOL_DIR")
  if dir and dir ~= "" then
    local file = dir .. "/" .. index .. ".txt"
    if workload == "fill" then
      pool_out = file
      pool_target = tonumber(os.getenv("BENCH_POOL_COUNT"))
    elseif workload == "reveal" then
      local handle = io.open(file, "r")
      if handle then
        for line in handle:lines() do
          table.insert(pool, line)
        end
        handle:close()
      end
      pooled = #pool
    end
  end
end

local function fail(why, status, body)
  failures = failures + 1
  if sample == "" then
    sample = why .. ": HTTP " .. status .. " " .. string.sub(body or "", 1, 160)
  end
  step = 1
end

function request()
  if workload == "home" then
    return shapes.home(user)
  elseif workload == "home_anon" then
    return shapes.home_anon()
  elseif workload == "reveal" then
    if #pool == 0 then
      -- Ran dry (or never got any): stop this user; the one request sent meanwhile is ignored.
      exhausted = 1
      wrk.thread:stop()
      return shapes.home_anon()
    end
    link = table.remove(pool)
    return shapes.reveal(user, link)
  elseif step == 1 then
    return shapes.create(user)
  elseif step == 2 then
    return shapes.open(user, link)
  else
    return shapes.reveal(user, link)
  end
end

function response(status, headers, body)
  if workload == "home" or workload == "home_anon" then
    if status ~= 200 then return fail("home", status, body) end
    iterations = iterations + 1
  elseif workload == "reveal" then
    if link == nil then return end
    if status ~= 200 or not shapes.revealed(body) then return fail("reveal", status, body) end
    link = nil
    iterations = iterations + 1
    if #pool == 0 then
      exhausted = 1
      wrk.thread:stop()
    end
  elseif step == 1 then
    link = status == 200 and shapes.created(body) or nil
    if link == nil then return fail("create", status, body) end
    if workload == "round_trip" then
      step = 2
      return
    end
    iterations = iterations + 1
    if pool_out then
      local handle = assert(io.open(pool_out, "a"))
      handle:write(link, "\n")
      handle:close()
      if iterations >= pool_target then wrk.thread:stop() end
    end
  elseif step == 2 then
    if status ~= 200 or not shapes.opened(body) then return fail("open", status, body) end
    step = 3
  else
    if status ~= 200 or not shapes.revealed(body) then return fail("reveal", status, body) end
    step = 1
    iterations = iterations + 1
  end
end

function done(summary, latency, requests)
  local total = { iterations = 0, failures = 0, exhausted = 0, pooled = 0 }
  local samples = {}
  local idle = 0
  for _, thread in ipairs(threads) do
    if (thread:get("iterations") or 0) == 0 then
      idle = idle + 1 -- a user that finished nothing: stuck or always failing
    end
    for name, _ in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
    local s = thread:get("sample")
    if s and s ~= "" and #samples < 3 then
      table.insert(samples, '"' .. string.gsub(s, '[%c"\\\\]', " ") .. '"')
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT {\"duration_us\": %d, \"requests\": %d, \"iterations\": %d, " ..
    "\"failures\": %d, \"exhausted\": %d, \"pooled\": %d, \"idle_users\": %d, \"socket_errors\": %d, \"timeouts\": %d, " ..
    "\"status_errors\": %d, \"p50_us\": %d, \"p95_us\": %d, \"p99_us\": %d, " ..
    "\"max_us\": %d, \"samples\": [%s]}\n",
    summary.duration, summary.requests, total.iterations, total.failures, total.exhausted, total.pooled, idle,
    e.connect + e.read + e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    table.concat(samples, ", ")))
end
