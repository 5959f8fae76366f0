-- The authorization-code grant: POST /oauth2/token grant_type=authorization_code for a public client
-- (client_id in the form), each code once, with its redirect URI and the verifier of its S256 challenge.
-- The codes are minted by bench/run right before the run (not timed); a code lives 60 s. Arguments, besides
-- common.lua's:
--   codes=FILE     one code per line
--   threads=N      wrk threads: thread i takes every N-th code, so that no two threads present one code
--   client=ID      the client's id
--   redirect=URI   the redirect URI of the authorization requests, urlencoded
--   verifier=V     the code verifier of every code's challenge
--   out=FILE       where done() writes the codes no thread reached, still unspent, for the next run
-- A thread that has presented all its codes starts over: those codes are spent, answered 400 (and a replay
-- revokes what the first exchange issued). It counts them as `spent`, for bench/run to say the run ran out.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

COUNTED = { "spent" }
spent = 0

codes = {}
code_i = 0
local tail
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
   common_init(args)
   local n = tonumber(opts.threads or "1")
   local f = assert(io.open(opts.codes, "r"))
   local i = 0
   for line in f:lines() do
      if #line > 0 then
         if i % n == (thread_id or 1) - 1 then codes[#codes + 1] = line end
         i = i + 1
      end
   end
   f:close()
   assert(#codes > 0, "no code for this thread")
   tail = "&grant_type=authorization_code&client_id=" .. opts.client .. "&redirect_uri=" .. opts.redirect
      .. "&code_verifier=" .. opts.verifier
end

function request()
   code_i = code_i + 1
   if code_i > #codes then spent = spent + 1 end
   return wrk.format("POST", "/oauth2/token", headers, "code=" .. codes[(code_i - 1) % #codes + 1] .. tail)
end

-- The codes after each thread's last request are unspent (a request in flight when wrk stopped may
-- have spent its code, so the codes up to it are not written).
local common_done = done
function done(summary, latency, requests)
   common_done(summary, latency, requests)
   local out = nil
   for _, t in each_thread() do
      out = out or assert(io.open(t:get("opts").out, "w"))
      local mine = t:get("codes")
      for j = t:get("code_i") + 1, #mine do out:write(mine[j] .. "\n") end
   end
   if out then out:close() end
end
