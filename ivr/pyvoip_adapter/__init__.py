"""Deskline's SIP transport: pyVoIP 1.6.8 wrapped, with its measured defects fixed.

Public API: ``SipUserAgent`` (answers and places calls), ``InboundLeg``/``OutboundLeg``
(one side of a call: ``answer()``, ``hangup()``, ``read_frame()``, ``write()``,
``flush_output()``, ``state``, ``remote_uri``, ``dtmf``, ``ended``). See ``ivr/README.md``
for the defect list and where each fix lives.
"""

from .agent import AGENT_STOPPING, RegistrationError, SipUserAgent
from .legs import InboundLeg, Leg, LegState, LegStateError, OutboundLeg
from .media import FRAME_SAMPLES, SAMPLE_RATE
from .messages import MalformedSipError

__all__ = [
    "AGENT_STOPPING",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "InboundLeg",
    "Leg",
    "LegState",
    "LegStateError",
    "MalformedSipError",
    "OutboundLeg",
    "RegistrationError",
    "SipUserAgent",
]
