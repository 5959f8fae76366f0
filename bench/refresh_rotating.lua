-- POST {prefix}/token {refresh_token, client_id} with refresh_token_rotation on: every answer carries the
-- chain's new value, which the next grant of that chain presents. Arguments (besides common.lua's):
--   refresh=FILE  one "REFRESH_TOKEN CLIENT_ID AUTH_ID" per line (one chain per bench user)
--   threads=N     wrk threads: thread i takes every N-th chain, so that no two threads share one
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local chains = {}    -- this thread's chains: { value, client_id }
local by_user = {}   -- auth_id -> its chain (an answer names its user, not its request)
local chain_i = 0

function init(args)
   common_init(args)
   local n = tonumber(opts.threads or "1")
   local f = assert(io.open(opts.refresh, "r"))
   local i = 0
   for line in f:lines() do
      local r, c, a = line:match("^(%S+)%s+(%S+)%s+(%S+)$")
      if r then
         if i % n == (thread_id or 1) - 1 then
            local chain = { r, c }
            chains[#chains + 1] = chain
            by_user[a] = chain
         end
         i = i + 1
      end
   end
   f:close()
end

function request()
   chain_i = chain_i % #chains + 1
   local c = chains[chain_i]
   return wrk.format("POST", opts.prefix .. "/token", json_headers,
      '{"refresh_token": "' .. c[1] .. '", "client_id": "' .. c[2] .. '", "expiration": 3600}')
end

local count_status = response
function response(status, headers, body)
   count_status(status, headers, body)
   if status == 200 then
      local value = body:match('"refresh_token":"([^"]+)"')
      local chain = by_user[body:match('"auth_id":"([^"]+)"') or ""]
      if value and chain then chain[1] = value end
   end
end
