-- Shared by the wrk scripts of bench/run (loaded with dofile, once per wrk thread).
-- Script arguments (after `--` on the wrk command line) are key=value pairs:
--   tokens=FILE   one access token per line (rotated over)
--   refresh=FILE  one "REFRESH_TOKEN CLIENT_ID" per line (rotated over; further fields ignored)
--   auths=FILE    one base64(login:password) per line, for Basic logins (rotated over)
--   scope=ACL     adds ?scope=ACL to validations (and turns HEAD into GET)
--   prefix=PATH   API prefix, default /api/auth/0.1
-- Each thread counts the HTTP status of every response; done() prints them as
-- "STATUS <code> <count>" lines and "BAD <count>" (responses that are not 2xx, or up to OK_UP_TO), for
-- bench/run to parse; a script that lists names of its own numeric globals in COUNTED also gets their sum
-- over the threads, as "COUNT <name> <sum>" lines.

local threads = {}
local next_id = 1

-- The highest status that counts as served (a script whose answers are redirects raises it).
OK_UP_TO = 299
-- Names of numeric globals of each thread that done() sums and prints (a script sets them).
COUNTED = {}

-- The wrk threads, for a script's own done().
function each_thread()
   return ipairs(threads)
end

function setup(thread)
   thread:set("thread_id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

opts = {}
tokens = {}
refreshes = {}
auths = {}
statuses = {}
json_headers = { ["Content-Type"] = "application/json" }

local function read_lines(path)
   local out = {}
   local f = assert(io.open(path, "r"))
   for line in f:lines() do
      if #line > 0 then out[#out + 1] = line end
   end
   f:close()
   return out
end

function common_init(args)
   for _, a in ipairs(args) do
      local k, v = a:match("^([^=]+)=(.*)$")
      if k then opts[k] = v end
   end
   opts.prefix = opts.prefix or "/api/auth/0.1"
   math.randomseed(os.time() * 100 + (thread_id or 0))
   if opts.tokens then tokens = read_lines(opts.tokens) end
   if opts.refresh then
      for _, line in ipairs(read_lines(opts.refresh)) do
         local r, c = line:match("^(%S+)%s+(%S+)")
         refreshes[#refreshes + 1] = { r, c }
      end
   end
   if opts.auths then auths = read_lines(opts.auths) end
   -- Start each thread at a different place in the rotation.
   tok_i = #tokens > 0 and math.random(#tokens) or 0
   ref_i = #refreshes > 0 and math.random(#refreshes) or 0
   auth_i = #auths > 0 and math.random(#auths) or 0
end

function validate_request()
   tok_i = tok_i % #tokens + 1
   local path = opts.prefix .. "/token/" .. tokens[tok_i]
   if opts.scope then
      return wrk.format("GET", path .. "?scope=" .. opts.scope)
   end
   return wrk.format("HEAD", path)
end

function refresh_request()
   ref_i = ref_i % #refreshes + 1
   local r = refreshes[ref_i]
   return wrk.format("POST", opts.prefix .. "/token", json_headers,
      '{"refresh_token": "' .. r[1] .. '", "client_id": "' .. r[2] .. '", "expiration": 3600}')
end

local login_headers = {}
function login_request()
   auth_i = auth_i % #auths + 1
   local h = login_headers[auth_i]
   if not h then
      h = { ["Content-Type"] = "application/json", ["Authorization"] = "Basic " .. auths[auth_i] }
      login_headers[auth_i] = h
   end
   return wrk.format("POST", opts.prefix .. "/token", h, '{"expiration": 3600}')
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, t in ipairs(threads) do
      for code, n in pairs(t:get("statuses") or {}) do
         total[code] = (total[code] or 0) + n
      end
   end
   local bad = 0
   for code, n in pairs(total) do
      io.write(string.format("STATUS %d %d\n", code, n))
      if code < 200 or code > OK_UP_TO then bad = bad + n end
   end
   io.write(string.format("BAD %d\n", bad))
   for _, name in ipairs(COUNTED) do
      local sum = 0
      for _, t in ipairs(threads) do sum = sum + (t:get(name) or 0) end
      io.write(string.format("COUNT %s %d\n", name, sum))
   end
end
