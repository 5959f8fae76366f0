-- The OAuth2 face, at Tessera's root (not under the API prefix). Script arguments, besides common.lua's:
--   clients=FILE  one base64(client_id:client_secret) per line, for HTTP Basic (rotated over)
--   mode=token       POST /oauth2/token grant_type=client_credentials (the client's whole ceiling)
--   mode=introspect  POST /oauth2/introspect token=<one of tokens=FILE>, as a client
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

local clients = {}
local client_i = 0
local client_headers = {}

function init(args)
   common_init(args)
   local f = assert(io.open(opts.clients, "r"))
   for line in f:lines() do
      if #line > 0 then clients[#clients + 1] = line end
   end
   f:close()
   client_i = math.random(#clients)
end

local function headers()
   client_i = client_i % #clients + 1
   local h = client_headers[client_i]
   if not h then
      h = { ["Content-Type"] = "application/x-www-form-urlencoded",
            ["Authorization"] = "Basic " .. clients[client_i] }
      client_headers[client_i] = h
   end
   return h
end

function request()
   if opts.mode == "introspect" then
      tok_i = tok_i % #tokens + 1
      return wrk.format("POST", "/oauth2/introspect", headers(), "token=" .. tokens[tok_i])
   end
   return wrk.format("POST", "/oauth2/token", headers(), "grant_type=client_credentials")
end
