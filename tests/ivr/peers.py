"""The loopback SIP/RTP peers the ivr tests use live in the product (``ivr.sipp_peers``),
shared with ``deskline demo`` and ``bench/sip_load.py``."""

from ivr.sipp_peers import *  # noqa: F403
