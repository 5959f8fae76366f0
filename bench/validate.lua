-- HEAD {prefix}/token/{t} rotating over many tokens (GET with ?scope= when scope= is given).
dofile(debug.getinfo(1, "S").source:sub(2):match("^(.*/)") .. "common.lua")
init = common_init
request = validate_request
