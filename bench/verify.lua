-- GET path= (default /users/me/items) on the example backend of crates/tessera-client, with an
-- X-Auth-Token rotating over many tokens: the backend checks each one through its Tessera layer.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")
init = common_init

local headers = {}
function request()
   tok_i = tok_i % #tokens + 1
   local h = headers[tok_i]
   if not h then
      h = { ["X-Auth-Token"] = tokens[tok_i] }
      headers[tok_i] = h
   end
   return wrk.format("GET", opts.path or "/users/me/items", h)
end
