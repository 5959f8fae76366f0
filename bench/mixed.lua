-- 90% HEAD validation, 9% refresh grant, 1% password login, chosen at random per request.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")
init = common_init
function request()
   local r = math.random()
   if r < 0.90 then return validate_request() end
   if r < 0.99 then return refresh_request() end
   return login_request()
end
