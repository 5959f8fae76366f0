-- The OAuth2 refresh grant: POST /oauth2/token grant_type=refresh_token for a public client (client_id in
-- the form). Every grant rotates: the answer's refresh_token is the chain's next value, and presenting an
-- older one is a replay that revokes the chain. Arguments, besides common.lua's:
--   chains=FILE  one "REFRESH_TOKEN CLIENT_ID" per line (a chain each, seeded through the code flow)
--   threads=N    wrk threads: thread i owns every N-th chain
--   out=FILE     where done() writes the chains' values at the end, for the next run
-- Run with one connection per thread (-t N -c N): an OAuth2 answer does not name its user, so a thread must
-- know which chain its one request in flight is on. A thread takes its chains in turn, so no chain is ever
-- on two requests at once. A chain answered invalid_grant (or a 200 without a value) is dropped and counted
-- (`dropped`); one whose request was still in flight when wrk stopped is left out of FILE, since its value
-- may have been spent (`unsettled`).
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

COUNTED = { "dropped" }
dropped = 0
-- This thread's settled chains as "VALUE CLIENT_ID", by index: a chain in flight or dropped has none. (A flat
-- table of strings, for done() to read: wrk's copy between threads breaks on nested tables.)
settled = {}
owned = 0

local chains = {} -- this thread's chains: { value, client_id, dropped = bool }

local chain_i = 0
local current
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
   common_init(args)
   local n = tonumber(opts.threads or "1")
   local f = assert(io.open(opts.chains, "r"))
   local i = 0
   for line in f:lines() do
      local v, c = line:match("^(%S+)%s+(%S+)")
      if v then
         if i % n == (thread_id or 1) - 1 then chains[#chains + 1] = { v, c } end
         i = i + 1
      end
   end
   f:close()
   assert(#chains > 0, "no chain for this thread")
   for k, c in ipairs(chains) do settled[k] = c[1] .. " " .. c[2] end
   owned = #chains
   chain_i = math.random(#chains) - 1
end

function request()
   for _ = 1, #chains do
      chain_i = chain_i % #chains + 1
      if not chains[chain_i].dropped then break end
   end
   current = chains[chain_i]
   settled[chain_i] = nil
   return wrk.format("POST", "/oauth2/token", headers,
      "grant_type=refresh_token&client_id=" .. current[2] .. "&refresh_token=" .. current[1])
end

local count_status = response
function response(status, headers, body)
   count_status(status, headers, body)
   local c = current
   if not c then return end
   current = nil
   if c.dropped then return end
   local value = status == 200 and body:match('"refresh_token"%s*:%s*"([^"]+)"')
   if value then
      c[1] = value
   elseif status == 200 or (status == 400 and body:find("invalid_grant", 1, true)) then
      c.dropped = true
      dropped = dropped + 1
      return
   end
   -- Anything else (a 429 or a 5xx) spent nothing: the chain goes on with its value.
   settled[chain_i] = c[1] .. " " .. c[2]
end

local common_done = done
function done(summary, latency, requests)
   common_done(summary, latency, requests)
   local out, live, unsettled = nil, 0, 0
   for _, t in each_thread() do
      out = out or assert(io.open(t:get("opts").out, "w"))
      for _, line in pairs(t:get("settled")) do
         out:write(line .. "\n")
         live = live + 1
         unsettled = unsettled - 1
      end
      -- Neither settled nor dropped: in flight when wrk stopped.
      unsettled = unsettled + t:get("owned") - t:get("dropped")
   end
   if out then out:close() end
   io.write(string.format("COUNT live %d\nCOUNT unsettled %d\n", live, unsettled))
end
