-- POST {prefix}/token {refresh_token, client_id}: the refresh-token grant, rotating over refresh tokens.
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")
init = common_init
request = refresh_request
