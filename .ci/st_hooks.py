"""schemathesis hooks for .ci/schemathesis: keep the run's own credentials alive.

schemathesis learns identifiers from responses (GET /users lists the admin) and may then disable or
delete the admin, or end its session, which is legitimate behaviour that would leave every later
request a 401. Writes aimed at the admin's user, session or token are sent to a random uuid instead.
"""

import os
import uuid

import schemathesis

OWN = {
    "user_uuid": os.environ["ST_ADMIN_UUID"].lower(),
    "session_uuid": os.environ["ST_ADMIN_SESSION"].lower(),
    "token": os.environ["ST_ADMIN_TOKEN"].lower(),
}


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() in ("GET", "HEAD") or not case.path_parameters:
        return
    for name, own in OWN.items():
        if str(case.path_parameters.get(name, "")).lower() == own:
            case.path_parameters[name] = str(uuid.uuid4())
