-- POST {prefix}/token with HTTP Basic credentials: the password grant (one Argon2id verification each).
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")
init = common_init
request = login_request
