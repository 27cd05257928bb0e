"""The one place in Deskline that imports pyVoIP 1.6.8.

``pyVoIP.VoIP`` must be imported before ``pyVoIP.SIP`` (a circular import otherwise).
Everything else reaches pyVoIP through this module, so swapping the SIP stack means
rewriting ``ivr/pyvoip_adapter`` only.
"""

# ruff: noqa: I001 - the import order below is load-bearing
from __future__ import annotations

import pyVoIP
import pyVoIP.VoIP as VoIP  # must come before pyVoIP.SIP
import pyVoIP.RTP as RTP
import pyVoIP.SIP as SIP

PYVOIP_VERSION = pyVoIP.__version__

__all__ = ["PYVOIP_VERSION", "RTP", "SIP", "VoIP", "pyVoIP"]
