"""Actions: what a source does with a verified event besides forwarding it.

`InboundWebhook` is what a Python action receives; import it for type hints:

    from tidings.ingest.actions import InboundWebhook

    def on_payment(event: InboundWebhook) -> str: ...
"""

from tidings.ingest.actions.base import Action, Limits
from tidings.ingest.actions.event import InboundWebhook

__all__ = ["Action", "InboundWebhook", "Limits"]
