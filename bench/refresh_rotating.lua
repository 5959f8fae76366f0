-- POST {prefix}/token {refresh_token, client_id} with refresh_token_rotation on: every answer carries the
-- chain's new value, which the next grant of that chain presents. Arguments (besides common.lua's):
--   refresh=FILE  one "REFRESH_TOKEN CLIENT_ID AUTH_ID" per line (one chain per bench user)
--   threads=N     wrk threads: thread i takes every N-th chain, so that no two threads share one
-- A chain is never granted on two connections at once: presenting a value its successor already replaced
-- is a replay that revokes the chain (SPEC §10). A chain whose answer was not a 200 (its request cannot be
-- told from the answer) is taken up again after a second.
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

local function free(chain, now)
   return not chain.busy_since or now - chain.busy_since > 1
end

function request()
   local now = os.time()
   for _ = 1, #chains do
      chain_i = chain_i % #chains + 1
      if free(chains[chain_i], now) then break end
   end
   local c = chains[chain_i]
   c.busy_since = now
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
      if chain then chain.busy_since = nil end
   end
end
