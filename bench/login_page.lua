-- A sign-in through the OAuth2 login page: POST /oauth2/authorize with the page's form (one Argon2id
-- verification each), for a client whose consent is implicit, answered 303 to its redirect URI with a code.
-- Script arguments, besides common.lua's:
--   page=FILE  line 1: the browser's cookie ("name=value"); line 2: the form's fields, urlencoded, CSRF
--              token included, without username and password
-- The users are the `auths=FILE` ones (base64 of login:password), rotated over.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")

OK_UP_TO = 399

local cookie, fields

local function urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
   common_init(args)
   local f = assert(io.open(opts.page, "r"))
   cookie = f:read("*l")
   fields = f:read("*l")
   f:close()
end

-- The auths file holds base64 of "login:password" (for Basic); the form wants them in clear.
local b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(data)
   data = data:gsub("[^" .. b64 .. "=]", "")
   return (data:gsub(".", function(x)
      if x == "=" then return "" end
      local r, f = "", (b64:find(x) - 1)
      for i = 6, 1, -1 do r = r .. (f % 2 ^ i - f % 2 ^ (i - 1) > 0 and "1" or "0") end
      return r
   end):gsub("%d%d?%d?%d?%d?%d?%d?%d?", function(x)
      if #x ~= 8 then return "" end
      local c = 0
      for i = 1, 8 do c = c + (x:sub(i, i) == "1" and 2 ^ (8 - i) or 0) end
      return string.char(c)
   end))
end

local bodies = {}

function request()
   auth_i = auth_i % #auths + 1
   local body = bodies[auth_i]
   if not body then
      local login, password = unbase64(auths[auth_i]):match("^([^:]*):(.*)$")
      body = fields .. "&username=" .. urlencode(login) .. "&password=" .. urlencode(password)
      bodies[auth_i] = body
   end
   return wrk.format("POST", "/oauth2/authorize",
      { ["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = cookie }, body)
end
