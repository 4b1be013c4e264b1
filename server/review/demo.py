"""Demo rows of the review domain: nothing that needs the network.

The demo has no webhook endpoint (a placeholder URL would only fill the delivery log with
failures) and no alerts of its own; ``flask --app server drift-demo`` drives batch LOT-A
through a drift scenario on demand.
"""
from __future__ import annotations


def seed_demo_extras() -> None:
    """Nothing to add: alerts come from analysed photos (see ``drift-demo``)."""
