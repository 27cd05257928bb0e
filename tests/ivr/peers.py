"""The loopback SIP/RTP peers the ivr tests use live in the product (``ivr.sipp_peers``),
shared with ``deskline demo`` and ``bench/sip_load.py``."""

from ivr.sipp_peers import *  # noqa: F403
from ivr.sipp_peers import CALLER_SCENARIO

# A caller who answers the hotline's BYE instead of hanging up itself: {middle} is what it
# does once the call is up (nothing at all, for the silent caller).
CALLER_AWAITING_BYE = CALLER_SCENARIO.split("{middle}")[0] + """{middle}
  <recv request="BYE" timeout="40000"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
]]></send>
</scenario>
"""
