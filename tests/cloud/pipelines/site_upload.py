"""A generated site's history sent to the test harness's cloud like its edge devices send it: the harness's
admin token and session bound to :func:`edge_runtime.sim.site_history.upload` (registered devices, a
heartbeat with the roster, and signed batches of alarms, verdicts and readings through the real ingest)."""
from __future__ import annotations

from edge_runtime.sim.site_history import Fleet
from edge_runtime.sim.site_history import upload as upload_site
from models.risk.synthetic import SyntheticSite
from tests.cloud.test_service_harness import PROFILE, Cloud


async def upload(cloud: Cloud, site: SyntheticSite, fleet: Fleet | None = None) -> Fleet:
    """Sends ``site`` (registering its devices unless ``fleet`` knows them already, as when sending more)."""
    return await upload_site(cloud.http, cloud.url, cloud.token, site, PROFILE, fleet)
