"""Generated sites shared by the risk-model tests (deterministic, built once per session)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits

from models.risk.examples import Examples, alarm_examples
from models.risk.synthetic import SyntheticSite, generate_site


@pytest.fixture(scope="session")
def site() -> SyntheticSite:
    """One site's eight-hour shift: ~110 alarms, ~330,000 readings."""
    return generate_site("site-a", seed=0)


@pytest.fixture(scope="session")
def training_sites() -> SyntheticSite:
    return SyntheticSite.merge([generate_site("site-a", seed=0), generate_site("site-b", seed=1)])


@pytest.fixture(scope="session")
def training(training_sites: SyntheticSite) -> Examples:
    """Alarm-real examples of two sites (~190 rows, both classes about even)."""
    s = training_sites
    return alarm_examples(s.alarms, s.verdicts, s.readings, s.roster, s.site_of)


@pytest.fixture(scope="session")
def holdout() -> Examples:
    """Alarm-real examples of two other sites, never trained on."""
    s = SyntheticSite.merge([generate_site("site-c", seed=2), generate_site("site-d", seed=3)])
    return alarm_examples(s.alarms, s.verdicts, s.readings, s.roster, s.site_of)



@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread() -> Iterator[None]:
    """Matrices of a few hundred rows gain nothing from BLAS threads, and on two shared cores
    their spinning makes a 6 ms logistic-regression fit take 90 ms."""
    with threadpool_limits(limits=1):
        yield

